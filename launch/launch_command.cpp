// `retort launch`: builds and runs the launcher command (mpirun, srun, or single-node emulation).
#include "core/base/error.h"
#include "core/config/load.h"
#include "launch/commands.h"

namespace retort::launch {

int run_launch(const LaunchOptions& options) {
  core::load_config(options.config_file, options.overrides);
  RETORT_INPUT_ERROR("the launcher (retort launch) is not implemented in this version of retort yet");
}

}  // namespace retort::launch
