// `retort launch`: plans the launcher command (mpirun, srun or single-node emulation), prints it,
// runs it, and under --max-restarts restarts a failed job (which resumes from its checkpoint).
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/base/error.h"
#include "core/train/run_lock.h"
#include "launch/checkpoint_probe.h"
#include "launch/commands.h"
#include "launch/job_process.h"
#include "launch/launcher.h"
#include "launch/supervisor.h"

namespace retort::launch {
namespace fs = std::filesystem;
namespace {

int available_cores() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

Host detect_host() {
  Host host;
  std::error_code ec;
  host.retort_exe = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) RETORT_RUNTIME_ERROR("cannot find the retort binary (/proc/self/exe): " + ec.message());
  host.working_dir = fs::current_path().string();
  const char* job = std::getenv("SLURM_JOB_ID");
  host.in_slurm = job != nullptr && *job != '\0';
  if (const char* n = std::getenv("SLURM_NTASKS"); host.in_slurm && n != nullptr) host.slurm_ntasks = std::atoi(n);
  host.is_root = ::geteuid() == 0;
  host.cpu_cores = available_cores();
  return host;
}

void say(const std::string& line) {
  std::fprintf(stderr, "retort launch: %s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace

int run_launch(const LaunchOptions& options) {
  if (options.max_restarts < 0)
    RETORT_INPUT_ERROR("--max-restarts must be >= 0, got " + std::to_string(options.max_restarts));
  LaunchRequest request{options.config_file, options.overrides, options.teachers, options.students,
                        options.emulate};
  const LaunchPlan plan = plan_launch(request, detect_host());
  const std::string checkpoints = (fs::path(plan.config.run.out_dir) / "checkpoints").string();
  if (options.max_restarts > 0 && plan.config.run.resume != "auto")
    say("warning: run.resume is '" + plan.config.run.resume +
        "': a restarted job refuses to start once checkpoints exist (exit 2)");
  if (options.max_restarts > 0 && plan.config.train.checkpoint_every_steps == 0)
    say("warning: train.checkpoint_every_steps is 0 (checkpoint only at the end): a restarted job starts again from step 0");

  // The launcher holds the run directory across every attempt and back-off (no other job can
  // slip in between restarts); the job's rank 0 accepts this lock through kRunLockOwnerEnv.
  const core::RunLock run_lock = core::RunLock::acquire(plan.config.run.out_dir);
  ::setenv(core::kRunLockOwnerEnv, run_lock.holder().c_str(), 1);
  std::vector<std::string> argv = plan.argv;
  if (plan.via == "mpirun") {
    // After "-np N", so the printed command keeps the shape users (and the Slurm test) know.
    auto at = std::find(argv.begin(), argv.end(), std::string("-np"));
    at = at != argv.end() && at + 1 != argv.end() ? at + 2 : argv.begin() + 1;
    argv.insert(at, {"-x", core::kRunLockOwnerEnv});
  }

  install_signal_forwarding(plan.via == "mpirun");
  const std::string command = shell_join(argv);
  SupervisorHooks hooks;
  hooks.run = [&](int attempt) {
    std::printf("retort launch: %s%s\n", attempt > 0 ? ("(restart " + std::to_string(attempt) + ") ").c_str() : "",
                command.c_str());
    return run_job_process(argv);
  };
  hooks.newest_checkpoint = [&] { return newest_good_checkpoint(checkpoints); };
  hooks.stop_requested = stop_requested;
  hooks.sleep = [](double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); };
  hooks.log = say;
  RestartPolicy policy;
  policy.max_restarts = options.max_restarts;
  // Tests that kill a job many times shorten the wait before each restart.
  if (const char* backoff = std::getenv("RETORT_RESTART_BACKOFF_S"); backoff != nullptr && *backoff != '\0') {
    char* end = nullptr;
    policy.first_backoff_s = std::strtod(backoff, &end);
    if (*end != '\0' || !(policy.first_backoff_s >= 0))
      RETORT_INPUT_ERROR(std::string("RETORT_RESTART_BACKOFF_S: '") + backoff + "' is not a number of seconds >= 0");
  }
  return supervise(policy, hooks);
}

}  // namespace retort::launch
