// Subcommand implementations. Engines that do not exist yet say so and exit 2.
#include "launch/commands.h"

#include <cstdio>
#include <iostream>

#include "core/base/error.h"
#include "core/config/load.h"

#ifndef RETORT_VERSION
#define RETORT_VERSION "dev"
#endif

namespace retort::launch {
namespace {
[[noreturn]] void not_built_yet(const std::string& what) {
  RETORT_INPUT_ERROR(what + " is not implemented in this version of retort yet");
}
}  // namespace

int run_config_check(const CheckOptions& options) {
  const core::Config cfg = core::load_config(options.config_file, options.overrides);
  if (options.world_size > 0) core::check_world_size(cfg, options.world_size);
  std::cout << "# " << options.config_file << ": valid (resolved, defaults filled)\n" << core::to_yaml(cfg);
  return 0;
}

int run_version() {
#ifdef RETORT_HAVE_CUDA
  const char* cuda = "cuda+nccl";
#else
  const char* cuda = "cpu only";
#endif
  std::printf("retort %s (%s)\n", RETORT_VERSION, cuda);
  return 0;
}

int run_train(const JobOptions& options) {
  const core::Config cfg = core::load_config(options.config_file, options.overrides);
  not_built_yet(cfg.teacher.present ? "distillation training (retort train with a teacher section)"
                                    : "supervised training (retort train)");
}

int run_teach(const JobOptions& options) {
  core::load_config(options.config_file, options.overrides);
  not_built_yet("offline teacher inference (retort teach)");
}

int run_eval(const EvalOptions&) { not_built_yet("checkpoint evaluation (retort eval)"); }

int run_inspect(const std::string&) { not_built_yet("checkpoint inspection (retort inspect)"); }

}  // namespace retort::launch
