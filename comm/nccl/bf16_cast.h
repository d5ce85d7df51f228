// Device casts between the fp32 gradient buffer and the bf16 wire of the NCCL reducer.
#pragma once
#ifdef RETORT_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace retort::comm {

// out[i] = bf16(in[i]) (round to nearest even), i < n, on `stream`.
void cast_f32_to_bf16(const float* in, uint16_t* out, size_t n, cudaStream_t stream);
// out[i] = float(in[i]), i < n, on `stream`.
void cast_bf16_to_f32(const uint16_t* in, float* out, size_t n, cudaStream_t stream);

}  // namespace retort::comm
#endif
