// Run control shared by every rank's loop: a stop request from a signal (Slurm's --signal=USR1,
// SIGTERM from a scheduler) that the loops honour at the next step boundary, and a watchdog that
// ends a job whose step makes no progress for train.step_timeout_s instead of letting it hang.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace retort::comm {
class World;
}

namespace retort::core {

// Exit code of a job that stopped on request after writing a checkpoint (resume continues it).
inline constexpr int kExitPreempted = 75;

// SIGUSR1 and SIGTERM set the stop request (idempotent; call once per process). A signal sent to
// one rank alone (a teacher, too, whose loop has no step boundary of its own) reaches the others
// through the Watchdog's stop relay, so the students stop at their next step boundary (exit 75).
void install_stop_signal_handlers();
bool stop_requested();
void request_stop();  // what the handlers do; tests call it directly

class Watchdog {
 public:
  // `on_expire(message)` runs on the watchdog thread when no beat came for `timeout_s` seconds
  // (it should end the process, e.g. World::abort). The first beat arms it, so slow start-up work
  // (loading data and models) is not a hang. timeout_s <= 0 disables the watchdog.
  Watchdog(double timeout_s, std::string who, std::function<void(const std::string&)> on_expire);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  // Progress: `step` is where the loop is, `phase` what it is doing ("forward", "waiting for
  // teacher logits", ...). Cheap: an atomic store and a clock read.
  void beat(int64_t step, const char* phase);

 private:
  void watch();
  // On the watchdog's thread, every 0.2 s in an MPI job: sends this rank's signalled stop request
  // to every other rank once, and takes theirs (one-int64 messages on the world group, a tag of its own).
  void relay_stop();

  double timeout_s_;
  std::string who_;
  std::function<void(const std::string&)> on_expire_;
  std::atomic<int64_t> step_{0};
  std::atomic<const char*> phase_{"starting"};
  std::atomic<int64_t> last_beat_ns_{0};
  std::atomic<bool> armed_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  int relay_rank_ = 0;
  int relay_size_ = 1;  // > 1: the thread also relays stop requests
  bool relay_sent_ = false;
  std::thread thread_;
};

// The usual expiry action: log the message and abort the whole MPI job with exit code 1.
std::function<void(const std::string&)> abort_job_on_expiry(comm::World& world);

}  // namespace retort::core
