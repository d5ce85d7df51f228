// The NCCL backend of the gradient reducer (CUDA builds only); callers use make_reducer.
#pragma once
#ifdef RETORT_HAVE_CUDA
#include <mpi.h>

#include <memory>

#include "comm/reducer.h"

namespace retort::comm {

// Collective over `comm` (creates an NCCL communicator of its ranks); device_grads is a device
// buffer of `count` floats; config.compute_stream is the stream that writes the gradients.
std::unique_ptr<GradReducer> make_nccl_reducer(MPI_Comm comm, float* device_grads, size_t count,
                                               const ReducerConfig& config);

}  // namespace retort::comm
#endif
