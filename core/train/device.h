// The compute backend of a training job, chosen once at the edge from the config's `device:`
// (DESIGN principle 3): the CPU, or the CUDA device picked from the node-local rank (the rule
// comm/nccl uses, so a rank's model and its NCCL communicator share one GPU).
#pragma once
#include <memory>

#include "comm/collectives.h"
#include "core/config/config.h"
#include "core/model/compute.h"

namespace retort::core {

// Input error naming the key when the training engine cannot run `device:` with this config:
// an unknown device, cuda in a build without CUDA, cuda with transport mpi (gradients stay on
// the device and are all-reduced with NCCL), cuda with online teachers and transport nccl
// (teachers always run on the CPU; their logits come over MPI and are uploaded by the student).
void validate_device(const Config& config);

// The CUDA device of the process with node-local rank `local_rank` when `device_count` devices
// are visible: local_rank % device_count. Runtime error naming `rank` when there is none.
int local_device_index(int local_rank, int device_count, int rank);

// cpu_compute() for device: cpu; for device: cuda the Compute of the local device of this rank
// of `ranks` (collective over `ranks`: the node-local rank picks the device). Validates first.
std::shared_ptr<Compute> make_compute(const Config& config, comm::Group ranks);

}  // namespace retort::core
