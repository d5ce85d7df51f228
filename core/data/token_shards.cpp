// Token shard writer (streamed, checksummed, renamed into place), mmap reader, manifest.json.
#include "core/data/token_shards.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <nlohmann/json.hpp>

#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/base/error.h"

namespace retort::core {

static_assert(std::endian::native == std::endian::little, "token shards are little-endian");

namespace {

std::string fmt_hash(uint64_t h) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

uint64_t parse_hash(const std::string& text, const std::string& what) {
  if (text.size() != 16 || text.find_first_not_of("0123456789abcdef") != std::string::npos)
    RETORT_INPUT_ERROR(what + ": tokenizer_hash '" + text + "' is not 16 hex digits");
  return std::stoull(text, nullptr, 16);
}

}  // namespace

uint32_t token_id_bytes(int64_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

struct TokenShardWriter::State {
  std::FILE* file = nullptr;
  XXH3_state_t* hash = XXH3_createState();
  std::vector<uint8_t> buffer;
  ~State() {
    if (file) std::fclose(file);
    XXH3_freeState(hash);
  }
};

TokenShardWriter::TokenShardWriter(std::string path, int64_t vocab_size, uint64_t tokenizer_hash)
    : path_(std::move(path)), state_(std::make_unique<State>()) {
  if (vocab_size <= 0 || vocab_size > (int64_t{1} << 31)) RETORT_INPUT_ERROR(path_ + ": bad vocabulary size " + std::to_string(vocab_size));
  std::memcpy(header_.magic, kTokenShardMagic, 8);
  header_.version = kTokenShardVersion;
  header_.id_bytes = token_id_bytes(vocab_size);
  header_.vocab_size = static_cast<uint64_t>(vocab_size);
  header_.tokenizer_hash = tokenizer_hash;
  state_->file = std::fopen((path_ + ".tmp").c_str(), "wb");
  if (!state_->file) RETORT_RUNTIME_ERROR(path_ + ".tmp: cannot create (" + std::strerror(errno) + ")");
  XXH3_64bits_reset(state_->hash);
  if (std::fwrite(&header_, sizeof header_, 1, state_->file) != 1) RETORT_RUNTIME_ERROR(path_ + ".tmp: write failed");
}

TokenShardWriter::~TokenShardWriter() {
  if (state_ && state_->file) {  // never finished: leave nothing behind
    std::fclose(state_->file);
    state_->file = nullptr;
    std::remove((path_ + ".tmp").c_str());
  }
}

void TokenShardWriter::append_document(std::span<const int32_t> ids) {
  RETORT_CHECK(state_->file, path_ + " is already finished");
  auto& buf = state_->buffer;
  buf.resize(ids.size() * header_.id_bytes);
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto id = static_cast<uint32_t>(ids[i]);
    RETORT_CHECK(ids[i] >= 0 && id < header_.vocab_size, "token id " + std::to_string(ids[i]) + " outside the vocabulary");
    if (header_.id_bytes == 2) {
      const auto v = static_cast<uint16_t>(id);
      std::memcpy(buf.data() + 2 * i, &v, 2);
    } else {
      std::memcpy(buf.data() + 4 * i, &id, 4);
    }
  }
  if (!buf.empty() && std::fwrite(buf.data(), 1, buf.size(), state_->file) != buf.size())
    RETORT_RUNTIME_ERROR(path_ + ".tmp: write failed (" + std::strerror(errno) + ")");
  XXH3_64bits_update(state_->hash, buf.data(), buf.size());
  header_.token_count += ids.size();
  header_.document_count += 1;
}

void TokenShardWriter::finish() {
  header_.payload_checksum = XXH3_64bits_digest(state_->hash);
  std::FILE* f = state_->file;
  state_->file = nullptr;
  const bool ok = std::fseek(f, 0, SEEK_SET) == 0 && std::fwrite(&header_, sizeof header_, 1, f) == 1 &&
                  std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) RETORT_RUNTIME_ERROR(path_ + ".tmp: write failed (" + std::strerror(errno) + ")");
  if (std::rename((path_ + ".tmp").c_str(), path_.c_str()) != 0)
    RETORT_RUNTIME_ERROR(path_ + ": rename failed (" + std::strerror(errno) + ")");
}

