// The command `retort launch` runs: mpirun, srun or single-node emulation around `retort train`.
// Pure: the facts it depends on (Slurm environment, root, cores, binary path) come in as data,
// so every launcher shape is unit-tested without starting anything.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config.h"

namespace retort::launch {

// What the user asked for on the `retort launch` command line.
struct LaunchRequest {
  std::string config_file;
  std::vector<std::string> overrides;  // --set key=value, passed through to every rank
  int teachers = 0;                    // 0 = cluster.teachers from the config
  int students = 0;                    // 0 = cluster.students from the config
  bool emulate = false;                // every rank on this machine
};

// Where `retort launch` runs.
struct Host {
  std::string retort_exe;      // absolute path of the binary every rank runs
  std::string working_dir;     // relative config and hostfile paths are resolved against it
  bool in_slurm = false;       // SLURM_JOB_ID is set: we are inside an allocation
  int slurm_ntasks = 0;        // SLURM_NTASKS (0 = not set)
  bool is_root = false;
  int cpu_cores = 1;
};

struct LaunchPlan {
  core::Config config;                      // the job's config, every override applied
  std::vector<std::string> job_overrides;   // what each rank gets as --set (request + cluster.*)
  int world_size = 0;
  std::string via;                          // "mpirun" or "srun"
  std::vector<std::string> argv;            // the whole command, argv[0] = mpirun or srun
};

// The --set list every rank receives: the request's overrides, then cluster.teachers/students
// when --teachers/--students were given. Input error on a negative count, or --teachers
// without a teacher section (checked in plan_launch, which knows the config).
std::vector<std::string> job_overrides(const LaunchRequest& request);

// Loads the config with job_overrides, checks the shape (teacher section vs --teachers, Slurm
// task count, hostfile) and builds the command. Input errors name the option or key.
LaunchPlan plan_launch(const LaunchRequest& request, const Host& host);

// OMP_NUM_THREADS for `ranks` ranks sharing `cores` cores: cores / ranks, at least 1.
int threads_per_rank(int cores, int ranks);

// POSIX shell quoting: words made only of safe characters stay bare, others get single quotes.
std::string shell_quote(std::string_view word);
// The command as one line a user can paste into a shell.
std::string shell_join(const std::vector<std::string>& argv);
// Splits launch.mpirun_args into words: whitespace separates, '...' and "..." group, \ escapes.
// Input error naming `what` on an unterminated quote.
std::vector<std::string> split_shell_words(std::string_view text, const std::string& what);

}  // namespace retort::launch
