// One job per run directory: an advisory flock on <run.out_dir>/.retort.lock, held for the
// job's lifetime and released by the kernel when the process ends (so a stale lock never blocks).
// The holder's "host pid" is written into the file so a refused job can name it.
#pragma once
#include <string>

namespace retort::core {

// Environment variable `retort launch` sets for the job it starts: the holder line of the lock
// it already holds, so the job's rank 0 accepts that lock as its own instead of refusing it.
inline constexpr const char* kRunLockOwnerEnv = "RETORT_RUN_LOCK_OWNER";

class RunLock {
 public:
  RunLock() = default;  // holds nothing
  // Takes the lock on `dir` (created if missing). Input error naming the directory and the
  // holder's host and PID when another live process holds it, unless the holder line equals
  // $RETORT_RUN_LOCK_OWNER (the lock of the `retort launch` that started this job).
  static RunLock acquire(const std::string& dir);
  ~RunLock();
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  bool held() const { return fd_ >= 0; }
  // "host pid" written into the lock file by this process (empty when not held).
  const std::string& holder() const { return holder_; }

 private:
  int fd_ = -1;
  std::string holder_;
};

// The lock file of a run directory.
std::string run_lock_path(const std::string& dir);

}  // namespace retort::core
