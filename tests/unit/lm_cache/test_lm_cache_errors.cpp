// The LM targets cache refuses what it cannot serve: a malformed index.json, truncated, padded
// or corrupted shards (every header byte, body bits caught by the checksums), a cache made for
// another job (both sides named), and targets the format cannot give back bit for bit.
#include <catch2/catch.hpp>

#include <fstream>

#include "core/checkpoint/durable_io.h"
#include "tests/unit/lm_cache/lm_cache_fixture.h"
#include "tests/unit/text/error_message.h"

using namespace retort;
using core::TargetKind;
namespace fs = std::filesystem;

namespace {

struct Written {
  test::TempDir dir;
  core::LmCacheSpec c;
  explicit Written(const core::LmTargetsSpec& t) : c(test::lm_cache_spec(t, 5, 2)) { test::write_lm_cache(dir.str(), c); }
  std::string index() const { return (dir.path / "index.json").string(); }
  std::string shard(int i) const { return (dir.path / core::lm_shard_file_name(i)).string(); }
  // The message of opening the cache with `expected` and reading every window.
  std::string read(const core::LmTargetsSpec& expected, std::string data = "data-fp-1", std::string teacher = "teacher-fp-1") const {
    return error_message([&] {
      core::LmCacheReader reader(dir.str(), expected, data, teacher);
      core::LmTargets out;
      const std::vector<int64_t> ids = {0, 1, 2, 3, 4};
      reader.gather(ids, out);
    });
  }
  std::string read() const { return read(c.targets); }
};

nlohmann::json load_json(const std::string& file) {
  const auto bytes = core::read_file(file);
  return nlohmann::json::parse(bytes.begin(), bytes.end());
}
void save(const std::string& file, const std::string& text) { std::ofstream(file, std::ios::binary | std::ios::trunc) << text; }
void save_bytes(const std::string& file, const std::vector<uint8_t>& b) {
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(b.data()), b.size());
}

const core::LmTargetsSpec kTopk = test::lm_spec(TargetKind::topk, 8, 1000, DType::bf16, 2);
const core::LmTargetsSpec kSampled = test::lm_spec(TargetKind::sampled, 16, 1000, DType::bf16, 2);

}  // namespace

TEST_CASE("lm cache: a valid cache reads without error", "[lm_cache]") {
  for (const auto& t : {kTopk, kSampled}) CHECK(Written(t).read() == "(no error)");
}

