// The Group's collectives and one-int64 messages over MPI, each call checked.
#include "comm/collectives.h"

#include <numeric>

#include "comm/mpi_check.h"

namespace retort::comm {

int Group::rank() const {
  int rank = 0;
  RETORT_MPI_CHECK(MPI_Comm_rank(comm_, &rank));
  return rank;
}

int Group::size() const {
  int size = 1;
  RETORT_MPI_CHECK(MPI_Comm_size(comm_, &size));
  return size;
}

int Group::node_local_rank() const {
  MPI_Comm local = MPI_COMM_NULL;
  int local_rank = 0;
  RETORT_MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &local));
  RETORT_MPI_CHECK(MPI_Comm_rank(local, &local_rank));
  RETORT_MPI_CHECK(MPI_Comm_free(&local));
  return local_rank;
}

void Group::barrier() const { RETORT_MPI_CHECK(MPI_Barrier(comm_)); }

void Group::broadcast(int64_t& value, int root) const {
  RETORT_MPI_CHECK(MPI_Bcast(&value, 1, MPI_INT64_T, root, comm_));
}

void Group::broadcast(double* values, int n, int root) const {
  RETORT_MPI_CHECK(MPI_Bcast(values, n, MPI_DOUBLE, root, comm_));
}

void Group::sum(double* values, int n) const {
  RETORT_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, comm_));
}

std::vector<std::string> Group::gather(const std::string& bytes, int root) const {
  const bool is_root = rank() == root;
  int length = static_cast<int>(bytes.size());
  std::vector<int> lengths(is_root ? static_cast<size_t>(size()) : 0);
  RETORT_MPI_CHECK(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, root, comm_));
  std::vector<int> offsets(lengths.size(), 0);
  if (is_root) std::exclusive_scan(lengths.begin(), lengths.end(), offsets.begin(), 0);
  std::string all(is_root ? static_cast<size_t>(offsets.back() + lengths.back()) : 0, '\0');
  RETORT_MPI_CHECK(MPI_Gatherv(bytes.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR,
                               root, comm_));
  std::vector<std::string> out;
  for (size_t r = 0; r < lengths.size(); ++r)
    out.push_back(all.substr(static_cast<size_t>(offsets[r]), static_cast<size_t>(lengths[r])));
  return out;
}

void Group::send(int64_t value, int peer, int tag) const {
  RETORT_MPI_CHECK(MPI_Send(&value, 1, MPI_INT64_T, peer, tag, comm_));
}

std::optional<std::pair<int, int64_t>> Group::receive_any(int tag) const {
  int pending = 0;
  MPI_Status status;
  RETORT_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, tag, comm_, &pending, &status));
  if (!pending) return std::nullopt;
  int64_t value = 0;
  RETORT_MPI_CHECK(MPI_Recv(&value, 1, MPI_INT64_T, status.MPI_SOURCE, tag, comm_, MPI_STATUS_IGNORE));
  return std::pair{status.MPI_SOURCE, value};
}

bool mpi_running() {
  int initialized = 0, finalized = 0;
  RETORT_MPI_CHECK(MPI_Initialized(&initialized));
  RETORT_MPI_CHECK(MPI_Finalized(&finalized));
  return initialized && !finalized;
}

Int64Receive::Int64Receive(const Group& group, int peer, int tag) {
  RETORT_MPI_CHECK(MPI_Irecv(&value_, 1, MPI_INT64_T, peer, tag, group.mpi(), &request_));
}

Int64Receive::~Int64Receive() {
  if (arrived_ || request_ == MPI_REQUEST_NULL) return;
  MPI_Cancel(&request_);
  MPI_Wait(&request_, MPI_STATUS_IGNORE);
}

std::optional<int64_t> Int64Receive::poll() {
  if (!arrived_) {
    int done = 0;
    RETORT_MPI_CHECK(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
    arrived_ = done != 0;
  }
  if (!arrived_) return std::nullopt;
  return value_;
}

}  // namespace retort::comm
