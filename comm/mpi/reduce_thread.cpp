// The MPI reducer's communication thread: a ring all-reduce per bucket (ring_allreduce.h), the
// caller running the buckets the idle thread has not started, a deadline-bounded wait, and the
// rules for a thread that never comes back from MPI.
#include "comm/mpi/reduce_thread.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "comm/mpi/request_wait.h"
#include "comm/mpi/ring_allreduce.h"
#include "comm/mpi_check.h"
#include "core/base/error.h"

namespace retort::comm {
namespace {

// Who runs a ring now; changed under the mutex. `thread`: the communication thread, blocked in
// the ring's MPI waits, which may never return when a peer is gone. `caller`: complete(), polling
// with its deadline. `handed`: complete()'s deadline passed mid-ring; the thread finishes that
// ring (blocking, as if it had run it from the start).
enum class Phase { idle, thread, caller, handed };

}  // namespace

struct ReduceThread::Shared {
  MPI_Comm comm = MPI_COMM_NULL;
  float* grads = nullptr;
  std::vector<BucketRange> buckets;
  DType wire = DType::f32;
  int ranks = 1;
  // The ring's chunk buffers: fp32 receives into `scratch`; the bf16 wire stages its outgoing
  // and incoming chunks in `wire_send` and `wire_recv`, both inside `wire_chunks`. MPI may write them
  // until the collective returns, so they live here, with the thread.
  std::vector<float> scratch;
  std::vector<bf16> wire_chunks;
  bf16* wire_send = nullptr;
  bf16* wire_recv = nullptr;

  std::mutex mutex;
  std::condition_variable work;  // to the thread: buckets released, or stop
  std::condition_variable done;  // to the waiter: the released buckets finished, or an error
  int released = 0;              // buckets [0, released) may run this step
  int finished = 0;              // buckets [0, finished) hold the average
  Phase phase = Phase::idle;
  bool stop = false;
  std::string error;  // the first error of a ring
  std::optional<RingAverage> ring;  // bucket `finished`'s ring, while it runs

