// Device selection and validation for training jobs.
#include "core/train/device.h"

#include <fmt/format.h>

#include "core/base/error.h"
#ifdef RETORT_HAVE_CUDA
#include <cuda_runtime.h>

#include "core/model/cuda_compute.h"
#endif

namespace retort::core {

void validate_device(const Config& c) {
  if (c.device == "cpu") return;
  if (c.device != "cuda") RETORT_INPUT_ERROR("device: must be cpu or cuda, got '" + c.device + "'");
#ifndef RETORT_HAVE_CUDA
  RETORT_INPUT_ERROR("device: cuda, but this build has no CUDA (configure with RETORT_CUDA=ON and nvcc present)");
#endif
  if (c.transport == "mpi")
    RETORT_INPUT_ERROR("device: cuda trains with transport: nccl (or auto); transport: mpi would stage every "
                       "gradient through host memory, which the training engine does not do");
  // Distillation: the students train on the GPU; teachers always run on the CPU (batch-invariant
  // forward), so their logits reach the students in host memory, over MPI when they are online.
  if (c.online_teachers() && c.transport == "nccl")
    RETORT_INPUT_ERROR("device: cuda with online teachers and transport: nccl: teachers run on the CPU, so "
                       "their logits travel over MPI; use transport: auto (gradients still go over NCCL)");
}

int local_device_index(int local_rank, int device_count, int rank) {
  if (device_count <= 0)
    RETORT_RUNTIME_ERROR(fmt::format("rank {}: device: cuda, but no CUDA device is visible", rank));
  if (local_rank < 0) RETORT_RUNTIME_ERROR(fmt::format("rank {}: negative node-local rank {}", rank, local_rank));
  return local_rank % device_count;
}

std::shared_ptr<Compute> make_compute(const Config& config, comm::Group ranks) {
  validate_device(config);
  if (config.device == "cpu") return cpu_compute();
#ifdef RETORT_HAVE_CUDA
  int count = 0;
  const int rank = ranks.rank(), local_rank = ranks.node_local_rank();
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  return make_cuda_compute(local_device_index(local_rank, count, rank));
#else
  (void)ranks;
  RETORT_INPUT_ERROR("device: cuda, but this build has no CUDA");
#endif
}

}  // namespace retort::core
