// Checkpoints: safetensors round trip and validation, manifest checksums, keep-last-N,
// fallback to an older checkpoint, config mismatch, and the fault hook before rename.
#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/error.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/durable_io.h"
#include "core/train/inspect.h"

using namespace retort::core;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const std::string& tag) {
  const fs::path d = fs::temp_directory_path() / ("retort_ckpt_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
ModelSpec spec() {
  ModelSpec s;
  s.config.hidden = {8};
  s.in_features = 5;
  s.classes = 3;
  return s;
}
std::vector<float> params_of(const Model& m) { return {m.params().begin(), m.params().end()}; }
void flip_byte(const fs::path& p, size_t from_end) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(-static_cast<std::streamoff>(from_end), std::ios::end);
  char c;
  f.read(&c, 1);
  c ^= 0x5a;
  f.seekp(-static_cast<std::streamoff>(from_end), std::ios::end);
  f.write(&c, 1);
}
TrainState state_at(int64_t step) {
  TrainState s;
  s.step = step;
  s.epoch = step / 10;
  s.step_in_epoch = step % 10;
  s.metrics.push_back({{"kind", "eval"}, {"step", step}});
  return s;
}
}  // namespace

TEST_CASE("safetensors files round trip and reject malformed input", "[checkpoint]") {
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {7};
  auto bytes = encode_safetensors({{"a", {2, 3}, a}, {"b", {1}, b}}, {{"k", "v"}});
  uint64_t header = 0;
  for (int i = 0; i < 8; ++i) header |= uint64_t(bytes[i]) << (8 * i);
  REQUIRE(header % 8 == 0);
  REQUIRE(bytes.size() == 8 + header + 7 * 4);
  const auto f = parse_safetensors(bytes, "x");
  REQUIRE(f.metadata.at("k") == "v");
  REQUIRE(f.tensors.at("a").shape == std::vector<int64_t>{2, 3});
  REQUIRE(std::vector<float>(f.tensors.at("a").data.begin(), f.tensors.at("a").data.end()) == a);
  auto truncated = bytes;
  truncated.resize(bytes.size() - 4);
  REQUIRE_THROWS_WITH(parse_safetensors(truncated, "t.st"), Catch::Contains("t.st") && Catch::Contains("outside"));
  auto bad_len = bytes;
  bad_len[5] = 0x7f;
  REQUIRE_THROWS_WITH(parse_safetensors(bad_len, "l.st"), Catch::Contains("header length"));
  auto bad_json = bytes;
  bad_json[8] = '!';
  REQUIRE_THROWS_WITH(parse_safetensors(bad_json, "j.st"), Catch::Contains("not valid JSON"));
  std::string text(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(header));
  const size_t at = text.find("F32");
  auto bad_dtype = bytes;
  bad_dtype[8 + at + 1] = '1';
  bad_dtype[8 + at + 2] = '6';
  REQUIRE_THROWS_WITH(parse_safetensors(bad_dtype, "d.st"), Catch::Contains("dtype F16"));
}

TEST_CASE("model weights files are self-describing and checked against the model", "[checkpoint]") {
  const fs::path d = temp_dir("model");
  Model m(spec());
  m.initialize(4);
  save_model(m, (d / "final.safetensors").string());
  auto loaded = load_model((d / "final.safetensors").string());
  REQUIRE(to_json(loaded->spec()) == to_json(m.spec()));
  REQUIRE(params_of(*loaded) == params_of(m));
  ModelSpec other = spec();
  other.config.hidden = {9};
  Model wrong(other);
  const auto file = parse_safetensors(read_file((d / "final.safetensors").string()), "f");
  REQUIRE_THROWS_WITH(load_weights(wrong, file, "f"), Catch::Contains("fc1.weight") && Catch::Contains("shape"));
  std::ostringstream out;
  inspect_checkpoint((d / "final.safetensors").string(), out);
  REQUIRE_THAT(out.str(), Catch::Contains("fc2.bias") && Catch::Contains("[3,8]") && Catch::Contains("retort.model"));
  fs::remove_all(d);
}

