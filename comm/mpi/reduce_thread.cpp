// The MPI reducer's communication thread: blocking MPI_Allreduce per bucket, averaging, a
// deadline-bounded wait, and the rules for a thread that never comes back from MPI.
#include "comm/mpi/reduce_thread.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>

#include "comm/mpi_check.h"
#include "core/base/error.h"

namespace retort::comm {
namespace {

// inout[i] = bf16(in[i] + inout[i]), the sum done in fp32 (commutative, so deterministic for a
// fixed algorithm and rank count).
void bf16_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  const bf16* a = static_cast<const bf16*>(in);
  bf16* b = static_cast<bf16*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
}

// What the thread is doing; changed under the mutex. `local`: a short pass over the gradient
// buffer (bf16 rounding, averaging); `mpi`: inside MPI_Allreduce, which may never return.
enum class Phase { idle, local, mpi };

}  // namespace

struct ReduceThread::Shared {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Op bf16_op = MPI_OP_NULL;
  float* grads = nullptr;
  std::vector<BucketRange> buckets;
  DType wire = DType::f32;
  int ranks = 1;
  std::vector<bf16> wire_buffer;  // bf16 wire only; MPI writes it until the collective returns

  std::mutex mutex;
  std::condition_variable work;  // to the thread: buckets released, or stop
  std::condition_variable done;  // to the waiter: the released buckets finished, an error, a phase left
  int released = 0;              // buckets [0, released) may run this step
  int finished = 0;              // buckets [0, finished) are averaged in the buffer
  Phase phase = Phase::idle;
  bool stop = false;
  std::string error;  // the first MPI error of the thread

  void to_wire(const BucketRange& r) {
    if (wire != DType::bf16) return;
    for (size_t i = r.begin; i < r.end; ++i) wire_buffer[i] = float_to_bf16(grads[i]);
  }

  int allreduce(const BucketRange& r) {
    const int n = static_cast<int>(r.end - r.begin);
    if (wire == DType::bf16) return MPI_Allreduce(MPI_IN_PLACE, wire_buffer.data() + r.begin, n, MPI_UINT16_T, bf16_op, comm);
    return MPI_Allreduce(MPI_IN_PLACE, grads + r.begin, n, MPI_FLOAT, MPI_SUM, comm);
  }

  // sum / S. For S a power of two, x * (1/S) rounds the same exact value x / S does, so the cheaper
  // multiplication gives bitwise the same result; other S divide.
  void average(const BucketRange& r) {
    const bool power_of_two = (ranks & (ranks - 1)) == 0;
    const float scale = power_of_two ? 1.0f / static_cast<float>(ranks) : static_cast<float>(ranks);
    if (wire == DType::bf16) {
      if (power_of_two) for (size_t i = r.begin; i < r.end; ++i) grads[i] = bf16_to_float(wire_buffer[i]) * scale;
      else for (size_t i = r.begin; i < r.end; ++i) grads[i] = bf16_to_float(wire_buffer[i]) / scale;
    } else {
      if (power_of_two) for (size_t i = r.begin; i < r.end; ++i) grads[i] *= scale;
      else for (size_t i = r.begin; i < r.end; ++i) grads[i] /= scale;
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
  // Our own communicator: the thread's collectives never interleave with the caller's.
  RETORT_MPI_CHECK(MPI_Comm_dup(comm, &s.comm));
  RETORT_MPI_CHECK(MPI_Comm_set_errhandler(s.comm, MPI_ERRORS_RETURN));
  if (wire == DType::bf16) {
    size_t count = 0;
    for (const BucketRange& r : s.buckets) count = std::max(count, r.end);
    s.wire_buffer.resize(count);
    RETORT_MPI_CHECK(MPI_Op_create(&bf16_sum, 1, &s.bf16_op));
  }
  thread_ = std::thread(&ReduceThread::run, shared_);
}

ReduceThread::~ReduceThread() {
  Shared& s = *shared_;
  std::unique_lock lock(s.mutex);
  s.stop = true;
  s.work.notify_one();
  s.done.wait(lock, [&] { return s.phase != Phase::local; });  // a pass over one bucket: short
  if (s.phase == Phase::mpi) {
    // Error path only: the step failed with a collective in flight (wait() timed out on a dead or
    // stalled peer, or another error unwound the step), and the caller is about to abort the job.
    // MPI_Allreduce may never return, so joining could hang and freeing the communicator or op
    // under a pending collective is not allowed: the thread is detached and they are leaked. The
    // shared state (the bf16 wire buffer MPI may still write) lives on with the thread, which
    // returns without touching the gradient buffer if MPI ever comes back; an fp32 all-reduce
    // writes the gradient buffer in place until then, as the job is ending.
    thread_.detach();
    return;
  }
  lock.unlock();
  thread_.join();
  if (s.bf16_op != MPI_OP_NULL) MPI_Op_free(&s.bf16_op);
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
    const int rc = s.allreduce(r);
    lock.lock();
    if (s.stop) return;  // abandoned while in MPI (see the destructor): the buffer may be gone

    if (rc != MPI_SUCCESS) {
      s.error = fmt::format("reducer: all-reduce of bucket {} [{}, {}) failed: MPI_Allreduce: {}", b, r.begin, r.end,
                            mpi_error_string(rc));
      s.phase = Phase::idle;
      s.done.notify_all();
      continue;
    }
    s.phase = Phase::local;
    lock.unlock();
    s.average(r);
    lock.lock();
    s.phase = Phase::idle;
    ++s.finished;
    // Wake the waiter only when it may be done (it waits for all released buckets), or stopping.
    if (s.finished == s.released || s.stop) s.done.notify_all();
  }
}

}  // namespace retort::comm
