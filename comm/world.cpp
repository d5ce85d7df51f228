// RAII MPI world: init with MPI_THREAD_MULTIPLE, node-local rank, finalize or abort.
#include "comm/world.h"

#include <unistd.h>

#include <cstdlib>

#include <string>

#include "comm/mpi_check.h"

namespace retort::comm {

World::World(int* argc, char*** argv) {
  int initialized = 0;
  RETORT_MPI_CHECK(MPI_Initialized(&initialized));
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    RETORT_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
    owns_mpi_ = true;
  } else {
    RETORT_MPI_CHECK(MPI_Query_thread(&provided));
  }
  if (provided < MPI_THREAD_MULTIPLE) {
    if (owns_mpi_) MPI_Finalize();
    owns_mpi_ = false;
    RETORT_RUNTIME_ERROR("MPI library provides thread level " + std::to_string(provided) +
                         ", Retort needs MPI_THREAD_MULTIPLE (" +
                         std::to_string(MPI_THREAD_MULTIPLE) + ")");
  }
  RETORT_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  RETORT_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  MPI_Comm local = MPI_COMM_NULL;
  RETORT_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local));
  RETORT_MPI_CHECK(MPI_Comm_rank(local, &local_rank_));
  RETORT_MPI_CHECK(MPI_Comm_size(local, &local_size_));
  RETORT_MPI_CHECK(MPI_Comm_free(&local));
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0) hostname_ = name;
}

World::~World() {
  if (!owns_mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void World::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this only satisfies [[noreturn]]
}

}  // namespace retort::comm
