// The live roles of this rank: the RoleTable built from the world's real (or emulated) nodes
// and the communicators that go with it: world, students-only, and one per teacher<->student pair.
#pragma once
#include <mpi.h>

#include <map>
#include <string>
#include <utility>

#include "comm/placement.h"
#include "comm/transport.h"
#include "comm/world.h"

namespace retort::comm {

class Roles {
 public:
  // Collective over the world. Every rank validates the config identically (T + S == world
  // size, ...) and throws the same input error, so main can report it on rank 0 and every rank
  // can exit cleanly with the same code. Node ids come from MPI_Comm_split_type(SHARED) or from
  // config.emulate_nodes.
  Roles(const World& world, const RolesConfig& config);
  ~Roles();  // frees the communicators it created
  Roles(const Roles&) = delete;
  Roles& operator=(const Roles&) = delete;

  const RoleTable& table() const { return table_; }
  int rank() const { return rank_; }
  Role role() const { return table_.role_of(rank_); }
  bool is_teacher() const { return role() == Role::teacher; }
  bool is_student() const { return role() == Role::student; }
  int index() const { return table_.index_of(rank_); }  // my teacher or student index

  MPI_Comm world() const { return world_; }        // a duplicate of MPI_COMM_WORLD
  MPI_Comm students() const { return students_; }  // MPI_COMM_NULL on teachers; rank == index
  // The 2-rank communicator of a (teacher index, student index) pair this rank belongs to;
  // rank 0 in it is the teacher. Throws when this rank is not in the pair.
  MPI_Comm pair(int teacher, int student) const;

  // The assignment table with the transport of every teacher->student pair's logits and of the
  // students' gradients; print_table logs it once (rank 0 only; other ranks do nothing).
  std::string describe(Transport logits, Transport gradients) const;
  void print_table(Transport logits, Transport gradients) const;

 private:
  RoleTable table_;
  int rank_ = 0;
  MPI_Comm world_ = MPI_COMM_NULL;
  MPI_Comm students_ = MPI_COMM_NULL;
  std::map<std::pair<int, int>, MPI_Comm> pairs_;
};

}  // namespace retort::comm
