// CUDA entry points of the LM teacher's target encoding (kernels/cuda/target_encode.cuh): teacher
// logits already in device memory become dense or top-k + lse rows there, so their payload never
// visits the host. Device pointers; work enqueued on `stream` (a cudaStream_t).
#pragma once
#include <cstdint>

namespace retort::kernels {

// logits[count] -> out[count]: fp32 (a copy) or, with bf16_out, bf16 rounded to nearest even.
void encode_dense_targets_cuda(const float* logits, int64_t count, bool bf16_out, void* out, void* stream);

// logits[rows, vocab] -> values[rows, k] (fp32 | bf16 with bf16_out), ids[rows, k], lse[rows]:
// core/lm/lm_targets.h's top-k (descending, ties to the lower id; ids and values bitwise the CPU
// encoder's) and lse at `temperature` (within float rounding of the CPU's; NaN marks a row with
// a non-finite logit, which the caller must refuse).
void encode_topk_lse_cuda(const float* logits, int64_t rows, int64_t vocab, int32_t k, float temperature,
                          bool bf16_out, void* values, uint32_t* ids, float* lse, void* stream);

}  // namespace retort::kernels