struct TokenShard::Mapping {
  void* data = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (data != MAP_FAILED) ::munmap(data, size);
  }
};

TokenShard TokenShard::open(const std::string& path, const TokenShardExpect& expect) {
  TokenShard shard;
  shard.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) RETORT_INPUT_ERROR(path + ": cannot open token shard (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    RETORT_INPUT_ERROR(path + ": cannot stat token shard");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < sizeof(TokenShardHeader)) {
    ::close(fd);
    RETORT_INPUT_ERROR(path + ": truncated token shard (" + std::to_string(size) + " bytes, header is 64)");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = size;
  mapping->data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping->data == MAP_FAILED) RETORT_RUNTIME_ERROR(path + ": mmap failed (" + std::strerror(errno) + ")");
  const auto* bytes = static_cast<const uint8_t*>(mapping->data);
  TokenShardHeader& h = shard.header_;
  std::memcpy(&h, bytes, sizeof h);
  if (std::memcmp(h.magic, kTokenShardMagic, 8) != 0) RETORT_INPUT_ERROR(path + ": not a token shard (wrong magic)");
  if (h.version != kTokenShardVersion)
    RETORT_INPUT_ERROR(path + ": token shard version " + std::to_string(h.version) + " is not supported (expected " +
                       std::to_string(kTokenShardVersion) + ")");
  if (h.vocab_size == 0 || h.vocab_size > (uint64_t{1} << 31) || h.id_bytes != token_id_bytes(static_cast<int64_t>(h.vocab_size)) ||
      h.reserved != 0)
    RETORT_INPUT_ERROR(path + ": corrupt token shard header (id width " + std::to_string(h.id_bytes) + ", vocabulary " +
                       std::to_string(h.vocab_size) + ")");
  const uint64_t payload = size - sizeof h;
  if (h.token_count > payload / h.id_bytes || h.token_count * h.id_bytes != payload)
    RETORT_INPUT_ERROR(path + ": truncated token shard (header says " + std::to_string(h.token_count) + " tokens, file holds " +
                       std::to_string(payload / h.id_bytes) + ")");
  if (XXH3_64bits(bytes + sizeof h, payload) != h.payload_checksum)
    RETORT_INPUT_ERROR(path + ": token shard checksum mismatch (corrupt payload)");
  if (expect.vocab_size && static_cast<uint64_t>(*expect.vocab_size) != h.vocab_size)
    RETORT_INPUT_ERROR(path + ": token shard vocabulary size " + std::to_string(h.vocab_size) + " does not match the expected " +
                       std::to_string(*expect.vocab_size));
  if (expect.tokenizer_hash && *expect.tokenizer_hash != h.tokenizer_hash)
    RETORT_INPUT_ERROR(path + ": token shard was made with another tokenizer (hash " + fmt_hash(h.tokenizer_hash) +
                       ", expected " + fmt_hash(*expect.tokenizer_hash) + ")");
  shard.payload_ = bytes + sizeof h;
  shard.mapping_ = std::move(mapping);
  return shard;
}

void TokenShard::copy(int64_t begin, int64_t count, int32_t* out) const {
  RETORT_CHECK(begin >= 0 && count >= 0 && begin + count <= tokens(), path_ + ": token range out of bounds");
  if (header_.id_bytes == 2) {
    const uint8_t* p = payload_ + 2 * begin;
    for (int64_t i = 0; i < count; ++i) {
      uint16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      out[i] = v;
    }
  } else {
    std::memcpy(out, payload_ + 4 * begin, static_cast<size_t>(count) * 4);
  }
}

