// Waiting on MPI requests with a deadline (polling MPI_Test with back-off), so that no blocking
// operation of the channel can hang forever on a peer that stopped; deadlines (the reducer's too).
#pragma once
#include <mpi.h>

#include <chrono>
#include <functional>
#include <string>

namespace retort::comm {

using Clock = std::chrono::steady_clock;

// Deadline `seconds` from now.
Clock::time_point deadline_after(double seconds);

// True when `request` completed (status filled); MPI errors throw.
bool test_request(MPI_Request& request, MPI_Status* status = MPI_STATUS_IGNORE);

// Polls `request` until it completes; past `deadline` throws a runtime error whose message is
// describe() + " (no progress within <timeout> s)". Adds the seconds spent to *waited if given.
void wait_request(MPI_Request& request, MPI_Status* status, Clock::time_point deadline, double timeout_s,
                  const std::function<std::string()>& describe, double* waited = nullptr);

// Calls ready() (it should make MPI progress) until it is true: spins briefly, then yields, then
// sleeps between calls (ranks share few cores). False once `deadline` has passed.
bool poll_until(const std::function<bool()>& ready, Clock::time_point deadline);

// Polls until ready() is true, calling it repeatedly (it should make MPI progress); same deadline
// behaviour as wait_request.
void wait_until(const std::function<bool()>& ready, Clock::time_point deadline, double timeout_s,
                const std::function<std::string()>& describe, double* waited = nullptr);

}  // namespace retort::comm
