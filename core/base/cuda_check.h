// The one check macro for CUDA runtime calls (and cuBLAS status codes): a failure throws a
// runtime retort::Error naming the call, the CUDA error string, file and line.
#pragma once
#ifdef RETORT_HAVE_CUDA
#include <cuda_runtime.h>

#include <string>

#include "core/base/error.h"

#define RETORT_CUDA_CHECK(call)                                                               \
  do {                                                                                        \
    cudaError_t retort_cuda_status_ = (call);                                                 \
    if (retort_cuda_status_ != cudaSuccess)                                                   \
      ::retort::throw_runtime(std::string(#call) + " failed: " +                              \
                                  cudaGetErrorString(retort_cuda_status_),                    \
                              __FILE__, __LINE__);                                            \
  } while (0)
#endif