TEST_CASE("lm cache: a missing or malformed index.json names the file and the field", "[lm_cache]") {
  Written w(kTopk);
  const nlohmann::json good = load_json(w.index());
  const std::string idx = w.index();
  auto with = [&](auto edit) {
    nlohmann::json j = good;
    edit(j);
    save(idx, j.dump());
    return w.read();
  };
  CHECK_THAT(with([](nlohmann::json& j) { j["format"] = "retort-logits-cache"; }),
             Catch::Contains(idx) && Catch::Contains("not a Retort LM targets cache index"));
  CHECK_THAT(with([](nlohmann::json& j) { j["version"] = 2; }), Catch::Contains("version 2 is not supported"));
  CHECK_THAT(with([](nlohmann::json& j) { j.erase("windows"); }), Catch::Contains(idx) && Catch::Contains("\"windows\""));
  CHECK_THAT(with([](nlohmann::json& j) { j["windows"] = "5"; }), Catch::Contains("\"windows\" is missing or not an integer"));
  CHECK_THAT(with([](nlohmann::json& j) { j["windows"] = 6; }),
             Catch::Contains("shards[2]: holds windows [4, +1), but shard_windows = 2 puts windows [4, +2) there"));
  CHECK_THAT(with([](nlohmann::json& j) { j["windows"] = 7; }), Catch::Contains("lists 3 shards, expected 4"));
  CHECK_THAT(with([](nlohmann::json& j) { j["windows"] = j["shard_windows"] = int64_t{1} << 39; }),
             Catch::Contains("would decode to more than 4 GiB"));
  CHECK_THAT(with([](nlohmann::json& j) { j["spec"]["kind"] = "logits"; }),
             Catch::Contains("spec") && Catch::Contains("kind 'logits'"));
  CHECK_THAT(with([](nlohmann::json& j) { j["spec"]["k"] = 1001; }), Catch::Contains("k 1001 out of range"));
  CHECK_THAT(with([](nlohmann::json& j) { j["spec"]["seed"] = -1; }), Catch::Contains("\"seed\""));
  CHECK_THAT(with([](nlohmann::json& j) { j["spec"]["temperature"] = 0; }), Catch::Contains("temperature 0"));
  CHECK_THAT(with([](nlohmann::json& j) { j["spec"]["tokenizer_hash"] = "xyz"; }), Catch::Contains("tokenizer_hash 'xyz'"));
  CHECK_THAT(with([](nlohmann::json& j) { j["spec"]["dtype"] = "fp16"; }), Catch::Contains("dtype 'fp16'"));
  CHECK_THAT(with([](nlohmann::json& j) { j["shards"][1]["file"] = "../x"; }),
             Catch::Contains("shards[1]") && Catch::Contains("not a file name"));
  CHECK_THAT(with([](nlohmann::json& j) { j["shards"][1]["first"] = 3; }),
             Catch::Contains("shards[1]") && Catch::Contains("puts windows [2, +2)"));
  CHECK_THAT(with([](nlohmann::json& j) { j["shards"][2]["bytes"] = 5.5; }), Catch::Contains("shards[2]: field \"bytes\""));
  CHECK_THAT(with([](nlohmann::json& j) { j["shards"][0]["bytes"] = j["shards"][0]["bytes"].get<int64_t>() + 1; }),
             Catch::Contains(w.shard(0)) && Catch::Contains("index.json lists"));
  CHECK_THAT(with([](nlohmann::json& j) { j["shards"][0]["xxh3"] = "0000000000000000"; }),
             Catch::Contains(w.shard(0)) && Catch::Contains("checksum mismatch"));
  save(idx, "{not json");
  CHECK_THAT(w.read(), Catch::Contains(idx) && Catch::Contains("not valid JSON"));
  fs::remove(idx);
  CHECK_THAT(w.read(), Catch::Contains(idx) && Catch::Contains("does not exist"));
}

TEST_CASE("lm cache: truncated, padded, missing and corrupted shards name the file", "[lm_cache]") {
  for (const auto& t : {kTopk, kSampled}) {
    Written w(t);
    const std::string f = w.shard(1);
    const std::vector<uint8_t> good = core::read_file(f);
    auto with = [&](std::vector<uint8_t> bytes) {
      save_bytes(f, bytes);
      return w.read();
    };
    CHECK_THAT(with({good.begin(), good.end() - 7}), Catch::Contains(f) && Catch::Contains("truncated"));
    auto padded = good;
    padded.push_back(0);
    CHECK_THAT(with(padded), Catch::Contains(f) && Catch::Contains("truncated"));
    CHECK_THAT(with({good.begin(), good.begin() + 20}), Catch::Contains(f));
    // Every header byte: caught by a header check, a size check or a checksum (the index's
    // byte count kept as it is, so only the header differs).
    for (size_t at = 0; at < 128; ++at) {
      auto bad = good;
      bad[at] ^= 0x10;
      INFO("header byte " << at);
      CHECK_THAT(with(bad), Catch::Contains(f));
    }
    // Body bits: the XXH3 of the compressed body.
    for (size_t at : {size_t{128}, good.size() / 2, good.size() - 1}) {
      auto bad = good;
      bad[at] ^= 0x01;
      CHECK_THAT(with(bad), Catch::Contains(f) && Catch::Contains("checksum mismatch"));
    }
    CHECK(with(good) == "(no error)");
    fs::remove(f);
    CHECK_THAT(w.read(), Catch::Contains(f) && Catch::Contains("cannot read"));
  }
}

