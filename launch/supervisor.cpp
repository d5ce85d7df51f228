// Restart loop and exit-cause descriptions for `retort launch --max-restarts`.
#include "launch/supervisor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>

namespace retort::launch {
namespace {

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("signal {}, SIG{}", sig, abbrev) : fmt::format("signal {}", sig);
}

}  // namespace

std::string describe(const JobOutcome& o) {
  if (o.signal != 0) return "the launcher was killed by " + signal_name(o.signal);
  const int c = o.exit_code;
  std::string why;
  if (c == kExitOk) {
    why = "finished";
  } else if (c == kExitRuntime) {
    why = "runtime failure";
  } else if (c == kExitInput) {
    why = "bad config or input; not retried";
  } else if (c == kExitPreempted) {
    why = "preempted: checkpoint written; not retried";
  } else if (c == kExitNotFound) {
    why = "the launcher program could not be run; not retried";
  } else if (c > 128 && c < 128 + 65) {
    why = "a rank was killed by " + signal_name(c - 128);
  } else {
    why = "a rank failed";
  }
  return fmt::format("exit code {} ({})", c, why);
}

bool is_retryable(const JobOutcome& o) {
  const int s = o.status();
  return s != kExitOk && s != kExitInput && s != kExitPreempted && s != kExitNotFound;
}

double backoff_seconds(const RestartPolicy& policy, int restart) {
  const double wait = policy.first_backoff_s * std::pow(2.0, std::max(0, restart - 1));
  return std::min(wait, policy.max_backoff_s);
}

int supervise(const RestartPolicy& policy, const SupervisorHooks& hooks) {
  for (int attempt = 0;; ++attempt) {
    const JobOutcome outcome = hooks.run(attempt);
    if (outcome.status() == kExitOk) {
      if (attempt > 0) hooks.log(fmt::format("job finished after {} restart(s)", attempt));
      return kExitOk;
    }
    const std::string cause = describe(outcome);
    const std::string checkpoint = hooks.newest_checkpoint();
    if (!is_retryable(outcome) || hooks.stop_requested()) {
      hooks.log(fmt::format("job stopped: {}; newest good checkpoint: {}{}", cause, checkpoint,
                            is_retryable(outcome) ? "; not restarted: the launcher was told to stop" : ""));
      return outcome.status();
    }
    if (attempt >= policy.max_restarts) {
      hooks.log(fmt::format("job failed: {}; newest good checkpoint: {}; {}", cause, checkpoint,
                            policy.max_restarts == 0
                                ? std::string("no restarts allowed (--max-restarts 0)")
                                : fmt::format("giving up after {} restart(s)", policy.max_restarts)));
      return outcome.status();
    }
    const int restart = attempt + 1;
    const double wait = backoff_seconds(policy, restart);
    hooks.log(fmt::format("job failed: {}; newest good checkpoint: {}; restart {} of {} in {:g} s", cause,
                          checkpoint, restart, policy.max_restarts, wait));
    hooks.sleep(wait);
    if (hooks.stop_requested()) {
      hooks.log("not restarted: the launcher was told to stop");
      return outcome.status();
    }
  }
}

}  // namespace retort::launch