void write_token_manifest(const std::string& dir, const TokenShardManifest& m) {
  const auto split_json = [](const TokenSplitManifest& s) {
    return nlohmann::json{{"shards", s.shards}, {"tokens", s.tokens}, {"documents", s.documents}};
  };
  const nlohmann::json j{{"format", "retort token shards"},
                         {"version", kTokenShardVersion},
                         {"tokenizer", m.tokenizer},
                         {"tokenizer_hash", fmt_hash(m.tokenizer_hash)},
                         {"vocab_size", m.vocab_size},
                         {"separator_id", m.separator_id},
                         {"seed", m.seed},
                         {"val_fraction", m.val_fraction},
                         {"splits", {{"train", split_json(m.train)}, {"val", split_json(m.val)}}}};
  const std::string path = (std::filesystem::path(dir) / "manifest.json").string();
  std::ofstream out(path + ".tmp");
  out << j.dump(2) << "\n";
  out.close();
  if (!out || std::rename((path + ".tmp").c_str(), path.c_str()) != 0) RETORT_RUNTIME_ERROR(path + ": write failed");
}

TokenShardManifest read_token_manifest(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "manifest.json").string();
  std::ifstream in(path);
  if (!in) RETORT_INPUT_ERROR(path + ": cannot open (not a token shard directory?)");
  TokenShardManifest m;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    if (j.at("format") != "retort token shards") RETORT_INPUT_ERROR(path + ": not a token shard manifest");
    if (j.at("version") != kTokenShardVersion)
      RETORT_INPUT_ERROR(path + ": manifest version " + j.at("version").dump() + " is not supported");
    m.tokenizer = j.at("tokenizer");
    m.tokenizer_hash = parse_hash(j.at("tokenizer_hash"), path);
    m.vocab_size = j.at("vocab_size");
    m.separator_id = j.at("separator_id");
    m.seed = j.at("seed");
    m.val_fraction = j.at("val_fraction");
    for (auto [name, split] : {std::pair<const char*, TokenSplitManifest*>{"train", &m.train}, {"val", &m.val}}) {
      const nlohmann::json& s = j.at("splits").at(name);
      split->shards = s.at("shards").get<std::vector<std::string>>();
      split->tokens = s.at("tokens");
      split->documents = s.at("documents");
    }
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(path + ": malformed manifest (" + std::string(e.what()) + ")");
  }
  return m;
}

std::vector<TokenShard> open_token_split(const std::string& dir, const std::string& split, const TokenShardExpect& expect) {
  if (split != "train" && split != "val") RETORT_INPUT_ERROR("token split '" + split + "' is neither train nor val");
  const TokenShardManifest m = read_token_manifest(dir);
  const TokenSplitManifest& s = split == "train" ? m.train : m.val;
  TokenShardExpect want = expect;
  if (want.vocab_size && *want.vocab_size != m.vocab_size)
    RETORT_INPUT_ERROR(dir + "/manifest.json: vocabulary size " + std::to_string(m.vocab_size) + " does not match the expected " +
                       std::to_string(*want.vocab_size));
  if (want.tokenizer_hash && *want.tokenizer_hash != m.tokenizer_hash)
    RETORT_INPUT_ERROR(dir + "/manifest.json: made with another tokenizer (hash " + fmt_hash(m.tokenizer_hash) + ", expected " +
                       fmt_hash(*want.tokenizer_hash) + ")");
  want.vocab_size = m.vocab_size;
  want.tokenizer_hash = m.tokenizer_hash;
  std::vector<TokenShard> shards;
  int64_t tokens = 0, documents = 0;
  for (const std::string& name : s.shards) {
    if (name.find('/') != std::string::npos) RETORT_INPUT_ERROR(dir + "/manifest.json: shard name '" + name + "' is not a file name");
    shards.push_back(TokenShard::open((std::filesystem::path(dir) / name).string(), want));
    tokens += shards.back().tokens();
    documents += static_cast<int64_t>(shards.back().header().document_count);
  }
  if (tokens != s.tokens || documents != s.documents)
    RETORT_INPUT_ERROR(dir + "/manifest.json: split " + split + " lists " + std::to_string(s.tokens) + " tokens in " +
                       std::to_string(s.documents) + " documents, its shards hold " + std::to_string(tokens) + " in " +
                       std::to_string(documents));
  return shards;
}

}  // namespace retort::core
