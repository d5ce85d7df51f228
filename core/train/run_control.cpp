// Stop-request signal handling (relayed between the ranks of a job) and the step watchdog.
#include "core/train/run_control.h"

#include <algorithm>
#include <csignal>
#include <chrono>
#include <fmt/format.h>

#include "comm/collectives.h"
#include "comm/world.h"
#include "core/base/log.h"

namespace retort::core {
namespace {

volatile std::sig_atomic_t g_stop = 0;         // a stop was requested: signal, relay or request_stop()
volatile std::sig_atomic_t g_stop_signal = 0;  // ... by a signal to this process: relayed to the other ranks

extern "C" void on_stop_signal(int) {
  g_stop = 1;
  g_stop_signal = 1;
}

// One-int64 messages on the world group with this tag carry a stop request between ranks
// (nothing else receives with any tag there).
constexpr int kStopRelayTag = 0x570b;
constexpr double kRelayPollS = 0.2;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::function<void(const std::string&)> abort_job_on_expiry(comm::World& world) {
  return [&world](const std::string& message) {
    log::error("{}", message);
    world.abort(1);
  };
}

void install_stop_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool stop_requested() { return g_stop != 0; }
void request_stop() { g_stop = 1; }

Watchdog::Watchdog(double timeout_s, std::string who, std::function<void(const std::string&)> on_expire)
    : timeout_s_(timeout_s), who_(std::move(who)), on_expire_(std::move(on_expire)) {
  last_beat_ns_ = now_ns();
  if (comm::mpi_running()) {
    relay_rank_ = comm::world_group().rank();
    relay_size_ = comm::world_group().size();
  }
  if (timeout_s_ > 0 || relay_size_ > 1) thread_ = std::thread([this] { watch(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::beat(int64_t step, const char* phase) {
  step_ = step;
  phase_ = phase;
  last_beat_ns_ = now_ns();
  armed_ = true;
}

void Watchdog::relay_stop() {
  if (g_stop_signal && !relay_sent_) {
    relay_sent_ = true;
    log::warn("{}: stop requested by a signal; telling the other {} rank(s): the job stops at its next step "
              "boundary (students checkpoint) or teach shard boundary, exit {}", who_, relay_size_ - 1, kExitPreempted);
    for (int r = 0; r < relay_size_; ++r)
      if (r != relay_rank_) comm::world_group().send(relay_rank_, r, kStopRelayTag);
  }
  while (const auto message = comm::world_group().receive_any(kStopRelayTag)) {
    if (!g_stop) log::info("{}: rank {} was sent a stop signal; stopping with it", who_, message->first);
    g_stop = 1;
  }
}

void Watchdog::watch() {
  const double check_s = timeout_s_ > 0 ? std::min(1.0, timeout_s_ / 4) : kRelayPollS;
  const auto period = std::chrono::duration<double>(relay_size_ > 1 ? std::min(check_s, kRelayPollS) : check_s);
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return done_; })) {
    if (relay_size_ > 1) relay_stop();
    if (timeout_s_ <= 0 || !armed_) continue;
    const double idle = static_cast<double>(now_ns() - last_beat_ns_.load()) / 1e9;
    if (idle >= timeout_s_) {
      on_expire_(fmt::format("{}: step {} made no progress for {:.0f} s (train.step_timeout_s = {}) while {}; "
                             "a peer rank is stopped, dead or too slow",
                             who_, step_.load(), idle, timeout_s_, phase_.load()));
      return;
    }
  }
}

}  // namespace retort::core
