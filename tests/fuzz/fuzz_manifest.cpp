// libFuzzer target: bytes as the manifest.json of a checkpoint directory whose weight and
// optimizer files are real (a small model saved once at start-up) -> read_verified_manifest,
// load_model, load_checkpoint and inspect. RETORT_FUZZ_SEED_DIR=DIR writes the real manifest
// there as a seed.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/durable_io.h"
#include "core/train/inspect.h"
#include "tests/fuzz/fuzz_util.h"

namespace fs = std::filesystem;
using namespace retort::core;

namespace {
ModelSpec small_spec() {
  ModelSpec spec;
  spec.config.hidden = {3};
  spec.in_features = 4;
  spec.classes = 2;
  return spec;
}
constexpr uint64_t kConfigHash = 0x1234;
fs::path g_checkpoint;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Model model(small_spec());
  model.initialize(7);
  Optimizer optimizer(OptimConfig{}, model.layout().total());
  CheckpointStore store((retort::fuzz::scratch_dir() / "checkpoints").string(), 1);
  g_checkpoint = store.save(model, optimizer, TrainState{}, kConfigHash, 7);
  if (const char* seeds = std::getenv("RETORT_FUZZ_SEED_DIR")) {
    fs::create_directories(seeds);
    fs::copy_file(g_checkpoint / "manifest.json", fs::path(seeds) / "manifest.json", fs::copy_options::overwrite_existing);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::ofstream(g_checkpoint / "manifest.json", std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  const std::string dir = g_checkpoint.string();
  retort::fuzz::expect_clean_errors("fuzz_manifest", [&] { read_verified_manifest(dir); });
  retort::fuzz::expect_clean_errors("fuzz_manifest", [&] { load_model(dir); });
  retort::fuzz::expect_clean_errors("fuzz_manifest", [&] {
    Model model(small_spec());
    load_checkpoint(dir, model, nullptr, kConfigHash);
  });
  retort::fuzz::expect_clean_errors("fuzz_manifest", [&] {
    std::ostringstream out;
    inspect_checkpoint(dir, out);
  });
  return 0;
}
