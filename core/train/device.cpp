// Device selection and validation for training jobs and their teachers.
#include "core/train/device.h"

#include <fmt/format.h>

#include "core/base/error.h"
#ifdef RETORT_HAVE_CUDA
#include <cuda_runtime.h>

#include "core/model/cuda_compute.h"
#endif

namespace retort::core {
namespace {

void validate_device_name(const std::string& key, const std::string& device) {
  if (device != "cpu" && device != "cuda") RETORT_INPUT_ERROR(key + ": must be cpu or cuda, got '" + device + "'");
#ifndef RETORT_HAVE_CUDA
  if (device == "cuda")
    RETORT_INPUT_ERROR(key + ": cuda, but this build has no CUDA (configure with RETORT_CUDA=ON and nvcc present)");
#endif
}

// With online teachers on cuda every rank of the job (teacher or student) takes its GPU by its
// node-local rank in the whole world, so the ranks of a node never share one (the NCCL logits
// channel is one communicator of all ranks). Both sides make this collective call exactly once.
bool placed_world_wide(const Config& config) { return config.online_teachers() && config.teacher_device() == "cuda"; }

// The Compute of the CUDA device at this rank's node-local rank in `placed` (collective over it);
// world_wide: a runtime error when the node has fewer GPUs than ranks.
std::shared_ptr<Compute> cuda_compute_of(comm::Group placed, bool world_wide, bool batch_invariant) {
#ifdef RETORT_HAVE_CUDA
  const int rank = placed.rank(), local_rank = placed.node_local_rank();
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  if (world_wide && count > 0 && local_rank >= count)
    RETORT_RUNTIME_ERROR(fmt::format("rank {}: node-local rank {}, but only {} GPUs are visible: with online teachers "
                                     "on cuda every rank needs its own GPU (one NCCL communicator of all ranks); set "
                                     "teacher.device: cpu or run fewer ranks per node",
                                     rank, local_rank, count));
  return make_cuda_compute(local_device_index(local_rank, count, rank), batch_invariant);
#else
  (void)placed, (void)world_wide, (void)batch_invariant;
  RETORT_INPUT_ERROR("device: cuda, but this build has no CUDA");
#endif
}

}  // namespace

void validate_device(const Config& c) {
  validate_device_name("device", c.device);
  if (c.device == "cpu" && c.transport == "nccl") RETORT_INPUT_ERROR("transport: nccl needs device: cuda");
  if (c.online_teachers()) validate_device_name(c.teacher.device == "auto" ? "device" : "teacher.device", c.teacher_device());
  if (c.device == "cuda" && c.transport == "mpi")
    RETORT_INPUT_ERROR("device: cuda trains with transport: nccl (or auto); transport: mpi would stage every "
                       "gradient through host memory, which the training engine does not do");
  // CPU teachers feeding GPU students: their logits reach the students in host memory over MPI.
  if (c.online_teachers() && c.transport == "nccl" && c.teacher_device() != "cuda")
    RETORT_INPUT_ERROR("transport: nccl carries the teacher logits between GPUs, but teacher.device is cpu: use "
                       "transport: auto (logits over mpi, gradients over nccl) or teacher.device: cuda");
}

int local_device_index(int local_rank, int device_count, int rank) {
  if (device_count <= 0)
    RETORT_RUNTIME_ERROR(fmt::format("rank {}: device: cuda, but no CUDA device is visible", rank));
  if (local_rank < 0) RETORT_RUNTIME_ERROR(fmt::format("rank {}: negative node-local rank {}", rank, local_rank));
  return local_rank % device_count;
}

std::shared_ptr<Compute> make_compute(const Config& config, comm::Group ranks) {
  validate_device(config);
  if (placed_world_wide(config)) {
    const comm::Group world = comm::world_group();
    if (config.device == "cpu") {
      world.node_local_rank();  // the teachers' collective placement call, matched
      return cpu_compute();
    }
    return cuda_compute_of(world, true, false);
  }
  if (config.device == "cpu") return cpu_compute();
  return cuda_compute_of(ranks, false, false);
}

std::shared_ptr<Compute> make_teacher_compute(const Config& config) {
  validate_device(config);
  if (config.teacher_device() == "cpu") return cpu_compute_batch_invariant();
  return cuda_compute_of(comm::world_group(), true, true);
}

}  // namespace retort::core
