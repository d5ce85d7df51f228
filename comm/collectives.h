// The cross-rank operations core/ makes (core/ has no MPI calls of its own): a Group of ranks
// with its few collectives, one-int64 messages and the node-local rank. MPI underneath; every
// call is checked (RETORT_MPI_CHECK) and a failure throws a runtime error naming the call.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace retort::comm {

// A set of ranks: an MPI communicator, not owned (World and Roles own theirs). Implicit from
// MPI_Comm, so the edge hands its communicators as they are. Collectives must be called by
// every rank of the group, in the same order.
class Group {
 public:
  Group(MPI_Comm comm) : comm_(comm) {}  // NOLINT(google-explicit-constructor)
  MPI_Comm mpi() const { return comm_; }
  int rank() const;
  int size() const;
  // This rank's index among the group's ranks on its node (ordered by rank; collective).
  int node_local_rank() const;

  void barrier() const;
  // `value` / values[0, n) of rank `root` on every rank.
  void broadcast(int64_t& value, int root) const;
  void broadcast(double* values, int n, int root) const;
  // In-place sum over the ranks of values[0, n) (float64).
  void sum(double* values, int n) const;
  // Every rank's `bytes`, on `root` in rank order; an empty vector on the other ranks.
  std::vector<std::string> gather(const std::string& bytes, int root) const;
  // One int64 to rank `peer` with `tag` (blocking until the send buffer is free).
  void send(int64_t value, int peer, int tag) const;
  // A one-int64 message with `tag` from any rank, when one has arrived: (sender, value). Never
  // blocks; messages with other tags are left alone.
  std::optional<std::pair<int, int64_t>> receive_any(int tag) const;

 private:
  MPI_Comm comm_;
};

// Every process of the job (MPI's world communicator).
inline Group world_group() { return Group(MPI_COMM_WORLD); }

// True between MPI's initialisation and its finalisation (a job of one process without MPI: false).
bool mpi_running();

// A posted receive of one int64 from rank `peer` of a group with `tag`, polled without
// blocking. A receive still pending at destruction is cancelled.
class Int64Receive {
 public:
  Int64Receive(const Group& group, int peer, int tag);
  ~Int64Receive();
  Int64Receive(const Int64Receive&) = delete;
  Int64Receive& operator=(const Int64Receive&) = delete;
  // The value once it has arrived (and from then on), else nullopt.
  std::optional<int64_t> poll();

 private:
  int64_t value_ = 0;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool arrived_ = false;
};

}  // namespace retort::comm
