// The batch-invariant linear forward on the device: the kernel of linear_invariant.cuh on one
// stream (no cuBLAS: its algorithm choice, and split-K, depend on the shape).
#include <cuda_runtime.h>

#include "kernels/cuda/linear_invariant.cuh"
#include "kernels/cuda/linear_invariant_cuda.h"

namespace retort::kernels {

void linear_forward_batch_invariant_cuda(const float* x, const float* w, const float* b, float* y, int64_t rows,
                                         int64_t in, int64_t out, void* stream) {
  gpu::enqueue_linear_invariant(x, w, b, y, rows, in, out, static_cast<cudaStream_t>(stream));
}

}  // namespace retort::kernels
