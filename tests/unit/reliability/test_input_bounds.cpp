// Headers must not drive allocations or reads: an edited logits-cache index, IDX dimensions
// beyond the file, a checkpoint spec larger than its weights, /dev/zero given to inspect. Each
// is an input error (exit 2) naming the file, with memory bounded by the file's real size.
#include <catch2/catch.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/base/error.h"
#include "core/base/json_int.h"
#include "core/checkpoint/checkpoint.h"
#include "core/data/idx.h"
#include "core/distill/logits_cache.h"
#include "core/lm/hf_config.h"
#include "core/lm/llama_config.h"
#include "core/model/model.h"
#include "core/train/inspect.h"

using namespace retort;
using namespace retort::core;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("retort-bounds-" + std::to_string(std::random_device{}()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

long peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

// `fn` must throw an input error whose message contains `text`.
template <typename Fn>
void expect_input_error(Fn&& fn, const std::string& text) {
  try {
    fn();
    FAIL("no error; expected one containing: " << text);
  } catch (const Error& e) {
    INFO(e.message());
    CHECK(e.kind() == ErrorKind::input);
    CHECK_THAT(e.message(), Catch::Contains(text));
  }
}

// A dense fp32 cache of `samples` rows of vocab 3 in shards of `shard_rows`.
CacheSpec write_cache(const fs::path& dir, int64_t samples, int64_t shard_rows) {
  CacheSpec spec;
  spec.samples = samples;
  spec.vocab = 3;
  spec.shard_rows = shard_rows;
  spec.data_fingerprint = "d";
  spec.teacher_fingerprint = "t";
  std::vector<nlohmann::json> entries;
  for (int64_t s = 0; s < shard_count(spec); ++s) {
    const int64_t rows = std::min(shard_rows, samples - s * shard_rows);
    std::vector<float> logits(static_cast<size_t>(rows * 3), 0.5f);
    EncodedLogits part;
    part.encode(logits.data(), rows, 3, {0, DType::f32, 1.0f});
    entries.push_back(write_shard(dir.string(), spec, s, part));
  }
  write_cache_index(dir.string(), spec, entries);
  return spec;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}
void write_text(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }
}  // namespace

TEST_CASE("an edited shard_rows in a cache index is refused before any row is read", "[cache]") {
  TempDir dir;
  const CacheSpec spec = write_cache(dir.path, 8, 4);  // shards [0,4) and [4,8)
  const fs::path index = dir.path / "index.json";
  auto edited = read_json(index);
  edited["spec"]["shard_rows"] = 7;  // still two shards, but rows 4..6 would be read from shard 0
  write_text(index, edited.dump());
  CacheSpec expected = spec;
  expected.shard_rows = 7;
  expect_input_error([&] { LogitsCacheReader(dir.path.string(), expected); },
                     "index.json: shards[0]: holds rows [0, +4), but spec.shard_rows = 7 puts rows [0, +7) there");
  edited["spec"]["shard_rows"] = 3;  // three shards, two listed
  write_text(index, edited.dump());
  expect_input_error([&] { LogitsCacheReader(dir.path.string(), spec); }, "index.json: lists 2 shards, expected 3");
}

TEST_CASE("structural cache index errors name the file and the field", "[cache]") {
  TempDir dir;
  const CacheSpec spec = write_cache(dir.path, 8, 4);
  const fs::path index = dir.path / "index.json";
  const auto good = read_json(index);
  auto check = [&](nlohmann::json edited, const std::string& text) {
    write_text(index, edited.dump());
    expect_input_error([&] { LogitsCacheReader(dir.path.string(), spec); }, text);
    expect_input_error([&] { describe_cache(index.string()); }, text);
  };
  auto j = good;
  j["spec"]["samples"] = "eight";
  check(j, "index.json: spec: field \"samples\" is not a number");
  j = good;
  j["spec"]["samples"] = 1.5e72;  // a float too large for int64_t: undefined behaviour to convert
  check(j, "index.json: spec: field \"samples\" is not an integer below 2^63 (1.5e+72)");
  j = good;
  j["shards"][0]["bytes"] = UINT64_MAX;
  check(j, "index.json: shards[0]: field \"bytes\" is not an integer below 2^63 (18446744073709551615)");
  j = good;
  j["spec"].erase("vocab");
  check(j, "index.json: spec: field \"vocab\" is missing");
  j = good;
  j["shards"] = 3;
  check(j, "index.json: field \"shards\" is missing or not a list");
  j = good;
  j["shards"][1] = "shard";
  check(j, "index.json: shards[1]: field \"file\" is missing");
  j = good;
  j["shards"][1]["file"] = "../../etc/passwd";
  check(j, "index.json: shards[1]: file '../../etc/passwd' is not a file name in the cache directory");
  j = good;
  j["spec"]["dtype"] = "u32";
  check(j, "index.json: spec: dtype 'u32' is not fp32 or bf16");
  j = good;
  j["spec"]["vocab"] = int64_t{1} << 40;
  check(j, "index.json: cache description has impossible sizes");
  j = good;
  j["version"] = "1";
  check(j, "cache version \"1\" is not supported");
  write_text(index, "[1, 2");
  expect_input_error([&] { LogitsCacheReader(dir.path.string(), spec); }, "index.json: not valid JSON");
  write_text(index, "[1, 2]");
  expect_input_error([&] { LogitsCacheReader(dir.path.string(), spec); }, "index.json: not a Retort logits cache index");
}

TEST_CASE("IDX dimensions are checked against the file before the data is allocated", "[idx]") {
  TempDir dir;
  auto header = [](std::vector<uint32_t> dims) {
    std::string b = {0, 0, 8, static_cast<char>(dims.size())};
    for (uint32_t d : dims)
      for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>(d >> s));
    return b;
  };
  const fs::path f = dir.path / "images.idx";
  // [2^28, 8, 8]: 16 GiB promised by a 1 KB file.
  write_text(f, header({1u << 28, 8, 8}) + std::string(1000, 'x'));
  expect_input_error([&] { read_idx(f.string(), 3); }, "images.idx: IDX array of");
  // [2^20, 28, 28]: 822 MB promised, under the limit; the 1 KB file is refused as truncated
  // having allocated about what it holds.
  write_text(f, header({1u << 20, 28, 28}) + std::string(1000, 'x'));
  const long before = peak_rss_mb();
  expect_input_error([&] { read_idx(f.string(), 3); }, "images.idx: truncated: header promises 822083584 data bytes, file has 1000");
  CHECK(peak_rss_mb() - before < 64);
  // A whole, small file still reads.
  write_text(f, header({2, 2, 2}) + std::string(8, '\x07'));
  CHECK(read_idx(f.string(), 3).data == std::vector<uint8_t>(8, 7));
}

