// The gradient reducer, written once for every transport: the bucket plan's marks, the
// in-order starts and wait()'s checks. A BucketReduction (the transport's part: MPI's ring on a
// communication thread, NCCL's all-reduce on a stream) averages the buckets it is given.
// Internal to comm/: callers use make_reducer (comm/backends.h).
#pragma once
#include <memory>

#include "comm/buckets.h"
#include "comm/reducer.h"

namespace retort::comm {

class BucketReduction {
 public:
  virtual ~BucketReduction() = default;
  // Buckets [0, n) of this step may be reduced now (n only grows within a step; all ranks
  // release the same buckets in the same order). Never blocks on a peer.
  virtual void release(int n) = 0;
  // Every bucket of the step was released: completes the step (MPI: blocks until the averages
  // are in the buffer, a runtime error past `timeout_s`; NCCL: the compute stream waits for the
  // last bucket) and starts the next one.
  virtual void complete(double timeout_s) = 0;
};

// Input error unless config.wire is f32 or bf16.
void validate_reducer_config(const ReducerConfig& config);

// The reducer over `plan`'s buckets, reduced by `reduction` (made for plan.ranges()).
std::unique_ptr<GradReducer> make_bucket_reducer(BucketPlan plan, const ReducerConfig& config,
                                                 std::unique_ptr<BucketReduction> reduction);

}  // namespace retort::comm
