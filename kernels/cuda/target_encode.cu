// The LM teacher's target encoding on the device: the kernels of target_encode.cuh on one stream.
#include <cuda_runtime.h>

#include "kernels/cuda/target_encode.cuh"
#include "kernels/cuda/target_encode_cuda.h"

namespace retort::kernels {

void encode_dense_targets_cuda(const float* logits, int64_t count, bool bf16_out, void* out, void* stream) {
  gpu::enqueue_dense_targets(logits, count, bf16_out, out, static_cast<cudaStream_t>(stream));
}

void encode_topk_lse_cuda(const float* logits, int64_t rows, int64_t vocab, int32_t k, float temperature,
                          bool bf16_out, void* values, uint32_t* ids, float* lse, void* stream) {
  gpu::enqueue_topk_lse(logits, rows, vocab, k, temperature, bf16_out, values, ids, lse,
                        static_cast<cudaStream_t>(stream));
}

}  // namespace retort::kernels