TEST_CASE("a weights file whose spec promises more weights than it holds is refused before allocation", "[checkpoint]") {
  TempDir dir;
  ModelSpec small;
  small.config.hidden = {4};
  small.in_features = 784;
  small.classes = 10;
  Model model(small);
  const fs::path file = dir.path / "w.safetensors";
  save_model(model, file.string());
  CHECK(load_model(file.string())->params().size() == model.params().size());
  CHECK(parameter_count(small) == 784 * 4 + 4 + 4 * 10 + 10);

  // The same tensors with the spec edited to hidden: [400000].
  ModelSpec big = small;
  big.config.hidden = {400000};
  std::vector<NamedTensor> tensors;
  const auto params = model.params();
  for (const ParamTensor& t : model.layout().tensors())
    tensors.push_back({t.name, t.shape, params.subspan(static_cast<size_t>(t.offset), static_cast<size_t>(t.numel))});
  const auto bytes = encode_safetensors(tensors, {{"retort.format", "retort-checkpoint-1"}, {"retort.model", to_json(big).dump()}});
  std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  const long before = peak_rss_mb();
  expect_input_error([&] { load_model(file.string()); }, "w.safetensors: holds 3190 weights, but its model spec describes 318000010");
  CHECK(peak_rss_mb() - before < 64);

  ModelSpec wide = small;
  wide.config.hidden = {int64_t{1} << 25};
  expect_input_error([&] { validate(wide, "spec"); }, "spec: a layer wider than 16777216 is not supported");
  ModelSpec huge = small;
  huge.config.hidden = {1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20};
  expect_input_error([&] { validate(huge, "spec"); }, "parameters exceed the limit of 4294967296");
}

TEST_CASE("inspect refuses what is not a regular file, and a directory without a manifest is named", "[inspect]") {
  std::ostringstream out;
  expect_input_error([&] { inspect_checkpoint("/dev/zero", out); }, "/dev/zero: not a regular file");
  TempDir dir;
  expect_input_error([&] { load_model(dir.path.string()); }, "without manifest.json is not a checkpoint");
}

TEST_CASE("JSON integers: a float past int64, or an unsigned past INT64_MAX, is an error", "[reliability][json]") {
  // nlohmann::json's get<int64_t>() of such values is undefined behaviour (a long-fuzz finding).
  CHECK(json_int64(nlohmann::json(5)) == 5);
  CHECK(json_int64(nlohmann::json(-7)) == -7);
  CHECK(json_int64(nlohmann::json(8.0)) == 8);
  CHECK(json_int64(nlohmann::json(INT64_MAX)) == INT64_MAX);
  CHECK(json_int64(nlohmann::json(-9223372036854775808.0)) == INT64_MIN);
  for (const nlohmann::json& bad : {nlohmann::json(1.5e72), nlohmann::json(-1e19), nlohmann::json(9223372036854775808.0),
                                    nlohmann::json(UINT64_MAX), nlohmann::json(2.5), nlohmann::json("8"),
                                    nlohmann::json(std::nan("")), nlohmann::json::array()}) {
    INFO(bad.dump());
    CHECK_THROWS_AS(json_int64(bad), nlohmann::json::type_error);
  }
  CHECK(json_int64_list(nlohmann::json::parse("[1, 2.0, 3]")) == std::vector<int64_t>{1, 2, 3});
  CHECK_THROWS_AS(json_int64_list(nlohmann::json::parse("[1, 1e300]")), nlohmann::json::type_error);
  // Through a reader: a config.json whose hidden_size is 1e72 names the key.
  nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}}, {"hidden_size", 1.5e72},
                           {"intermediate_size", 64},               {"num_hidden_layers", 2},
                           {"num_attention_heads", 4},              {"vocab_size", 100},
                           {"max_position_embeddings", 128}};
  expect_input_error([&] { llama_config_from_hf(config, "config.json"); }, "config.json: key hidden_size:");
  expect_input_error([&] { llama_config_from_hf(config, "config.json"); }, "expected an integer below 2^63, got 1.5e+72");
}