  // The ring that leaves the average of bucket `r` in the gradient buffer (only the one running
  // rings touches `ring`).
  void start_ring(const BucketRange& r) {
    ring.emplace(comm, grads + r.begin, static_cast<int>(r.end - r.begin), wire, scratch.data(), wire_send, wire_recv);
  }
  std::string failed(const BucketRange& r, const std::string& why) const {
    return fmt::format("reducer: all-reduce of bucket {} [{}, {}) failed: {}", finished, r.begin, r.end, why);
  }
  std::string timed_out(double timeout_s) const {
    const BucketRange& r = buckets[static_cast<size_t>(finished)];
    return fmt::format("reducer: all-reduce of bucket {} [{}, {}) did not complete (no progress within {} s)",
                       finished, r.begin, r.end, timeout_s);
  }
};

namespace {

// The message of the exception in flight (inside a catch block).
std::string current_error() {
  try {
    throw;
  } catch (const Error& e) {
    return e.message();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace

ReduceThread::ReduceThread(MPI_Comm comm, float* grads, std::vector<BucketRange> buckets, DType wire)
    : shared_(std::make_shared<Shared>()) {
  validate_reducer_config({.wire = wire});
  for (const BucketRange& r : buckets)
    if (r.end - r.begin > static_cast<size_t>(INT_MAX))
      RETORT_INPUT_ERROR(fmt::format("comm bucket of {} bytes exceeds MPI's element count limit",
                                     (r.end - r.begin) * sizeof(float)));
  int provided = MPI_THREAD_SINGLE;
  RETORT_MPI_CHECK(MPI_Query_thread(&provided));
  if (provided < MPI_THREAD_MULTIPLE)
    RETORT_RUNTIME_ERROR(fmt::format("reducer: the MPI backend all-reduces on a communication thread and needs "
                                     "MPI_THREAD_MULTIPLE ({}); MPI provides thread level {}",
                                     MPI_THREAD_MULTIPLE, provided));
  Shared& s = *shared_;
  s.grads = grads;
  s.buckets = std::move(buckets);
  s.wire = wire;
  RETORT_MPI_CHECK(MPI_Comm_size(comm, &s.ranks));
  size_t largest = 0;
  for (const BucketRange& r : s.buckets) largest = std::max(largest, r.end - r.begin);
  const size_t chunk = (largest + static_cast<size_t>(s.ranks) - 1) / static_cast<size_t>(s.ranks);
  if (wire == DType::bf16) {
    // The reduction reads recv[i] just after writing send[i - a few]: with both at the same
    // offset modulo 4 KiB the loads falsely depend on those stores (4K aliasing, measured 5x
    // slower), so recv starts 2 KiB further round the page.
    const size_t pad = (3072 - chunk % 2048) % 2048;
    s.wire_chunks.resize(2 * chunk + pad);
    s.wire_send = s.wire_chunks.data();
    s.wire_recv = s.wire_chunks.data() + chunk + pad;
  } else {
    s.scratch.resize(chunk);
  }
  // Our own communicator: the thread's messages never mix with the caller's.
  RETORT_MPI_CHECK(MPI_Comm_dup(comm, &s.comm));
  RETORT_MPI_CHECK(MPI_Comm_set_errhandler(s.comm, MPI_ERRORS_RETURN));
  thread_ = std::thread(&ReduceThread::run, shared_);
}

ReduceThread::~ReduceThread() {
  Shared& s = *shared_;
  std::unique_lock lock(s.mutex);
  s.stop = true;
  s.work.notify_one();
  if (s.phase == Phase::thread || s.phase == Phase::handed) {
    // Error path only: the step failed with a bucket in flight (wait() timed out on a dead or
    // stalled peer, or another error unwound the step), and the caller is about to abort the job.
    // The thread's MPI waits may never return, so joining could hang and freeing the
    // communicator under a pending operation is not allowed: the thread is detached and the
    // communicator leaked. The shared state (buffers MPI may still write) lives on with the
    // thread, which leaves without touching the gradient buffer again if MPI ever returns; a
    // ring (fp32 or bf16) writes the gradient buffer in place until then, as the job is ending.
    thread_.detach();
    return;
  }
  lock.unlock();
  thread_.join();
  MPI_Comm_free(&s.comm);
}

void ReduceThread::release(int n) {
  {
    std::lock_guard lock(shared_->mutex);
    if (n <= shared_->released) return;
    shared_->released = n;
  }
  shared_->work.notify_one();
}

void ReduceThread::complete(double timeout_s) {
  const Clock::time_point deadline = deadline_after(timeout_s);
  Shared& s = *shared_;
  const int all = static_cast<int>(s.buckets.size());
  std::unique_lock lock(s.mutex);
  // Buckets the thread has not started (it is asleep, or not yet scheduled since release()) run
  // here: the last buckets of a step are released just before complete(), and handing them to
  // the thread and waking this one again cost more than the ring at 1 MB.
  if (s.phase == Phase::idle && s.error.empty() && s.finished < s.released) {
    s.phase = Phase::caller;
    while (s.finished < s.released) {
      const BucketRange r = s.buckets[static_cast<size_t>(s.finished)];
      lock.unlock();
      bool done = false;
      std::string failure;
      try {
        s.start_ring(r);
        done = s.ring->run(&deadline);
      } catch (...) {
        failure = current_error();
      }
      lock.lock();
      if (!failure.empty()) {
        s.error = s.failed(r, failure);
        s.phase = Phase::idle;
        RETORT_RUNTIME_ERROR(s.error);
      }
      if (!done) {  // the thread finishes this ring and the rest; a later complete() waits for them
        s.phase = Phase::handed;
        s.work.notify_one();
        RETORT_RUNTIME_ERROR(s.timed_out(timeout_s));
      }
      s.ring.reset();
      ++s.finished;
    }
    s.phase = Phase::idle;
  }
  const bool ended = s.done.wait_until(lock, deadline, [&] { return s.finished == all || !s.error.empty(); });
  if (!s.error.empty()) RETORT_RUNTIME_ERROR(s.error);
  if (!ended) RETORT_RUNTIME_ERROR(s.timed_out(timeout_s));
  s.released = 0;
  s.finished = 0;
}

void ReduceThread::run(const std::shared_ptr<Shared>& shared) {
  Shared& s = *shared;
  std::unique_lock lock(s.mutex);
  for (;;) {
    s.work.wait(lock, [&] {
      return s.phase == Phase::handed || s.stop || (s.error.empty() && s.phase == Phase::idle && s.finished < s.released);
    });
    // A ring handed over mid-way is finished even when stopping: MPI may still write its buffers.
    const bool resume = s.phase == Phase::handed;
    if (s.stop && !resume) return;
    const BucketRange r = s.buckets[static_cast<size_t>(s.finished)];
    s.phase = Phase::thread;
    lock.unlock();
    std::string failure;
    try {
      if (!resume) s.start_ring(r);
      s.ring->run(nullptr);
    } catch (...) {
      failure = current_error();
    }
    lock.lock();
    if (s.stop) return;  // abandoned while in MPI (see the destructor): the buffer may be gone
    s.ring.reset();
    s.phase = Phase::idle;
    if (!failure.empty()) {
      s.error = s.failed(r, failure);
      s.done.notify_all();
      continue;
    }
    ++s.finished;
    // Wake the waiter only when it may be done (it waits for all released buckets), or stopping.
    if (s.finished == s.released || s.stop) s.done.notify_all();
  }
}

}  // namespace retort::comm
