// Subcommand implementations: each loads and validates the config, then hands over to the
// engine in core/. Errors propagate as retort::Error and become exit codes in main.
#include "launch/commands.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "comm/world.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/config/load.h"
#include "core/distill/logits_cache.h"
#include "core/distill/lm_teach.h"
#include "core/distill/run_distill.h"
#include "core/lm/lm_compare.h"
#include "core/train/evaluate.h"
#include "core/lm/model_inspect.h"
#include "core/train/inspect.h"
#include "core/train/run_control.h"
#include "core/train/run_lock.h"
#include "core/train/student_trainer.h"
#include "core/train/supervised.h"

#ifndef RETORT_VERSION
#define RETORT_VERSION "dev"
#endif

namespace retort::launch {
namespace {

core::Config load_for_job(const std::string& file, const std::vector<std::string>& overrides) {
  core::Config cfg = core::load_config(file, overrides);
  log::set_level(log::parse_level(cfg.logging.level));
  return cfg;
}

// One job per run directory: rank 0 takes the run lock (core/train/run_lock.h) and tells every
// rank whether it got it, so a refused job ends on all ranks before any of them writes there.
core::RunLock lock_run_dir(const std::string& out_dir, comm::World& world) {
  core::RunLock lock;
  std::string refusal;
  if (world.rank() == 0) {
    try {
      lock = core::RunLock::acquire(out_dir);
    } catch (const Error& e) {
      refusal = e.message();
    }
  }
  int refused = refusal.empty() ? 0 : 1;
  MPI_Bcast(&refused, 1, MPI_INT, 0, world.comm());
  if (refused) RETORT_INPUT_ERROR(world.rank() == 0 ? refusal : "rank 0 could not lock " + out_dir);
  return lock;
}

// Runs `job` on every rank of the MPI world. A cluster shape that does not fit the world, or a
// run directory another job holds, is seen by every rank alike: rank 0 reports it and all exit 2.
// Any later error may be seen by one rank only, so that rank reports it (naming itself) and
// aborts the whole job: no peer waits.
template <typename Check, typename Job>
int run_on_world(const char* what, const std::string& out_dir, Check&& check_shape, Job&& job) {
  comm::World world(nullptr, nullptr);
  log::set_identity(world.size() > 1 ? world.rank() : -1, "");
  core::install_stop_signal_handlers();
  // Ranks sharing a node share its cores: unless the user chose, give each rank its share
  // (oversubscribed OpenMP threads spin against each other and slow a job down many times).
  if (!std::getenv("OMP_NUM_THREADS"))
    omp_set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / world.local_size()));
  core::RunLock run_lock;
  try {
    check_shape(world.size());
    run_lock = lock_run_dir(out_dir, world);
  } catch (const Error& e) {
    if (world.rank() == 0) std::fprintf(stderr, "retort: error: %s\n", e.message().c_str());
    return e.exit_code();
  }
  try {
    return job(world);
  } catch (const Error& e) {
    const std::string text = e.kind() == ErrorKind::input ? e.message() : std::string(e.what());
    if (world.size() == 1) {
      std::fprintf(stderr, "retort: error: %s\n", text.c_str());
      return e.exit_code();
    }
    std::fprintf(stderr, "retort: error: rank %d: %s: %s\n", world.rank(), what, text.c_str());
    std::fflush(stderr);
    world.abort(e.exit_code());
  }
}

void append_json_line(const std::string& file, const nlohmann::json& record) {
  std::ofstream out(file, std::ios::app);
  out << record.dump() << "\n";
  if (!out) RETORT_INPUT_ERROR("--json: cannot write '" + file + "'");
}

// A language model: the student's metrics on the split and, with teacher.checkpoint, the
// teacher's and the comparison (core/lm/lm_compare.h), one line each.
int run_lm_eval(const EvalOptions& o, const core::Config& cfg) {
  const std::vector<core::LmComparison> all = core::evaluate_lm_checkpoints(o.checkpoints, cfg, o.split);
  const char* split = o.split == "test" ? "test" : "validation";
  for (size_t i = 0; i < all.size(); ++i) {
    const core::LmComparison& c = all[i];
    const nlohmann::json j = c.to_json();
    std::printf("%s: %s perplexity %.4f, loss %.4f, token accuracy %.4f over %lld tokens\n", o.checkpoints[i].c_str(),
                split, j["student_perplexity"].get<double>(), c.student_loss(), j["student_token_accuracy"].get<double>(),
                static_cast<long long>(c.tokens));
    if (c.has_teacher)
      std::printf("teacher %s: %s perplexity %.4f, loss %.4f; KL(teacher || student) %.4f nats/token, top-1 agreement %.4f\n",
                  cfg.teacher.checkpoint.c_str(), split, j["teacher_perplexity"].get<double>(), c.teacher_loss(),
                  c.mean_kl(), c.agreement());
    if (!o.json_file.empty()) {
      nlohmann::json record = j;
      record["kind"] = "lm_eval";
      record["split"] = o.split;
      record["checkpoint"] = o.checkpoints[i];
      if (c.has_teacher) record["teacher"] = cfg.teacher.checkpoint;
      append_json_line(o.json_file, record);
    }
  }
  if (!all.front().has_teacher && cfg.teacher.present)
    std::fprintf(stderr, "retort: warning: the config's teacher has no teacher.checkpoint: no teacher metrics\n");
  return 0;
}

}  // namespace

