// Lets one kernel source compile under nvcc (real device) and under g++ against the SIMT
// emulator in tests/simt (define RETORT_SIMT and include tests/simt/simt.h first). Provides the
// one launch wrapper (the only `<<<>>>` in the project), the Stream type and dynamic smem.
#pragma once

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include "core/base/cuda_check.h"

namespace retort::kernels::gpu {

using Stream = cudaStream_t;

// launch(kernel, grid, block, smem, stream, args...): the single place a kernel is launched.
// Arguments convert to the kernel's parameter types; a launch failure throws retort::Error.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Stream stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "launch: wrong number of kernel arguments");
  kernel<<<grid, block, smem, stream>>>(static_cast<Params>(args)...);
  RETORT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace retort::kernels::gpu

// Dynamic shared memory as a typed pointer named `name`.
#define RETORT_DYNAMIC_SMEM(type, name)                           \
  extern __shared__ __align__(16) unsigned char name##_bytes_[]; \
  type* name = reinterpret_cast<type*>(name##_bytes_)

#elif defined(RETORT_SIMT)
#include "tests/simt/simt.h"

namespace retort::kernels::gpu {
using Stream = retort::simt::Stream;
using retort::simt::launch;
}  // namespace retort::kernels::gpu

#define RETORT_DYNAMIC_SMEM(type, name) type* name = static_cast<type*>(retort::simt::dynamic_smem())

#else
#error "kernels/cuda/*.cuh compile under nvcc, or under g++ with RETORT_SIMT (tests/simt emulator)"
#endif
