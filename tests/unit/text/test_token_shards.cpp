// Token shards: the header and payload as written, uint16/uint32 widths, the manifest, and
// each malformation (truncated, wrong magic, version, checksum, vocabulary or tokenizer
// mismatch) as an input error naming the file.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/base/error.h"
#include "core/data/token_shards.h"
#include "tests/unit/text/error_message.h"

using namespace retort::core;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("retort-shards-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string write_shard(const fs::path& path, int64_t vocab, uint64_t hash, const std::vector<std::vector<int32_t>>& docs) {
  TokenShardWriter w(path.string(), vocab, hash);
  for (const auto& d : docs) w.append_document(d);
  w.finish();
  return path.string();
}

std::string open_error(const std::string& path, const TokenShardExpect& expect = {}) {
  try {
    TokenShard::open(path, expect);
  } catch (const retort::Error& e) {
    CHECK(e.kind() == retort::ErrorKind::input);
    return e.message();
  }
  return "(no error)";
}

void patch(const std::string& path, long offset, const void* bytes, size_t n) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(offset);
  f.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(n));
}

}  // namespace

TEST_CASE("a shard holds its header and ids, uint16 or uint32 by vocabulary") {
  TempDir dir;
  for (const int64_t vocab : {int64_t{65536}, int64_t{65537}}) {
    const std::vector<std::vector<int32_t>> docs{{1, 2, 3}, {}, {static_cast<int32_t>(vocab - 1), 0}};
    const std::string path = write_shard(dir.path / "s.tok", vocab, 0xABCDEF, docs);
    CHECK_FALSE(fs::exists(path + ".tmp"));
    const uint64_t id_bytes = vocab <= 65536 ? 2 : 4;
    CHECK(fs::file_size(path) == 64 + 5 * id_bytes);
    const TokenShard s = TokenShard::open(path, {vocab, 0xABCDEF});
    CHECK(s.header().id_bytes == id_bytes);
    CHECK(s.header().document_count == 3);
    CHECK(s.tokens() == 5);
    std::vector<int32_t> out(5);
    s.copy(0, 5, out.data());
    CHECK(out == std::vector<int32_t>{1, 2, 3, static_cast<int32_t>(vocab - 1), 0});
  }
}

TEST_CASE("malformed shards are input errors naming the file") {
  TempDir dir;
  const std::string path = write_shard(dir.path / "s.tok", 1000, 42, {{1, 2, 3, 4}});
  const std::string copy = (dir.path / "c.tok").string();
  const auto fresh = [&] { fs::copy_file(path, copy, fs::copy_options::overwrite_existing); };

  CHECK(open_error(path, {1001, std::nullopt}) == path + ": token shard vocabulary size 1000 does not match the expected 1001");
  CHECK(open_error(path, {std::nullopt, 43}) ==
        path + ": token shard was made with another tokenizer (hash 000000000000002a, expected 000000000000002b)");
  fresh();
  fs::resize_file(copy, 64 + 6);
  CHECK(open_error(copy) == copy + ": truncated token shard (header says 4 tokens, file holds 3)");
  fs::resize_file(copy, 10);
  CHECK(open_error(copy) == copy + ": truncated token shard (10 bytes, header is 64)");
  fresh();
  patch(copy, 0, "NOTTOKEN", 8);
  CHECK(open_error(copy) == copy + ": not a token shard (wrong magic)");
  fresh();
  const uint32_t v2 = 2;
  patch(copy, 8, &v2, 4);
  CHECK(open_error(copy) == copy + ": token shard version 2 is not supported (expected 1)");
  fresh();
  const uint16_t other = 7;
  patch(copy, 64 + 2, &other, 2);
  CHECK(open_error(copy) == copy + ": token shard checksum mismatch (corrupt payload)");
  CHECK(open_error((dir.path / "missing.tok").string()).starts_with((dir.path / "missing.tok").string() + ": cannot open token shard"));
}

TEST_CASE("manifest lists the splits; open_token_split checks it against the shards") {
  TempDir dir;
  TokenShardManifest m;
  m.tokenizer = "tok.json";
  m.tokenizer_hash = 0x0123456789abcdefULL;
  m.vocab_size = 500;
  m.separator_id = 7;
  m.seed = 3;
  m.val_fraction = 0.25;
  write_shard(dir.path / "train-00000.tok", 500, m.tokenizer_hash, {{1, 2, 7}, {3, 7}});
  write_shard(dir.path / "train-00001.tok", 500, m.tokenizer_hash, {{4, 7}});
  m.train = {{"train-00000.tok", "train-00001.tok"}, 7, 3};
  write_token_manifest(dir.path.string(), m);
  const TokenShardManifest back = read_token_manifest(dir.path.string());
  CHECK(back.tokenizer_hash == m.tokenizer_hash);
  CHECK(back.separator_id == 7);
  CHECK(back.train.shards == m.train.shards);
  CHECK(back.val.shards.empty());
  CHECK(open_token_split(dir.path.string(), "train").size() == 2);
  CHECK(open_token_split(dir.path.string(), "val").empty());

  m.train.tokens = 8;
  write_token_manifest(dir.path.string(), m);
  CHECK(error_message([&] { open_token_split(dir.path.string(), "train"); }) ==
        dir.path.string() + "/manifest.json: split train lists 8 tokens in 3 documents, its shards hold 7 in 3");
  m.train.tokens = 7;
  write_token_manifest(dir.path.string(), m);
  CHECK(error_message([&] { open_token_split(dir.path.string(), "train", {std::nullopt, 1}); }) ==
        dir.path.string() + "/manifest.json: made with another tokenizer (hash 0123456789abcdef, expected 0000000000000001)");
  write_shard(dir.path / "train-00001.tok", 500, 99, {{4, 7}});  // a shard of another tokenizer
  CHECK_THROWS_WITH(open_token_split(dir.path.string(), "train"),
                    Catch::Contains("train-00001.tok: token shard was made with another tokenizer"));
  std::ofstream(dir.path / "manifest.json") << "{\"format\": 1";
  CHECK_THROWS_WITH(read_token_manifest(dir.path.string()), Catch::StartsWith(dir.path.string() + "/manifest.json: malformed manifest"));
}
