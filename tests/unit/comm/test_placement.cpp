// Role tables written out by hand for T:S 1:1, 1:3, 3:1, 2:2, emulated and real multi-node
// layouts, both placements, and the role-mismatch error.
#include <catch2/catch.hpp>

#include <vector>

#include "comm/placement.h"
#include "core/base/error.h"

using namespace retort;
using namespace retort::comm;

namespace {

RolesConfig cfg(int t, int s, Placement p = Placement::node_local) {
  RolesConfig c;
  c.teachers = t;
  c.students = s;
  c.placement = p;
  return c;
}

std::vector<int> teacher_ranks(const RoleTable& table) {
  std::vector<int> out;
  for (int t = 0; t < table.teachers(); ++t) out.push_back(table.teacher_rank(t));
  return out;
}
std::vector<std::vector<int>> teachers_of_all(const RoleTable& table) {
  std::vector<std::vector<int>> out;
  for (int s = 0; s < table.students(); ++s) out.push_back(table.teachers_of(s));
  return out;
}
using VV = std::vector<std::vector<int>>;

}  // namespace

TEST_CASE("roles 1:1 on one node", "[comm][roles]") {
  const RoleTable t(cfg(1, 1), {0, 0});
  CHECK(teacher_ranks(t) == std::vector<int>{0});
  CHECK(t.student_rank(0) == 1);
  CHECK(t.role_of(0) == Role::teacher);
  CHECK(t.role_of(1) == Role::student);
  CHECK(t.index_of(1) == 0);
  CHECK(teachers_of_all(t) == VV{{0}});
  CHECK(t.students_of(0) == std::vector<int>{0});
  for (long long step : {0, 1, 17}) CHECK(t.teacher_for(0, step) == 0);
  CHECK(t.format() ==
        "roles: 1 teachers, 1 students, 1 nodes, placement node-local\n"
        "  rank 0   teacher 0   node 0   serves student 0 (rank 1)\n"
        "  rank 1   student 0   node 0   served by teacher 0 (rank 0)\n");
}

TEST_CASE("roles 1:3: one teacher serves every student in a fixed order", "[comm][roles]") {
  const RoleTable t(cfg(1, 3), {0, 0, 0, 0});
  CHECK(teacher_ranks(t) == std::vector<int>{0});
  CHECK(t.students_of(0) == std::vector<int>{0, 1, 2});
  CHECK(teachers_of_all(t) == VV{{0}, {0}, {0}});
  CHECK(t.student_rank(2) == 3);
}

TEST_CASE("roles 3:1: consecutive steps rotate over the teachers", "[comm][roles]") {
  for (Placement p : {Placement::node_local, Placement::round_robin}) {
    const RoleTable t(cfg(3, 1, p), {0, 0, 0, 0});
    CHECK(teacher_ranks(t) == std::vector<int>{0, 1, 2});
    CHECK(t.student_rank(0) == 3);
    CHECK(teachers_of_all(t) == VV{{0, 1, 2}});
    const std::vector<int> expected{0, 1, 2, 0, 1, 2, 0};
    for (int step = 0; step < 7; ++step) CHECK(t.teacher_for(0, step) == expected[step]);
  }
}

TEST_CASE("roles 2:2 with emulate_nodes 2: teachers spread, served node-local", "[comm][roles]") {
  const RoleTable t(cfg(2, 2), {0, 0, 1, 1});
  CHECK(t.nodes() == 2);
  CHECK(teacher_ranks(t) == std::vector<int>{0, 2});
  CHECK(t.student_rank(0) == 1);
  CHECK(t.student_rank(1) == 3);
  CHECK(teachers_of_all(t) == VV{{0}, {1}});
  CHECK(t.node_of(3) == 1);
}

