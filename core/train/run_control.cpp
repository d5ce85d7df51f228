// Stop-request signal handling and the step watchdog.
#include "core/train/run_control.h"

#include <csignal>
#include <chrono>
#include <fmt/format.h>

#include "comm/world.h"
#include "core/base/log.h"

namespace retort::core {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int) { g_stop = 1; }

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
  if (timeout_s_ > 0) thread_ = std::thread([this] { watch(); });
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

void Watchdog::watch() {
  const auto period = std::chrono::duration<double>(std::min(1.0, timeout_s_ / 4));
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return done_; })) {
    if (!armed_) continue;
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
