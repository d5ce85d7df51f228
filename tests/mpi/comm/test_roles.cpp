// Roles on a live world: the table agrees with the pure placement for this machine's nodes
// (one real node, or emulated ones), the students communicator, and working pair communicators.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <string>

#include <vector>

#include "comm/roles.h"
#include "comm/world.h"
#include "core/base/error.h"

using namespace retort;
using namespace retort::comm;

namespace {
RolesConfig cfg(int t, int s, int emulate = 0) {
  RolesConfig c;
  c.teachers = t;
  c.students = s;
  c.emulate_nodes = emulate;
  return c;
}
}  // namespace

TEST_CASE("roles: live tables, students communicator and pair communicators", "[roles]") {
  World world(nullptr, nullptr);
  const int n = world.size();
  CHECK(world.local_size() == n);  // every rank of these tests runs on this one machine
  CHECK(world.local_rank() == world.rank());
  for (const RolesConfig& config : {cfg(1, n - 1), cfg(n - 1, 1), cfg(1, n - 1, 2), cfg(n / 2, n - n / 2, 2), cfg(0, n)}) {
    Roles roles(world, config);
    // The expected node of each rank on this single machine: 0, or contiguous emulated blocks.
    std::vector<int> nodes(n);
    for (int r = 0; r < n; ++r) nodes[r] = config.emulate_nodes ? r * config.emulate_nodes / n : 0;
    const RoleTable expected(config, nodes);
    CHECK(roles.table().format() == expected.format());
    CHECK(roles.table().nodes() == (config.emulate_nodes ? config.emulate_nodes : 1));
    roles.print_table(Transport::nccl, Transport::mpi);
    // The transport of every pair and of the gradients, one line each.
    const std::string described = roles.describe(Transport::nccl, Transport::mpi);
    CHECK(described.rfind(expected.format(), 0) == 0);
    for (int t = 0; t < expected.teachers(); ++t)
      for (int s : expected.students_of(t))
        CHECK(described.find(fmt::format("  logits teacher {} (rank {}) -> student {} (rank {}): nccl\n", t,
                                         expected.teacher_rank(t), s, expected.student_rank(s))) != std::string::npos);
    CHECK(described.find(fmt::format("  gradients among the {} students: mpi\n", config.students)) !=
          std::string::npos);

    if (roles.is_student()) {
      int size = 0, rank = -1;
      MPI_Comm_size(roles.students(), &size);
      MPI_Comm_rank(roles.students(), &rank);
      CHECK(size == config.students);
      CHECK(rank == roles.index());
    } else {
      CHECK(roles.students() == MPI_COMM_NULL);
    }
    // Each teacher sends its index over every pair communicator; each student checks it.
    if (roles.is_teacher()) {
      for (int s : roles.table().students_of(roles.index())) {
        int size = 0, rank = -1, index = roles.index();
        MPI_Comm_size(roles.pair(roles.index(), s), &size);
        MPI_Comm_rank(roles.pair(roles.index(), s), &rank);
        CHECK(size == 2);
        CHECK(rank == 0);
        REQUIRE(MPI_Send(&index, 1, MPI_INT, 1, 9, roles.pair(roles.index(), s)) == MPI_SUCCESS);
      }
    } else {
      for (int t : roles.table().teachers_of(roles.index())) {
        int got = -1;
        REQUIRE(MPI_Recv(&got, 1, MPI_INT, 0, 9, roles.pair(t, roles.index()), MPI_STATUS_IGNORE) == MPI_SUCCESS);
        CHECK(got == t);
      }
      CHECK_THROWS_AS(roles.pair(roles.table().teachers(), roles.index()), Error);
    }
  }
}

TEST_CASE("roles: a config that does not fit the world fails identically on every rank", "[roles]") {
  World world(nullptr, nullptr);
  try {
    Roles roles(world, cfg(1, world.size()));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(e.message().find("does not match the MPI world size " + std::to_string(world.size())) != std::string::npos);
  }
}

TEST_CASE("world: a singleton process is a world of one", "[.][singleton]") {
  World world(nullptr, nullptr);
  CHECK(world.size() == 1);
  CHECK(world.rank() == 0);
  CHECK(world.local_rank() == 0);
  CHECK_THROWS_AS(Roles(world, cfg(1, 1)), Error);
}
