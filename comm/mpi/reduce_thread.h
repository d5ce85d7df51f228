// The MPI transport of the gradient reducer (comm/bucket_reducer.h): a communication thread runs
// one ring all-reduce per bucket (ring_allreduce.h, the average fused into it), in bucket order,
// on its own duplicate of the communicator, while the caller goes on with backward. complete()
// runs the buckets the thread has not started itself, polling with its deadline, and otherwise
// waits with that deadline; a thread stuck in MPI is abandoned, never joined.
#pragma once
#include <mpi.h>

#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "comm/bucket_reducer.h"
#include "core/base/dtype.h"

namespace retort::comm {

class ReduceThread final : public BucketReduction {
 public:
  // Duplicates `comm` (collective over it) and starts the thread. Buckets hold at most INT_MAX
  // elements (input error otherwise). `wire` is f32 or bf16 (the bucket is rounded to bf16,
  // summed with fp32 adds rounded to bf16, then widened and divided). Needs MPI_THREAD_MULTIPLE.
  ReduceThread(MPI_Comm comm, float* grads, std::vector<BucketRange> buckets, DType wire);
  // Joins the idle thread; a thread still inside MPI (error path) is detached, see the .cpp.
  ~ReduceThread() override;
  ReduceThread(const ReduceThread&) = delete;
  ReduceThread& operator=(const ReduceThread&) = delete;

  // Buckets [0, n) of this step may be reduced (n only grows within a step). Never blocks on MPI.
  void release(int n) override;
  // Blocks until every bucket of this step is averaged in the buffer (all must be released), then
  // starts the next step; the released buckets the thread has not started run on this thread.
  // Past `timeout_s`, or after an MPI error, throws a runtime error naming the first unfinished
  // bucket; the thread then finishes a ring this thread had begun, and a later call waits again.
  void complete(double timeout_s) override;

 private:
  struct Shared;
  static void run(const std::shared_ptr<Shared>& shared);

  // Held by the thread too: a thread abandoned inside MPI outlives this object.
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace retort::comm
