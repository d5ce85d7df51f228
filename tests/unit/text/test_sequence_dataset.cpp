// Sequence windows: window w = tokens [w·T, w·T + T + 1) of the split's concatenated stream,
// across shard boundaries, against the stream built plainly in the test.
#include <catch2/catch.hpp>

#include <filesystem>

#include <unistd.h>

#include "core/base/error.h"
#include "core/data/sampler.h"
#include "core/data/sequence_dataset.h"
#include "tests/unit/text/error_message.h"

using namespace retort::core;
namespace fs = std::filesystem;

namespace {

struct ShardDir {
  fs::path path = fs::temp_directory_path() / ("retort-seq-" + std::to_string(::getpid()));
  std::vector<int32_t> stream;  // the train split, concatenated
  // Shards of the given lengths (one document each); token i of the stream is (7 i + 3) % 1000.
  explicit ShardDir(const std::vector<int>& lengths) {
    fs::create_directories(path);
    TokenShardManifest m;
    m.vocab_size = 1000;
    m.tokenizer_hash = 5;
    for (size_t s = 0; s < lengths.size(); ++s) {
      std::vector<int32_t> doc;
      for (int i = 0; i < lengths[s]; ++i) {
        doc.push_back(static_cast<int32_t>((7 * stream.size() + 3) % 1000));
        stream.push_back(doc.back());
      }
      const std::string name = "train-0000" + std::to_string(s) + ".tok";
      TokenShardWriter w((path / name).string(), 1000, 5);
      w.append_document(doc);
      w.finish();
      m.train.shards.push_back(name);
      m.train.tokens += lengths[s];
      m.train.documents += 1;
    }
    write_token_manifest(path.string(), m);
  }
  ~ShardDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("windows of T+1 tokens step by T over the concatenated shards") {
  const ShardDir dir({5, 0, 3, 9});  // 17 tokens, an empty shard in between
  for (const int64_t T : {1, 2, 4, 16}) {
    const SequenceDataset data(dir.path.string(), "train", T);
    CHECK(data.num_tokens() == 17);
    CHECK(data.num_windows() == (17 - 1) / T);
    CHECK(data.vocab_size() == 1000);
    std::vector<int64_t> ids;
    for (int64_t w = data.num_windows() - 1; w >= 0; --w) ids.push_back(w);
    std::vector<int32_t> out(ids.size() * static_cast<size_t>(T + 1), -1);
    data.gather(ids, out.data());
    for (size_t r = 0; r < ids.size(); ++r)
      for (int64_t k = 0; k <= T; ++k)
        CHECK(out[r * static_cast<size_t>(T + 1) + static_cast<size_t>(k)] == dir.stream[static_cast<size_t>(ids[r] * T + k)]);
  }
}

TEST_CASE("the sampler permutes window ids and ranks gather their rows") {
  const ShardDir dir({40, 25});
  const SequenceDataset data(dir.path.string(), "train", 8);
  REQUIRE(data.num_windows() == 8);  // (65 - 1) / 8
  const Sampler sampler(11, data.num_windows(), 4);
  std::vector<int32_t> whole(4 * 9), rank0(2 * 9), rank1(2 * 9);
  data.gather(sampler.ids(0, 1, 0, 1), whole.data());
  data.gather(sampler.ids(0, 1, 0, 2), rank0.data());
  data.gather(sampler.ids(0, 1, 1, 2), rank1.data());
  rank0.insert(rank0.end(), rank1.begin(), rank1.end());
  CHECK(rank0 == whole);
}

TEST_CASE("too few tokens, a bad length and a bad window id are refused") {
  const ShardDir dir({4});
  const std::string d = dir.path.string();
  CHECK(error_message([&] { SequenceDataset(d, "train", 4); }) == d + ": split train holds 4 tokens, fewer than one window of 5");
  CHECK(error_message([&] { SequenceDataset(d, "train", 0); }) == "sequence length 0 must be at least 1");
  CHECK(error_message([&] { SequenceDataset(d, "val", 1); }) == d + ": split val holds 0 tokens, fewer than one window of 2");
  const SequenceDataset data(dir.path.string(), "train", 3);
  std::vector<int32_t> out(4);
  const std::vector<int64_t> bad{1};
  CHECK_THROWS_AS(data.gather(bad, out.data()), retort::Error);
}
