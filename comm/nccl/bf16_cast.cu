// Grid-stride fp32 <-> bf16 cast kernels for the NCCL reducer's bf16 wire.
// Shapes: in[n] -> out[n], one thread per element (grid-stride), 256 threads per block.
#include <cuda_bf16.h>

#include <algorithm>

#include "comm/nccl/bf16_cast.h"
#include "core/base/cuda_check.h"

namespace retort::comm {
namespace {

__global__ void f32_to_bf16_kernel(const float* in, __nv_bfloat16* out, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16(in[i]);
}

__global__ void bf16_to_f32_kernel(const __nv_bfloat16* in, float* out, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    out[i] = __bfloat162float(in[i]);
}

unsigned blocks_for(size_t n) { return static_cast<unsigned>(std::min<size_t>((n + 255) / 256, 4096)); }

}  // namespace

void cast_f32_to_bf16(const float* in, uint16_t* out, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  f32_to_bf16_kernel<<<blocks_for(n), 256, 0, stream>>>(in, reinterpret_cast<__nv_bfloat16*>(out), n);
  RETORT_CUDA_CHECK(cudaGetLastError());
}

void cast_bf16_to_f32(const uint16_t* in, float* out, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  bf16_to_f32_kernel<<<blocks_for(n), 256, 0, stream>>>(reinterpret_cast<const __nv_bfloat16*>(in), out, n);
  RETORT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace retort::comm
