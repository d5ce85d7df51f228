// The restart supervisor behind `retort launch --max-restarts N`: reruns a failed job (which
// resumes by itself from its newest checkpoint that verifies) up to N times with exponential
// back-off, logging each restart with its cause and checkpoint step. Exit codes are below.
#pragma once
#include <functional>
#include <string>

#include "core/train/run_control.h"

namespace retort::launch {

// Exit codes of `retort train` / `retort launch` (docs/operations.md, "Exit codes").
inline constexpr int kExitOk = 0;         // finished
inline constexpr int kExitRuntime = 1;    // failure while running (peer died, disk, NaN abort)
inline constexpr int kExitInput = 2;      // bad config or input: never retried
inline constexpr int kExitPreempted = core::kExitPreempted;  // 75: stop request, checkpoint written
inline constexpr int kExitNotFound = 127; // the launcher program (mpirun/srun) could not be run

// How one run of the job (the mpirun or srun process) ended.
struct JobOutcome {
  int exit_code = 0;  // meaningful when signal == 0
  int signal = 0;     // the launcher process itself was ended by this signal
  // The shell's view: exit code, or 128 + signal.
  int status() const { return signal != 0 ? 128 + signal : exit_code; }
};

// One line naming the cause, e.g. "exit code 137 (a rank was killed by signal 9, SIGKILL)".
std::string describe(const JobOutcome& outcome);

// Whether a failure may be retried: not success, bad input (2), preemption (75) or a missing
// launcher program (127).
bool is_retryable(const JobOutcome& outcome);

struct RestartPolicy {
  int max_restarts = 0;
  double first_backoff_s = 1;  // before restart 1; doubles each restart
  double max_backoff_s = 30;
};

// Wait before restart number `restart` (1-based): first * 2^(restart-1), capped.
double backoff_seconds(const RestartPolicy& policy, int restart);

struct SupervisorHooks {
  std::function<JobOutcome(int attempt)> run;        // runs the job once (attempt 0, 1, ...)
  std::function<std::string()> newest_checkpoint;    // e.g. "step 40 (out/checkpoints/step-00000040)"
  std::function<bool()> stop_requested;              // the launcher itself was told to stop
  std::function<void(double seconds)> sleep;
  std::function<void(const std::string& line)> log;
};

// Runs the job, restarting per `policy`; returns the final JobOutcome::status().
int supervise(const RestartPolicy& policy, const SupervisorHooks& hooks);

}  // namespace retort::launch
