// Deadline-bounded polling of MPI requests.
#include "comm/mpi/request_wait.h"

#include <fmt/format.h>

#include <thread>

#include "comm/mpi_check.h"

namespace retort::comm {

Clock::time_point deadline_after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

bool test_request(MPI_Request& request, MPI_Status* status) {
  int done = 0;
  RETORT_MPI_CHECK(MPI_Test(&request, &done, status));
  return done != 0;
}

bool poll_until(const std::function<bool()>& ready, Clock::time_point deadline) {
  // Spin briefly (latency), then yield, then sleep (ranks share few cores).
  for (long polls = 0; !ready(); ++polls) {
    if (polls > 64) {
      if (Clock::now() > deadline) return false;
      if (polls < 2000) std::this_thread::yield();
      else std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  return true;
}

void wait_until(const std::function<bool()>& ready, Clock::time_point deadline, double timeout_s,
                const std::function<std::string()>& describe, double* waited) {
  const auto start = Clock::now();
  if (!poll_until(ready, deadline)) RETORT_RUNTIME_ERROR(fmt::format("{} (no progress within {} s)", describe(), timeout_s));
  if (waited) *waited += std::chrono::duration<double>(Clock::now() - start).count();
}

void wait_request(MPI_Request& request, MPI_Status* status, Clock::time_point deadline, double timeout_s,
                  const std::function<std::string()>& describe, double* waited) {
  if (request == MPI_REQUEST_NULL) return;
  wait_until([&] { return test_request(request, status); }, deadline, timeout_s, describe, waited);
}

}  // namespace retort::comm
