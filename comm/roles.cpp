// Live roles: node ids from the world (or emulated), the RoleTable, and its communicators.
#include "comm/roles.h"

#include <fmt/format.h>

#include <vector>

#include "comm/mpi_check.h"
#include "core/base/log.h"

namespace retort::comm {

namespace {

// Every rank's node id: the lowest world rank sharing its memory (or its emulated node).
std::vector<int> gather_nodes(const World& world, const RolesConfig& config) {
  int my_node = 0;
  if (config.emulate_nodes > 0) {
    my_node = static_cast<int>(static_cast<long long>(world.rank()) * config.emulate_nodes / world.size());
  } else {
    MPI_Comm local = MPI_COMM_NULL;
    RETORT_MPI_CHECK(MPI_Comm_split_type(world.comm(), MPI_COMM_TYPE_SHARED, world.rank(), MPI_INFO_NULL, &local));
    int rank = world.rank();
    RETORT_MPI_CHECK(MPI_Allreduce(&rank, &my_node, 1, MPI_INT, MPI_MIN, local));
    RETORT_MPI_CHECK(MPI_Comm_free(&local));
  }
  std::vector<int> nodes(world.size());
  RETORT_MPI_CHECK(MPI_Allgather(&my_node, 1, MPI_INT, nodes.data(), 1, MPI_INT, world.comm()));
  return nodes;
}

}  // namespace

Roles::Roles(const World& world, const RolesConfig& config)
    : table_(config, gather_nodes(world, config)), rank_(world.rank()) {
  RETORT_MPI_CHECK(MPI_Comm_dup(world.comm(), &world_));
  RETORT_MPI_CHECK(MPI_Comm_set_errhandler(world_, MPI_ERRORS_RETURN));
  const bool student = is_student();
  RETORT_MPI_CHECK(MPI_Comm_split(world_, student ? 0 : MPI_UNDEFINED, index(), &students_));
  if (students_ != MPI_COMM_NULL) RETORT_MPI_CHECK(MPI_Comm_set_errhandler(students_, MPI_ERRORS_RETURN));

  // Pair communicators, created in one global (teacher, student) order so no rank waits on a
  // pair its partner has not reached yet.
  MPI_Group world_group;
  RETORT_MPI_CHECK(MPI_Comm_group(world_, &world_group));
  for (int t = 0; t < table_.teachers(); ++t)
    for (int s : table_.students_of(t)) {
      const int members[2] = {table_.teacher_rank(t), table_.student_rank(s)};
      if (rank_ != members[0] && rank_ != members[1]) continue;
      MPI_Group group;
      MPI_Comm comm = MPI_COMM_NULL;
      RETORT_MPI_CHECK(MPI_Group_incl(world_group, 2, members, &group));
      RETORT_MPI_CHECK(MPI_Comm_create_group(world_, group, 0, &comm));
      RETORT_MPI_CHECK(MPI_Group_free(&group));
      RETORT_MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
      pairs_[{t, s}] = comm;
    }
  RETORT_MPI_CHECK(MPI_Group_free(&world_group));
}

Roles::~Roles() {
  for (auto& [key, comm] : pairs_) MPI_Comm_free(&comm);
  if (students_ != MPI_COMM_NULL) MPI_Comm_free(&students_);
  if (world_ != MPI_COMM_NULL) MPI_Comm_free(&world_);
}

MPI_Comm Roles::pair(int teacher, int student) const {
  auto it = pairs_.find({teacher, student});
  if (it == pairs_.end())
    RETORT_RUNTIME_ERROR(fmt::format("rank {} is not in the pair of teacher {} and student {}", rank_,
                                     teacher, student));
  return it->second;
}

std::string Roles::describe(Transport logits, Transport gradients) const {
  std::string text = table_.format();
  for (int t = 0; t < table_.teachers(); ++t)
    for (int s : table_.students_of(t))
      text += fmt::format("  logits teacher {} (rank {}) -> student {} (rank {}): {}\n", t, table_.teacher_rank(t), s,
                          table_.student_rank(s), transport_name(logits));
  text += fmt::format("  gradients among the {} students: {}\n", table_.students(), transport_name(gradients));
  return text;
}

void Roles::print_table(Transport logits, Transport gradients) const {
  if (rank_ == 0) log::info("{}", describe(logits, gradients));
}

}  // namespace retort::comm
