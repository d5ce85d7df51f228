// The bucketed gradient reducer over one flat fp32 gradient buffer shared by all students:
// buckets of `bucket_bytes` in reverse parameter order, each all-reduced (averaged over the
// students) as soon as all its elements were marked ready, overlapping the rest of backward.
// The interface only: comm/backends.h makes one for a transport.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/base/dtype.h"

namespace retort::comm {

struct ReducerConfig {
  // comm.bucket_mb (16 MB CPU, 25 MB GPU default); rounded down to whole fp32 elements, >= 1.
  size_t bucket_bytes = 16u << 20;
  DType wire = DType::f32;          // comm.grad_dtype: f32 or bf16 on the wire
  double timeout_s = 300;           // deadline of wait()
  // NCCL only: the compute stream (cudaStream_t) that produces the gradients.
  void* compute_stream = nullptr;
};

class GradReducer {
 public:
  virtual ~GradReducer() = default;
  // Elements [offset, offset + count) of the gradient buffer are final for this step. Ranges
  // must not overlap within a step. Buckets are started in bucket order (the bucket holding the
  // buffer's end first) as soon as they and all earlier buckets are complete; progress is made.
  virtual void mark_ready(size_t offset, size_t count) = 0;
  // Makes progress on started buckets without blocking (a no-op where the backend progresses on
  // its own: the MPI backend's communication thread, NCCL's stream).
  virtual void progress() = 0;
  // Starts whatever is left (all elements must have been marked), completes every bucket, and
  // leaves the average over students in the buffer. Resets the marks for the next step.
  // NCCL: "completes" means the compute stream waits for the last bucket; the host never blocks.
  virtual void wait() = 0;
  virtual int bucket_count() const = 0;
  // Buckets are ranges [begin, end) of the buffer; bucket 0 ends at the buffer's end.
  virtual size_t bucket_begin(int bucket) const = 0;
  virtual size_t bucket_end(int bucket) const = 0;
};

}  // namespace retort::comm
