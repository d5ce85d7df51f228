// The run-directory lock: one holder, the holder named in the refusal, a dead holder's lock
// taken over, the launcher's lock accepted by its own job; and metrics.jsonl after a restart.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/base/error.h"
#include "core/metrics/metrics.h"
#include "core/train/run_lock.h"

using namespace retort;
using namespace retort::core;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("retort-lock-" + std::to_string(std::random_device{}()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};
std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}
}  // namespace

TEST_CASE("a second lock on a run directory is refused naming the holder's host and PID", "[run_lock]") {
  TempDir dir;
  const std::string run = (dir.path / "run").string();  // created by acquire
  RunLock first = RunLock::acquire(run);
  REQUIRE(first.held());
  REQUIRE(fs::exists(run_lock_path(run)));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  CHECK(first.holder() == std::string(host) + " " + std::to_string(getpid()));
  ::unsetenv(kRunLockOwnerEnv);
  // flock locks belong to open file descriptions: a second open in this process conflicts too.
  CHECK_THROWS_WITH(RunLock::acquire(run),
                    Catch::Contains("is in use by another job (host " + std::string(host) + ", PID " +
                                    std::to_string(getpid())) && Catch::Contains(".retort.lock"));
  try {
    RunLock::acquire(run);
  } catch (const Error& e) {
    CHECK(e.exit_code() == 2);
  }
  first = RunLock();  // released
  CHECK(RunLock::acquire(run).held());
}

TEST_CASE("the lock of a killed holder never blocks", "[run_lock]") {
  TempDir dir;
  const std::string run = dir.path.string();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    RunLock lock = RunLock::acquire(run);
    ::kill(::getpid(), SIGKILL);  // dies holding it; the file and its holder line remain
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  const std::string stale = lines_of(run_lock_path(run)).at(0);
  REQUIRE(stale.substr(stale.rfind(' ') + 1) == std::to_string(child));
  RunLock lock = RunLock::acquire(run);
  CHECK(lock.held());
  CHECK(lines_of(run_lock_path(run)).at(0) == lock.holder());
}

TEST_CASE("a job accepts the lock its launcher holds, and only that one", "[run_lock]") {
  TempDir dir;
  const std::string run = dir.path.string();
  RunLock launcher = RunLock::acquire(run);
  ::setenv(kRunLockOwnerEnv, launcher.holder().c_str(), 1);
  RunLock job = RunLock::acquire(run);
  CHECK_FALSE(job.held());  // the launcher keeps holding it
  ::setenv(kRunLockOwnerEnv, "otherhost 1", 1);
  CHECK_THROWS_WITH(RunLock::acquire(run), Catch::Contains("in use by another job"));
  ::unsetenv(kRunLockOwnerEnv);
}

TEST_CASE("a restarted run's metrics.jsonl never repeats a step", "[metrics]") {
  TempDir dir;
  const fs::path file = dir.path / "metrics.jsonl";
  {
    std::ofstream out(file);
    out << R"({"kind":"train","step":10,"loss":1.0})" "\n"
        << R"({"kind":"eval","step":10,"test_accuracy":0.5})" "\n"
        << R"({"kind":"train","step":20,"loss":0.9})" "\n"
        << R"({"kind":"train","step":30,"loss":0.8})" "\n"
        << R"({"kind":"train","st)";  // torn by a kill mid-write
  }
  {
    MetricsWriter resumed(file.string());  // resumed from the step-10 checkpoint
    resumed.write({{"kind", "train"}, {"step", 20}, {"loss", 0.95}});
    resumed.write({{"kind", "train"}, {"step", 30}, {"loss", 0.85}});
  }
  const auto lines = lines_of(file);
  REQUIRE(lines.size() == 4);
  std::vector<int64_t> steps;
  for (const auto& l : lines) steps.push_back(nlohmann::json::parse(l).at("step").get<int64_t>());
  CHECK(steps == std::vector<int64_t>{10, 10, 20, 30});
  CHECK(nlohmann::json::parse(lines[2]).at("loss").get<double>() == 0.95);
  CHECK(nlohmann::json::parse(lines[1]).at("kind") == "eval");

  // A fresh writer on a file it extends (no overlap) only appends.
  {
    MetricsWriter next(file.string());
    next.write({{"kind", "train"}, {"step", 40}, {"loss", 0.8}});
  }
  CHECK(lines_of(file).size() == 5);
}
