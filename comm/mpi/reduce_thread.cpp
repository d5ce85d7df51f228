// The MPI reducer's communication thread: a ring all-reduce per bucket (ring_allreduce.h), a
// deadline-bounded wait, and the rules for a thread that never comes back from MPI.
#include "comm/mpi/reduce_thread.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <utility>

#include "comm/mpi/ring_allreduce.h"
#include "comm/mpi_check.h"
#include "core/base/error.h"

namespace retort::comm {
namespace {

// What the thread is doing; changed under the mutex. `local`: a short pass over the gradient
// buffer (bf16 rounding and widening); `mpi`: inside the ring's MPI_Sendrecv steps, which may
// never return when a peer is gone.
enum class Phase { idle, local, mpi };

}  // namespace

struct ReduceThread::Shared {
  MPI_Comm comm = MPI_COMM_NULL;
  float* grads = nullptr;
  std::vector<BucketRange> buckets;
  DType wire = DType::f32;
  int ranks = 1;
  // The ring's receive buffer (one chunk), and for the bf16 wire the bf16 copy of the gradients.
  // MPI may write both until the collective returns, so they live here, with the thread.
  std::vector<float> scratch;
  std::vector<bf16> wire_buffer, wire_scratch;

  std::mutex mutex;
  std::condition_variable work;  // to the thread: buckets released, or stop
  std::condition_variable done;  // to the waiter: the released buckets finished, an error, a phase left
  int released = 0;              // buckets [0, released) may run this step
  int finished = 0;              // buckets [0, finished) hold the average
  Phase phase = Phase::idle;
  bool stop = false;
  std::string error;  // the thread's first error

  // bf16 wire: round the bucket to bf16 before the ring.
  void to_wire(const BucketRange& r) {
    if (wire != DType::bf16) return;
    for (size_t i = r.begin; i < r.end; ++i) wire_buffer[i] = float_to_bf16(grads[i]);
  }

  // fp32: the ring leaves the average in the gradient buffer; bf16: it leaves the sum on the wire.
  void reduce(const BucketRange& r) {
    const int n = static_cast<int>(r.end - r.begin);
    if (wire == DType::bf16) ring_sum_bf16(comm, wire_buffer.data() + r.begin, n, wire_scratch.data());
    else ring_average(comm, grads + r.begin, n, scratch.data());
  }

  // bf16 wire: widen the bf16 sum and divide by S (x * 2^-k for S = 2^k rounds the same as x / S).
  void from_wire(const BucketRange& r) {
    if (wire != DType::bf16) return;
    if ((ranks & (ranks - 1)) == 0) {
      const float inverse = 1.0f / static_cast<float>(ranks);
      for (size_t i = r.begin; i < r.end; ++i) grads[i] = bf16_to_float(wire_buffer[i]) * inverse;
    } else {
      const float divisor = static_cast<float>(ranks);
      for (size_t i = r.begin; i < r.end; ++i) grads[i] = bf16_to_float(wire_buffer[i]) / divisor;
    }
  }
};

ReduceThread::ReduceThread(MPI_Comm comm, float* grads, std::vector<BucketRange> buckets, DType wire)
    : shared_(std::make_shared<Shared>()) {
  if (wire != DType::f32 && wire != DType::bf16)
    RETORT_INPUT_ERROR(fmt::format("comm.grad_dtype {} is not fp32 or bf16", dtype_name(wire)));
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
  size_t count = 0, largest = 0;
  for (const BucketRange& r : s.buckets) {
    count = std::max(count, r.end);
    largest = std::max(largest, r.end - r.begin);
  }
  const size_t chunk = (largest + static_cast<size_t>(s.ranks) - 1) / static_cast<size_t>(s.ranks);
  if (wire == DType::bf16) {
    s.wire_buffer.resize(count);
    s.wire_scratch.resize(chunk);
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
  s.done.wait(lock, [&] { return s.phase != Phase::local; });  // a pass over one bucket: short
  if (s.phase == Phase::mpi) {
    // Error path only: the step failed with a bucket in flight (wait() timed out on a dead or
    // stalled peer, or another error unwound the step), and the caller is about to abort the job.
    // The thread's MPI_Sendrecv may never return, so joining could hang and freeing the
    // communicator under a pending operation is not allowed: the thread is detached and the
    // communicator leaked. The shared state (buffers MPI may still write) lives on with the
    // thread, which leaves without touching the gradient buffer again if MPI ever returns; an
    // fp32 ring writes the gradient buffer in place until then, as the job is ending.
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

void ReduceThread::wait_all(Clock::time_point deadline, double timeout_s) {
  Shared& s = *shared_;
  const int all = static_cast<int>(s.buckets.size());
  std::unique_lock lock(s.mutex);
  const bool ended = s.done.wait_until(lock, deadline, [&] { return s.finished == all || !s.error.empty(); });
  if (!s.error.empty()) RETORT_RUNTIME_ERROR(s.error);
  if (!ended) {
    const BucketRange& r = s.buckets[static_cast<size_t>(s.finished)];
    RETORT_RUNTIME_ERROR(fmt::format("reducer: all-reduce of bucket {} [{}, {}) did not complete (no progress within {} s)",
                                     s.finished, r.begin, r.end, timeout_s));
  }
  s.released = 0;
  s.finished = 0;
}

void ReduceThread::run(const std::shared_ptr<Shared>& shared) {
  Shared& s = *shared;
  std::unique_lock lock(s.mutex);
  for (;;) {
    s.work.wait(lock, [&] { return s.stop || (s.error.empty() && s.finished < s.released); });
    if (s.stop) return;
    const int b = s.finished;
    const BucketRange r = s.buckets[static_cast<size_t>(b)];

    s.phase = Phase::local;
    lock.unlock();
    s.to_wire(r);
    lock.lock();
    if (s.stop) {  // the reducer is going away: do not start a collective it will not wait for
      s.phase = Phase::idle;
      s.done.notify_all();
      return;
    }
    s.phase = Phase::mpi;
    lock.unlock();
    std::string failure;
    try {
      s.reduce(r);
    } catch (const Error& e) {
      failure = e.message();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    lock.lock();
    if (s.stop) return;  // abandoned while in MPI (see the destructor): the buffer may be gone

    if (!failure.empty()) {
      s.error = fmt::format("reducer: all-reduce of bucket {} [{}, {}) failed: {}", b, r.begin, r.end, failure);
      s.phase = Phase::idle;
      s.done.notify_all();
      continue;
    }
    s.phase = Phase::local;
    lock.unlock();
    s.from_wire(r);
    lock.lock();
    s.phase = Phase::idle;
    ++s.finished;
    // Wake the waiter only when it may be done (it waits for all released buckets), or stopping.
    if (s.finished == s.released || s.stop) s.done.notify_all();
  }
}

}  // namespace retort::comm
