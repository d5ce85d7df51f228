// Unit test of the supervisor's "newest good checkpoint": hand-made checkpoint folders (valid,
// corrupted, manifest missing) and the description the restart log prints.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/checkpoint/durable_io.h"
#include "launch/checkpoint_probe.h"

namespace fs = std::filesystem;

namespace {

// A checkpoint folder with one data file and a manifest listing its size and XXH3-64.
void write_checkpoint(const fs::path& dir, long long step) {
  fs::create_directories(dir);
  const std::string data = "weights of step " + std::to_string(step);
  std::ofstream(dir / "model.safetensors", std::ios::binary) << data;
  const std::vector<uint8_t> bytes(data.begin(), data.end());
  const nlohmann::json manifest = {
      {"format", "retort-checkpoint-1"},
      {"step", step},
      {"files", {{"model.safetensors", {{"bytes", bytes.size()}, {"xxh3", retort::core::xxh3_hex(bytes)}}}}}};
  std::ofstream(dir / "manifest.json") << manifest.dump(2);
}

}  // namespace

TEST_CASE("newest good checkpoint: skips newer ones that do not verify, names each") {
  const fs::path root = fs::temp_directory_path() / ("retort-probe-test-" + std::to_string(std::random_device{}()));
  const fs::path ckpts = root / "checkpoints";
  CHECK(retort::launch::newest_good_checkpoint(ckpts.string()) ==
        "none in " + ckpts.string() + " (a restart starts from step 0)");

  write_checkpoint(ckpts / "step-00000010", 10);
  write_checkpoint(ckpts / "step-00000020", 20);
  write_checkpoint(ckpts / "step-00000030", 30);
  fs::create_directories(ckpts / "step-00000040.tmp");  // an unfinished write is never listed
  CHECK(retort::launch::newest_good_checkpoint(ckpts.string()) == "step 30 (" + (ckpts / "step-00000030").string() + ")");

  {  // flip one byte of step 30's data, delete step 20's manifest
    std::fstream f(ckpts / "step-00000030" / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  fs::remove(ckpts / "step-00000020" / "manifest.json");
  const std::string got = retort::launch::newest_good_checkpoint(ckpts.string());
  INFO(got);
  CHECK(got.rfind("step 10 (" + (ckpts / "step-00000010").string() + "); skipped " + (ckpts / "step-00000030").string() + ": ", 0) == 0);
  CHECK(got.find("checksum does not match") != std::string::npos);
  CHECK(got.find("; skipped " + (ckpts / "step-00000020").string() + ": ") != std::string::npos);
  CHECK(got.find("step-00000040") == std::string::npos);

  fs::remove(ckpts / "step-00000010" / "model.safetensors");
  CHECK(retort::launch::newest_good_checkpoint(ckpts.string()).rfind("none in " + ckpts.string(), 0) == 0);
  fs::remove_all(root);
}
