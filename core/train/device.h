// The compute backend of a training job, chosen once at the edge from the config's `device:`
// (DESIGN principle 3): the CPU, or the CUDA device picked from the node-local rank (the rule
// comm/nccl uses, so a rank's model and its NCCL communicator share one GPU).
#pragma once
#include <memory>

#include "comm/collectives.h"
#include "core/config/config.h"
#include "core/model/compute.h"

namespace retort::core {

// Input error naming the key when the training engine cannot run `device:` / `teacher.device:`
// with this config: an unknown device, cuda in a build without CUDA, cuda with transport mpi
// (gradients stay on the device and are all-reduced with NCCL), online CPU teachers with
// transport nccl (their logits are host memory: they come over MPI and the student uploads them).
void validate_device(const Config& config);

// The CUDA device of the process with node-local rank `local_rank` when `device_count` devices
// are visible: local_rank % device_count. Runtime error naming `rank` when there is none.
int local_device_index(int local_rank, int device_count, int rank);

// cpu_compute() for device: cpu; for device: cuda the Compute of the local device of this rank
// of `ranks` (collective over `ranks`: the node-local rank picks the device). When online
// teachers run on cuda it is collective over the whole world instead, on every student (cpu
// too), matching make_teacher_compute, so every rank of a node gets its own GPU. Validates first.
std::shared_ptr<Compute> make_compute(const Config& config, comm::Group ranks);
// An online teacher rank's Compute, in batch-invariant mode: the CPU one for teacher.device cpu,
// else the CUDA device of this rank's world node-local rank (collective over the world, matching
// the students' make_compute). Validates first.
std::shared_ptr<Compute> make_teacher_compute(const Config& config);

}  // namespace retort::core
