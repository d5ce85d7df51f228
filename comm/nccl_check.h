// The one check macro for NCCL calls (CUDA builds only): a failing ncclResult_t throws a runtime
// retort::Error naming the call, NCCL's error string (and last error detail), file and line.
#pragma once
#ifdef RETORT_HAVE_CUDA
#include <nccl.h>

#include <string>

#include "core/base/error.h"

#define RETORT_NCCL_CHECK(call)                                                                 \
  do {                                                                                          \
    const ncclResult_t retort_nccl_status_ = (call);                                            \
    if (retort_nccl_status_ != ncclSuccess)                                                     \
      ::retort::throw_runtime(std::string(#call) + " failed: " +                                \
                                  ncclGetErrorString(retort_nccl_status_),                      \
                              __FILE__, __LINE__);                                              \
  } while (0)
#endif
