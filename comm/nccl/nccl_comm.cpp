// NCCL communicator bootstrap over MPI and device selection.
#include "comm/nccl/nccl_comm.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "comm/collectives.h"
#include "comm/mpi_check.h"
#include "comm/nccl_check.h"
#include "core/base/cuda_check.h"

namespace retort::comm {

int select_local_device(MPI_Comm comm) {
  const Group group(comm);
  const int rank = group.rank(), local_rank = group.node_local_rank();
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    RETORT_RUNTIME_ERROR(fmt::format("rank {}: transport nccl needs a CUDA device and none is visible", rank));
  const int device = local_rank % devices;
  RETORT_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

NcclComm::NcclComm(MPI_Comm comm) {
  RETORT_MPI_CHECK(MPI_Comm_rank(comm, &rank_));
  RETORT_MPI_CHECK(MPI_Comm_size(comm, &size_));
  device_ = select_local_device(comm);
  ncclUniqueId id;
  if (rank_ == 0) RETORT_NCCL_CHECK(ncclGetUniqueId(&id));
  RETORT_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm));
  RETORT_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
}

NcclComm::~NcclComm() {
  if (!comm_) return;
  if (aborted_) return;
  ncclCommDestroy(comm_);
}

void NcclComm::abort() {
  if (comm_ && !aborted_) ncclCommAbort(comm_);
  aborted_ = true;
}

}  // namespace retort::comm