TEST_CASE("roles 2:2 on one node: round-robin and node-local agree", "[comm][roles]") {
  for (Placement p : {Placement::node_local, Placement::round_robin}) {
    const RoleTable t(cfg(2, 2, p), {5, 5, 5, 5});
    CHECK(teacher_ranks(t) == std::vector<int>{0, 1});
    CHECK(teachers_of_all(t) == VV{{0}, {1}});
  }
}

TEST_CASE("roles: a node without a teacher is served round-robin", "[comm][roles]") {
  // Nodes: {0,1,2} {3,4,5}; T=1 lives on node 0, so node 1's students use it too.
  const RoleTable t(cfg(1, 5), {0, 0, 0, 1, 1, 1});
  CHECK(teacher_ranks(t) == std::vector<int>{0});
  CHECK(t.students_of(0) == std::vector<int>{0, 1, 2, 3, 4});
  // T=2 over 3 nodes of 2 ranks: teachers on nodes 0 and 1; node 2's students take the least
  // loaded teacher (teacher 0 has 1 local student, teacher 1 has 1: tie -> teacher 0, then 1).
  const RoleTable u(cfg(2, 4), {0, 0, 1, 1, 2, 2});
  CHECK(teacher_ranks(u) == std::vector<int>{0, 2});
  CHECK(teachers_of_all(u) == VV{{0}, {1}, {0}, {1}});
  // round-robin ignores nodes
  const RoleTable r(cfg(2, 4, Placement::round_robin), {0, 0, 1, 1, 2, 2});
  CHECK(teachers_of_all(r) == VV{{0}, {1}, {0}, {1}});
}

TEST_CASE("roles T > S node-local: every student gets a teacher, extras stay on their node", "[comm][roles]") {
  // Node 0: ranks 0,1,2 ; node 1: ranks 3,4. T=3: ranks 0,3,1 are teachers (spread), students 2,4.
  const RoleTable t(cfg(3, 2), {0, 0, 0, 1, 1});
  CHECK(teacher_ranks(t) == std::vector<int>{0, 1, 3});
  CHECK(t.student_rank(0) == 2);
  CHECK(t.student_rank(1) == 4);
  // student 0 (node 0) gets teachers 0 and 1 (rank 0, 1); student 1 (node 1) gets teacher 2 (rank 3)
  CHECK(teachers_of_all(t) == VV{{0, 1}, {2}});
  CHECK(t.teacher_for(0, 0) == 0);
  CHECK(t.teacher_for(0, 1) == 1);
  CHECK(t.teacher_for(1, 1) == 2);
  const RoleTable r(cfg(3, 2, Placement::round_robin), {0, 0, 0, 1, 1});
  CHECK(teachers_of_all(r) == VV{{0, 2}, {1}});
}

TEST_CASE("roles: T + S must equal the world size, with a message saying how to start", "[comm][roles]") {
  try {
    RoleTable t(cfg(1, 1), {0, 0, 0});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(e.message() ==
          "cluster.teachers (1) + cluster.students (1) = 2 does not match the MPI world size 3 (start with mpirun -np 2)");
  }
  CHECK_THROWS_AS(RoleTable(cfg(-1, 3), {0, 0}), Error);
  CHECK_THROWS_AS(RoleTable(cfg(2, 0), {0, 0}), Error);
}

TEST_CASE("roles without teachers: every rank a student (supervised training)", "[comm][roles]") {
  const RoleTable t(cfg(0, 3), {0, 0, 1});
  CHECK(t.teachers() == 0);
  CHECK(t.students() == 3);
  CHECK(t.student_rank(2) == 2);
  CHECK(t.teachers_of(1).empty());
  CHECK_THROWS_AS(t.teacher_for(0, 0), Error);
  CHECK(t.format() ==
        "roles: 0 teachers, 3 students, 2 nodes, placement node-local\n"
        "  rank 0   student 0   node 0   served by nobody\n"
        "  rank 1   student 1   node 0   served by nobody\n"
        "  rank 2   student 2   node 1   served by nobody\n");
}
