// The one check macro for MPI calls: a failing return code throws a runtime retort::Error naming
// the call, MPI's error string, file and line. (Communicators we own use MPI_ERRORS_RETURN.)
#pragma once
#include <mpi.h>

#include <string>

#include "core/base/error.h"

namespace retort::comm {
// "MPI_ERR_TRUNCATE: message truncated" style text for an MPI return code.
std::string mpi_error_string(int code);
}  // namespace retort::comm

#define RETORT_MPI_CHECK(call)                                                                  \
  do {                                                                                          \
    const int retort_mpi_status_ = (call);                                                      \
    if (retort_mpi_status_ != MPI_SUCCESS)                                                      \
      ::retort::throw_runtime(std::string(#call) + " failed: " +                                \
                                  ::retort::comm::mpi_error_string(retort_mpi_status_),         \
                              __FILE__, __LINE__);                                              \
  } while (0)