TEST_CASE("lm cache: a cache made for another job names the field and both sides", "[lm_cache]") {
  Written topk(kTopk), sampled(kSampled);
  auto changed = [](core::LmTargetsSpec s, auto edit) {
    edit(s);
    return s;
  };
  CHECK_THAT(topk.read(changed(kTopk, [](auto& s) { s.temperature = 4; })),
             Catch::Contains(topk.index()) && Catch::Contains("made at temperature 2, this job distills at 4"));
  CHECK_THAT(sampled.read(changed(kSampled, [](auto& s) { s.temperature = 1; })),
             Catch::Contains("made at temperature 2, this job distills at 1"));
  CHECK_THAT(topk.read(changed(kTopk, [](auto& s) { s.k = 16; })), Catch::Contains("k: made with 8, this job distills with 16"));
  CHECK_THAT(sampled.read(changed(kSampled, [](auto& s) { s.k = 64; })),
             Catch::Contains("n (draws per token): made with 16, this job distills with 64"));
  CHECK_THAT(sampled.read(changed(kSampled, [](auto& s) { s.seed = 78; })),
             Catch::Contains("seed: made with 77, this job distills with 78"));
  CHECK(topk.read(changed(kTopk, [](auto& s) { s.seed = 78; })) == "(no error)");  // top-k has no draws
  CHECK_THAT(topk.read(changed(kTopk, [](auto& s) { s.kind = TargetKind::sampled; })),
             Catch::Contains("kind: made with topk, this job distills with sampled"));
  CHECK_THAT(topk.read(changed(kTopk, [](auto& s) { s.vocab = 999; })), Catch::Contains("vocab: made with 1000, this job distills with 999"));
  CHECK_THAT(topk.read(changed(kTopk, [](auto& s) { s.dtype = DType::f32; })), Catch::Contains("dtype: made with bf16, this job distills with fp32"));
  CHECK_THAT(topk.read(changed(kTopk, [](auto& s) { s.seq_len = 4; })), Catch::Contains("seq_len: made with 2, this job distills with 4"));
  CHECK_THAT(topk.read(changed(kTopk, [](auto& s) { s.tokenizer_hash = 1; })),
             Catch::Contains("tokenizer hash: made with 0123456789abcdef, this job distills with 0000000000000001"));
  CHECK_THAT(topk.read(kTopk, "data-fp-2"), Catch::Contains("data: made from data-fp-1, this job trains on data-fp-2"));
  CHECK_THAT(topk.read(kTopk, "data-fp-1", "t2"), Catch::Contains("teacher: made by teacher-fp-1, this job's teacher is t2"));
}

TEST_CASE("lm cache: a window outside the cache is a runtime error", "[lm_cache]") {
  Written w(kTopk);
  core::LmCacheReader reader(w.dir.str(), kTopk, "data-fp-1", "teacher-fp-1");
  core::LmTargets out;
  const std::vector<int64_t> ids = {5};
  try {
    reader.gather(ids, out);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::runtime);
    CHECK_THAT(e.message(), Catch::Contains("window 5 is outside the cache's 5 windows"));
  }
}

TEST_CASE("lm cache writer refuses targets it cannot give back bit for bit", "[lm_cache]") {
  test::TempDir dir;
  // The message of writing `t` as shard 0 (the targets' own validation may refuse first, as an
  // input error; the writer's checks are runtime errors: the pool handed it bad targets).
  auto refused = [&](const core::LmCacheSpec& c, const core::LmTargets& t) {
    try {
      core::write_lm_shard(dir.str(), c, 0, t);
    } catch (const Error& e) {
      return e.message();
    }
    return std::string("(no error)");
  };
  const core::LmCacheSpec c = test::lm_cache_spec(kSampled, 2, 2);
  const core::LmTargets t = test::lm_window_targets(kSampled, 0, 2);
  CHECK(refused(c, t) == "(no error)");
  auto nudged = [](core::LmTargets x) {
    for (float& lp : x.log_probs)
      if (std::isfinite(lp)) lp = std::nextafter(lp, 0.f);
    return x;
  };
  CHECK_THAT(refused(c, nudged(t)), Catch::Contains("is not a bf16 value"));
  auto f32 = c;
  f32.targets.dtype = DType::f32;
  CHECK(refused(f32, nudged(test::lm_window_targets(f32.targets, 0, 2))) == "(no error)");
  auto padding = t;
  size_t slot = 0;  // the first padding slot (a row whose 16 draws repeat an id)
  while (slot < padding.counts.size() && padding.counts[slot] != 0) ++slot;
  REQUIRE(slot < padding.counts.size());
  padding.log_probs[slot] = -1e30f;
  CHECK_THAT(refused(c, padding), Catch::Contains("not the padding the cache rebuilds"));
  auto hotter = c;
  hotter.targets.temperature = 3;
  CHECK_THAT(refused(hotter, t), Catch::Contains("do not match the cache spec"));
}
