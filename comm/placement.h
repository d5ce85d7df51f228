// Pure role assignment (no MPI): which ranks are teachers and students, on which node, and
// which teacher serves which student at which step. roles.h builds it from the live world.
#pragma once
#include <string>
#include <vector>

namespace retort::comm {

enum class Placement { node_local, round_robin };
enum class Role { teacher, student };

// Filled by the caller from the config (cluster.teachers, cluster.students, cluster.placement,
// cluster.emulate_nodes); comm/ knows no config.
struct RolesConfig {
  int teachers = 1;  // 0: no teachers (supervised training)
  int students = 1;
  Placement placement = Placement::node_local;
  int emulate_nodes = 0;  // > 0: split the world's ranks into this many contiguous virtual nodes
};

const char* placement_name(Placement p);  // "node-local" | "round-robin"
const char* role_name(Role r);            // "teacher" | "student"

// The assignment table. Ranks are world ranks; teacher/student indices are dense 0..T-1, 0..S-1
// in increasing rank order. Teachers are spread over nodes (first rank of each node in turn,
// then the second, ...), everything else is a student.
//   T <= S: every student has exactly one teacher (node-local first when placement is
//           node_local and its node has a teacher; otherwise the least-loaded teacher).
//   T >  S: every student has >= 1 teachers; consecutive steps of student s are served by its
//           teachers in turn: step k by teachers_of(s)[k % teachers_of(s).size()].
class RoleTable {
 public:
  // node_of_rank[r] = node id of world rank r (any integers; renumbered 0.. in first-seen order).
  // T == 0 is a run without teachers (supervised training: every rank a student).
  // Throws an input error when T < 0, S < 1 or T + S != node_of_rank.size().
  RoleTable(const RolesConfig& config, const std::vector<int>& node_of_rank);

  int world_size() const { return static_cast<int>(node_.size()); }
  int teachers() const { return static_cast<int>(teacher_ranks_.size()); }
  int students() const { return static_cast<int>(student_ranks_.size()); }
  int nodes() const { return nodes_; }
  const RolesConfig& config() const { return config_; }

  Role role_of(int rank) const;
  int node_of(int rank) const;
  int index_of(int rank) const;        // teacher index or student index of this rank
  int teacher_rank(int teacher) const;  // teacher index -> world rank
  int student_rank(int student) const;  // student index -> world rank

  // Teacher indices serving this student, in serving order.
  const std::vector<int>& teachers_of(int student) const;
  // Student indices this teacher serves, increasing.
  const std::vector<int>& students_of(int teacher) const;
  // The teacher index that produces `student`'s logits for `step` (step >= 0); throws when the
  // run has no teachers.
  int teacher_for(int student, long long step) const;

  // Human table, one line per rank: "rank 3  student 1  node 1  served by teacher 0 (rank 2)".
  std::string format() const;

 private:
  RolesConfig config_;
  int nodes_ = 0;
  std::vector<int> node_;          // per world rank
  std::vector<Role> role_;         // per world rank
  std::vector<int> index_;         // per world rank
  std::vector<int> teacher_ranks_;
  std::vector<int> student_ranks_;
  std::vector<std::vector<int>> teachers_of_;  // per student
  std::vector<std::vector<int>> students_of_;  // per teacher
};

}  // namespace retort::comm