TEST_CASE("checkpoints restore exactly, keep the last N and fall back past corrupt ones", "[checkpoint]") {
  const fs::path d = temp_dir("store");
  Model m(spec());
  m.initialize(1);
  OptimConfig oc;
  Optimizer opt(oc, m.num_params());
  std::vector<float> g(m.num_params(), 0.f);  // gradients are zero in the alignment padding
  for (const auto& t : m.layout().tensors()) std::fill_n(g.begin() + t.offset, t.numel, 0.01f);
  CheckpointStore store((d / "checkpoints").string(), 2);
  std::vector<std::vector<float>> snapshots;
  for (int64_t step = 1; step <= 3; ++step) {
    opt.step(m.params(), g, 0.1);
    store.save(m, opt, state_at(step), 0xabc, 1);
    snapshots.push_back(params_of(m));
  }
  REQUIRE(store.list().size() == 2);
  REQUIRE(fs::path(store.list().back()).filename() == "step-00000003");

  Model m2(spec());
  Optimizer opt2(oc, m2.num_params());
  auto st = store.restore_latest(m2, opt2, 0xabc);
  REQUIRE(st.has_value());
  REQUIRE(st->step == 3);
  REQUIRE(st->epoch == 0);
  REQUIRE(st->step_in_epoch == 3);
  REQUIRE(st->metrics.size() == 1);
  REQUIRE(params_of(m2) == snapshots[2]);
  REQUIRE(opt2.steps_done() == 3);
  const auto s1 = opt.state()[0].data, s2 = opt2.state()[0].data;
  REQUIRE(std::equal(s1.begin(), s1.end(), s2.begin()));

  std::ostringstream out;
  inspect_checkpoint(store.list().back(), out);
  REQUIRE_THAT(out.str(), Catch::Contains("checksums verified") && Catch::Contains("momentum"));

  // Corrupt the newest: the checksum catches it and the previous checkpoint is used.
  flip_byte(fs::path(store.list().back()) / "model.safetensors", 3);
  REQUIRE_THROWS_WITH(read_verified_manifest(store.list().back()), Catch::Contains("checksum"));
  Model m3(spec());
  Optimizer opt3(oc, m3.num_params());
  st = store.restore_latest(m3, opt3, 0xabc);
  REQUIRE(st->step == 2);
  REQUIRE(params_of(m3) == snapshots[1]);

  // Another config's checkpoint is refused, not silently used.
  REQUIRE_THROWS_WITH(store.restore_latest(m3, opt3, 0xdef), Catch::Contains("different config"));
  // A different optimizer cannot take this state.
  OptimConfig adam;
  adam.name = "adamw";
  Optimizer opt4(adam, m3.num_params());
  REQUIRE_THROWS_WITH(load_checkpoint(store.list().front(), m3, &opt4, 0xabc), Catch::Contains("optimizer"));
  // None verifies: an error, never a fresh start.
  flip_byte(fs::path(store.list().front()) / "optim.safetensors", 1);
  REQUIRE_THROWS_WITH(store.restore_latest(m3, opt3, 0xabc), Catch::Contains("no checkpoint"));
  fs::remove_all(d);
}

TEST_CASE("a crash before the rename leaves the previous checkpoint as the newest", "[checkpoint]") {
  const fs::path d = temp_dir("fault");
  Model m(spec());
  m.initialize(2);
  OptimConfig oc;
  Optimizer opt(oc, m.num_params());
  CheckpointStore store((d / "checkpoints").string(), 3);
  store.save(m, opt, state_at(5), 1, 1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("RETORT_FAULT_CKPT_BEFORE_RENAME", "6", 1);
    store.save(m, opt, state_at(6), 1, 1);
    ::_exit(0);  // not reached when the hook fires
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 99);
  REQUIRE(fs::exists(d / "checkpoints" / "step-00000006.tmp" / "manifest.json"));
  REQUIRE(store.list().size() == 1);
  Model m2(spec());
  Optimizer opt2(oc, m2.num_params());
  REQUIRE(store.restore_latest(m2, opt2, 1)->step == 5);
  // The next save of that step cleans the leftover and succeeds.
  store.save(m, opt, state_at(6), 1, 1);
  REQUIRE(store.list().size() == 2);
  REQUIRE_FALSE(fs::exists(d / "checkpoints" / "step-00000006.tmp"));
  fs::remove_all(d);
}
