// The NCCL transport of the gradient reducer (CUDA builds only); callers use make_reducer.
#pragma once
#ifdef RETORT_HAVE_CUDA
#include <mpi.h>

#include <memory>
#include <vector>

#include "comm/bucket_reducer.h"

namespace retort::comm {

// Collective over `comm` (creates an NCCL communicator of its ranks); device_grads is the device
// buffer the buckets index; config.compute_stream is the stream that writes the gradients.
std::unique_ptr<BucketReduction> make_nccl_reduction(MPI_Comm comm, float* device_grads,
                                                     std::vector<BucketRange> buckets, const ReducerConfig& config);

}  // namespace retort::comm
#endif
