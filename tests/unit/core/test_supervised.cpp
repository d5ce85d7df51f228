// Supervised training on one rank: artifacts, learning, and exact resume after stopping at
// several steps (bitwise-identical final weights).
#include <catch2/catch.hpp>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "comm/world.h"
#include "core/base/error.h"
#include "core/checkpoint/durable_io.h"
#include "core/train/evaluate.h"
#include "core/train/supervised.h"

using namespace retort::core;
namespace fs = std::filesystem;

namespace {
retort::comm::World& world() {
  static retort::comm::World w(nullptr, nullptr);
  return w;
}
Config small_config(const fs::path& out) {
  Config c;
  c.run.out_dir = out.string();
  c.run.seed = 3;
  c.hash = 0x1234;
  c.data.train_fraction = 0.02;  // 1200 samples
  c.data.jitter_px = 1;
  c.student.hidden = {32};
  c.student.dropout = 0.2;
  c.student.input_dropout = 0.1;
  c.student.max_norm = 2.0;
  c.optim.lr = 0.05;
  c.schedule.warmup_steps = 5;
  c.train.batch_size = 50;       // 24 steps per epoch
  c.train.epochs = 3;
  c.train.eval_every_steps = 30;
  c.train.checkpoint_every_steps = 20;
  c.train.log_every_steps = 10;
  c.logging.progress = "never";
  return c;
}
fs::path temp_dir(const std::string& tag) {
  const fs::path d = fs::temp_directory_path() / fmt::format("retort_sup_{}_{}", tag, ::getpid());
  fs::remove_all(d);
  return d;
}
nlohmann::json read_json(const fs::path& p) {
  const auto b = read_file(p.string());
  return nlohmann::json::parse(b.begin(), b.end());
}
}  // namespace

TEST_CASE("supervised training writes its artifacts and learns; resume is bitwise exact", "[train]") {
  const fs::path ref_dir = temp_dir("ref");
  const Config ref = small_config(ref_dir);
  REQUIRE(run_supervised(ref, world()) == 0);
  const auto summary = read_json(ref_dir / "summary.json");
  REQUIRE(summary["steps"] == 72);
  REQUIRE(summary["test_accuracy"].get<double>() > 0.6);  // chance is 0.1
  REQUIRE(summary["test_errors"].get<int64_t>() ==
          std::llround((1 - summary["test_accuracy"].get<double>()) * 10000));
  for (const char* key : {"test_loss", "wall_s", "samples_per_s"}) REQUIRE(summary.contains(key));
  int evals = 0, trains = 0;
  std::ifstream metrics(ref_dir / "metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto j = nlohmann::json::parse(line);
    evals += j["kind"] == "eval";
    trains += j["kind"] == "train";
  }
  REQUIRE(evals == 3);   // steps 30, 60 and the end
  REQUIRE(trains == 8);  // every 10 steps and the last
  // Evaluated under a config with other data settings (full training set), the checkpoint still
  // normalises its inputs with the statistics it was trained with.
  const EvalResult e = evaluate_checkpoint((ref_dir / "final.safetensors").string(), Config{});
  REQUIRE(e.accuracy == summary["test_accuracy"].get<double>());
  const auto ref_weights = read_file((ref_dir / "final.safetensors").string());

  for (int64_t k : {1, 24, 37, 71}) {
    INFO("stopped after step " << k);
    const fs::path dir = temp_dir(fmt::format("k{}", k));
    const Config c = small_config(dir);
    SupervisedOptions stop;
    stop.stop_after_step = k;
    REQUIRE(run_supervised(c, world(), stop) == 0);
    REQUIRE_FALSE(fs::exists(dir / "final.safetensors"));
    REQUIRE(run_supervised(c, world()) == 0);
    REQUIRE(read_file((dir / "final.safetensors").string()) == ref_weights);
    REQUIRE(read_json(dir / "summary.json")["test_accuracy"] == summary["test_accuracy"]);
    fs::remove_all(dir);
  }
  // A resume with another config is refused with a clear message.
  Config other = small_config(ref_dir);
  other.hash = 0x9999;
  REQUIRE_THROWS_WITH(run_supervised(other, world()), Catch::Contains("different config"));
  fs::remove_all(ref_dir);
}

TEST_CASE("bad training settings are input errors naming the key", "[train]") {
  Config c = small_config(temp_dir("bad"));
  c.device = "tpu";
  REQUIRE_THROWS_WITH(run_supervised(c, world()), Catch::Contains("device"));
  c = small_config(temp_dir("bad"));
  c.train.nan_policy = "ignore";
  REQUIRE_THROWS_WITH(run_supervised(c, world()), Catch::Contains("train.nan_policy"));
  c = small_config(temp_dir("bad"));
  c.train.batch_size = 100000;
  REQUIRE_THROWS_WITH(run_supervised(c, world()), Catch::Contains("train.batch_size"));
}
