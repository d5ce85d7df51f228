// The MPI world of one Retort job: RAII MPI_Init_thread(MPI_THREAD_MULTIPLE)/MPI_Finalize, this
// rank, the world size and the node-local rank. Works under mpirun/srun and as a singleton.
#pragma once
#include <mpi.h>

#include <string>

namespace retort::comm {

class World {
 public:
  // Initialises MPI (unless already initialised by someone else, in which case it is only
  // adopted and never finalised here). Throws a runtime error when the library cannot provide
  // MPI_THREAD_MULTIPLE. argc/argv may be null.
  World(int* argc, char*** argv);
  ~World();  // MPI_Finalize when this object initialised MPI and MPI was not aborted
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Rank and rank count among the processes on this node (MPI_COMM_TYPE_SHARED); the local GPU
  // is chosen from local_rank().
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  const std::string& hostname() const { return hostname_; }
  MPI_Comm comm() const { return MPI_COMM_WORLD; }

  // Ends the whole job now with `code` (MPI_Abort): use after an error that only this rank
  // saw, so no peer waits forever. Errors every rank sees identically (e.g. a role mismatch)
  // should instead return the exit code from main after ~World.
  [[noreturn]] void abort(int code) const;

 private:
  bool owns_mpi_ = false;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  std::string hostname_;
};

}  // namespace retort::comm