int run_config_check(const CheckOptions& options) {
  const core::Config cfg = core::load_config(options.config_file, options.overrides);
  if (options.world_size > 0) core::check_world_size(cfg, options.world_size);
  core::validate_training(cfg);  // what `retort train` refuses, `config check` refuses too
  // An online teacher's weights must exist, as `retort train` needs them (a config checked
  // before its teacher is trained names the future path with --set teacher.checkpoint=...).
  if (cfg.teacher.present && cfg.teacher.source == "online" && !std::filesystem::exists(cfg.teacher.checkpoint))
    RETORT_INPUT_ERROR(options.config_file + ": teacher.checkpoint: '" + cfg.teacher.checkpoint +
                       "' does not exist; retort train needs the teacher's weights there");
  std::cout << "# " << options.config_file << ": valid (resolved, defaults filled)\n" << core::to_yaml(cfg);
  return 0;
}

int run_version() {
#ifdef RETORT_HAVE_CUDA
  const char* backends = "cpu + cuda/nccl";
#else
  const char* backends = "cpu only";
#endif
  std::printf("retort %s (%s)\n", RETORT_VERSION, backends);
  return 0;
}

int run_train(const JobOptions& options) {
  const core::Config cfg = load_for_job(options.config_file, options.overrides);
  auto check = [&](int world_size) { core::check_world_size(cfg, world_size); };
  return run_on_world("training", cfg.run.out_dir, check, [&](comm::World& world) {
    return cfg.teacher.present ? core::run_distill(cfg, world, {options.stop_after_step})
                               : core::run_supervised(cfg, world, {options.stop_after_step});
  });
}

int run_teach(const JobOptions& options) {
  const core::Config cfg = load_for_job(options.config_file, options.overrides);
  if (!options.from_cache.empty()) return core::derive_lm_cache(cfg, options.from_cache);
  auto check = [&](int world_size) { core::check_teach_world_size(cfg, world_size); };
  return run_on_world("teacher inference", cfg.run.out_dir, check, [&](comm::World& world) { return core::run_teach(cfg, world); });
}

int run_eval(const EvalOptions& options) {
  core::Config cfg;
  if (!options.config_file.empty()) {
    cfg = load_for_job(options.config_file, options.overrides);
  } else if (!options.overrides.empty()) {
    RETORT_INPUT_ERROR("--set needs --config (the built-in defaults have no file to override)");
  }
  for (const std::string& checkpoint : options.checkpoints)
    if (!std::filesystem::exists(checkpoint)) RETORT_INPUT_ERROR("--checkpoint: '" + checkpoint + "' does not exist");
  if (cfg.student.arch == "llama") return run_lm_eval(options, cfg);
  if (options.split != "val") RETORT_INPUT_ERROR("--split is for language models (an MLP is evaluated on its test set)");
  if (options.checkpoints.size() != 1) RETORT_INPUT_ERROR("--checkpoint: an MLP is evaluated one checkpoint at a time");
  const core::EvalResult r = core::evaluate_checkpoint(options.checkpoints.front(), cfg);
  std::printf("%s: test accuracy %.4f, %lld errors of %lld, test loss %.4f\n", options.checkpoints.front().c_str(), r.accuracy,
              static_cast<long long>(r.errors), static_cast<long long>(r.count), r.loss);
  if (!options.json_file.empty()) append_json_line(options.json_file, r.to_json());
  return 0;
}

int run_inspect(const std::string& file) {
  if (!std::filesystem::exists(file)) RETORT_INPUT_ERROR(file + ": does not exist");
  if (std::filesystem::path(file).filename() == "index.json") {
    std::cout << core::describe_cache(file);
    return 0;
  }
  if (core::is_foreign_model(file)) {
    core::inspect_foreign_model(file, std::cout);
    return 0;
  }
  core::inspect_checkpoint(file, std::cout);
  return 0;
}

}  // namespace retort::launch
