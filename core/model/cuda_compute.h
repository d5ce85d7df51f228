// The CUDA Compute (CUDA builds only): device memory, one non-blocking stream, cuBLAS SGEMMs
// and the hand-written kernels of kernels/engine_cuda.h, kernels/kd_loss.h and the transformer
// ops (kernels/cuda/transformer_cuda.h). Dropout keys, labels and kd_loss's teacher logits are
// copied from the host into reusable device buffers.
#pragma once
#ifdef RETORT_HAVE_CUDA
#include <memory>

#include "core/model/compute.h"

namespace retort::core {

// Makes `device` current for this process and returns a Compute on it. Throws a runtime error
// naming the device when it cannot be used. batch_invariant: every linear_forward runs the
// fixed-order kernel of kernels/cuda/linear_invariant_cuda.h (teacher forwards; see Compute).
std::shared_ptr<Compute> make_cuda_compute(int device, bool batch_invariant = false);

}  // namespace retort::core
#endif
