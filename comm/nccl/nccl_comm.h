// An NCCL communicator made from an MPI communicator (CUDA builds only): the local GPU is
// chosen from the node-local rank, rank 0's ncclUniqueId is broadcast over MPI, and error paths
// use ncclCommAbort so no peer's kernel waits forever.
#pragma once
#ifdef RETORT_HAVE_CUDA
#include <mpi.h>
#include <nccl.h>

namespace retort::comm {

// Selects and returns the CUDA device of this process: node-local rank % device count.
// Throws a runtime error when there is no device.
int select_local_device(MPI_Comm comm);

class NcclComm {
 public:
  // Collective over `comm`.
  explicit NcclComm(MPI_Comm comm);
  ~NcclComm();  // ncclCommDestroy, or ncclCommAbort after abort()
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  ncclComm_t get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  int device() const { return device_; }
  // Aborts outstanding NCCL work (an error path: a peer failed or a deadline passed).
  void abort();

 private:
  ncclComm_t comm_ = nullptr;
  int rank_ = 0;
  int size_ = 1;
  int device_ = 0;
  bool aborted_ = false;
};

}  // namespace retort::comm
#endif
