// Unit tests of the restart supervisor with a scripted job: which exits are retried, the
// back-off sequence, the restart log lines, and stop requests.
#include <catch2/catch.hpp>

#include <csignal>
#include <deque>

#include "launch/supervisor.h"

using namespace retort::launch;

namespace {

// A job that ends with each scripted outcome in turn, recording what the supervisor did.
struct ScriptedJob {
  std::deque<JobOutcome> outcomes;
  std::vector<int> attempts;
  std::vector<double> sleeps;
  std::vector<std::string> log;
  bool stop = false;

  explicit ScriptedJob(std::initializer_list<JobOutcome> script) : outcomes(script) {}

  int supervise_with(int max_restarts) {
    SupervisorHooks h;
    h.run = [this](int attempt) {
      attempts.push_back(attempt);
      REQUIRE(!outcomes.empty());
      const JobOutcome o = outcomes.front();
      outcomes.pop_front();
      return o;
    };
    h.newest_checkpoint = [this] { return "step " + std::to_string(10 * attempts.size()) + " (ckpt)"; };
    h.stop_requested = [this] { return stop; };
    h.sleep = [this](double s) { sleeps.push_back(s); };
    h.log = [this](const std::string& line) { log.push_back(line); };
    RestartPolicy p;
    p.max_restarts = max_restarts;
    return retort::launch::supervise(p, h);
  }
};

JobOutcome exit_with(int code) { return JobOutcome{code, 0}; }

}  // namespace

TEST_CASE("success on the first attempt: no restart, no log") {
  ScriptedJob job{exit_with(0)};
  CHECK(job.supervise_with(3) == 0);
  CHECK(job.attempts == std::vector<int>{0});
  CHECK(job.sleeps.empty());
  CHECK(job.log.empty());
}

TEST_CASE("a killed rank is restarted with doubling back-off; each restart names cause and step") {
  ScriptedJob job{exit_with(137), JobOutcome{0, SIGKILL}, exit_with(0)};
  CHECK(job.supervise_with(3) == 0);
  CHECK(job.attempts == std::vector<int>{0, 1, 2});
  CHECK(job.sleeps == std::vector<double>{1, 2});
  REQUIRE(job.log.size() == 3);
  CHECK(job.log[0] ==
        "job failed: exit code 137 (a rank was killed by signal 9, SIGKILL); newest good checkpoint: step 10 (ckpt); "
        "restart 1 of 3 in 1 s");
  CHECK(job.log[1] ==
        "job failed: the launcher was killed by signal 9, SIGKILL; newest good checkpoint: step 20 (ckpt); "
        "restart 2 of 3 in 2 s");
  CHECK(job.log[2] == "job finished after 2 restart(s)");
}

TEST_CASE("bad input (exit 2) and preemption (exit 75) are never retried") {
  for (int code : {kExitInput, kExitPreempted, kExitNotFound}) {
    ScriptedJob job{exit_with(code), exit_with(0)};
    CHECK(job.supervise_with(5) == code);
    CHECK(job.attempts.size() == 1);
    CHECK(job.sleeps.empty());
    REQUIRE(job.log.size() == 1);
    CHECK(job.log[0].find("not retried") != std::string::npos);
  }
}

TEST_CASE("restarts are bounded: the last failure's status is returned") {
  ScriptedJob job{exit_with(1), exit_with(1), exit_with(3)};
  CHECK(job.supervise_with(2) == 3);
  CHECK(job.attempts.size() == 3);
  CHECK(job.log.back() == "job failed: exit code 3 (a rank failed); newest good checkpoint: step 30 (ckpt); "
                          "giving up after 2 restart(s)");
  ScriptedJob none{exit_with(1)};
  CHECK(none.supervise_with(0) == 1);
  CHECK(none.log.back().find("no restarts allowed (--max-restarts 0)") != std::string::npos);
}

TEST_CASE("a stop request (SIGTERM to the launcher) prevents the restart") {
  ScriptedJob job{exit_with(143), exit_with(0)};
  job.stop = true;
  CHECK(job.supervise_with(3) == 143);
  CHECK(job.attempts.size() == 1);
  CHECK(job.log.back().find("not restarted: the launcher was told to stop") != std::string::npos);
}

TEST_CASE("back-off doubles from the first wait and is capped") {
  RestartPolicy p;
  p.first_backoff_s = 0.5;
  p.max_backoff_s = 3;
  CHECK(backoff_seconds(p, 1) == 0.5);
  CHECK(backoff_seconds(p, 2) == 1);
  CHECK(backoff_seconds(p, 3) == 2);
  CHECK(backoff_seconds(p, 4) == 3);
  CHECK(backoff_seconds(p, 30) == 3);
}

TEST_CASE("describe names the exit cause") {
  CHECK(describe(exit_with(0)) == "exit code 0 (finished)");
  CHECK(describe(exit_with(1)) == "exit code 1 (runtime failure)");
  CHECK(describe(exit_with(75)) == "exit code 75 (preempted: checkpoint written; not retried)");
  CHECK(describe(exit_with(143)) == "exit code 143 (a rank was killed by signal 15, SIGTERM)");
  CHECK(JobOutcome{0, SIGSEGV}.status() == 139);
  CHECK(is_retryable(exit_with(99)));
  CHECK(!is_retryable(exit_with(0)));
}
