// The one check macro for cuBLAS calls: a status other than CUBLAS_STATUS_SUCCESS throws a
// runtime retort::Error naming the call, the cuBLAS status string, file and line.
#pragma once
#include <cublas_v2.h>

#include <string>

#include "core/base/error.h"

#define RETORT_CUBLAS_CHECK(call)                                                              \
  do {                                                                                         \
    cublasStatus_t retort_cublas_status_ = (call);                                             \
    if (retort_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                        \
      ::retort::throw_runtime(std::string(#call) + " failed: " +                               \
                                  cublasGetStatusString(retort_cublas_status_),                \
                              __FILE__, __LINE__);                                             \
  } while (0)
