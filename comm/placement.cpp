// Role assignment: teachers spread over nodes, students served node-local first (or round-robin).
#include "comm/placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "core/base/error.h"

namespace retort::comm {

const char* placement_name(Placement p) { return p == Placement::node_local ? "node-local" : "round-robin"; }
const char* role_name(Role r) { return r == Role::teacher ? "teacher" : "student"; }

namespace {

// Index of the candidate with the smallest load (ties: the smallest index); -1 if none.
int least_loaded(const std::vector<int>& candidates, const std::vector<int>& load) {
  int best = -1;
  for (int c : candidates)
    if (best < 0 || load[c] < load[best] || (load[c] == load[best] && c < best)) best = c;
  return best;
}

std::vector<int> all_indices(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

RoleTable::RoleTable(const RolesConfig& config, const std::vector<int>& node_of_rank) : config_(config) {
  const int world = static_cast<int>(node_of_rank.size());
  if (config.teachers < 0 || config.students < 1)
    RETORT_INPUT_ERROR(fmt::format("cluster.teachers ({}) must be >= 0 and cluster.students ({}) >= 1",
                                   config.teachers, config.students));
  if (config.teachers + config.students != world)
    RETORT_INPUT_ERROR(fmt::format(
        "cluster.teachers ({}) + cluster.students ({}) = {} does not match the MPI world size {} "
        "(start with mpirun -np {})",
        config.teachers, config.students, config.teachers + config.students, world,
        config.teachers + config.students));
  if (config.emulate_nodes < 0)
    RETORT_INPUT_ERROR(fmt::format("cluster.emulate_nodes ({}) must be >= 0", config.emulate_nodes));

  // Renumber nodes 0.. in first-seen order; list each node's ranks.
  std::map<int, int> renumber;
  node_.resize(world);
  std::vector<std::vector<int>> ranks_on_node;
  for (int r = 0; r < world; ++r) {
    auto [it, added] = renumber.try_emplace(node_of_rank[r], static_cast<int>(renumber.size()));
    if (added) ranks_on_node.emplace_back();
    node_[r] = it->second;
    ranks_on_node[it->second].push_back(r);
  }
  nodes_ = static_cast<int>(ranks_on_node.size());

  // Teachers: the first rank of each node in turn, then the second, ...
  role_.assign(world, Role::student);
  for (size_t pos = 0, picked = 0; picked < static_cast<size_t>(config.teachers); ++pos)
    for (int n = 0; n < nodes_ && picked < static_cast<size_t>(config.teachers); ++n)
      if (pos < ranks_on_node[n].size()) {
        role_[ranks_on_node[n][pos]] = Role::teacher;
        ++picked;
      }
  index_.resize(world);
  for (int r = 0; r < world; ++r) {
    auto& list = role_[r] == Role::teacher ? teacher_ranks_ : student_ranks_;
    index_[r] = static_cast<int>(list.size());
    list.push_back(r);
  }

  const int T = teachers(), S = students();
  teachers_of_.assign(S, {});
  students_of_.assign(T, {});
  auto on_node = [&](const std::vector<int>& ranks, int node) {
    std::vector<int> out;
    for (size_t i = 0; i < ranks.size(); ++i)
      if (node_[ranks[i]] == node) out.push_back(static_cast<int>(i));
    return out;
  };
  const bool local = config.placement == Placement::node_local;
  if (T == 0) {
    // Supervised training: no teachers, nothing to assign.
  } else if (T <= S) {
    std::vector<int> load(T, 0);
    for (int s = 0; s < S; ++s) {
      int t = s % T;
      if (local) {
        t = least_loaded(on_node(teacher_ranks_, node_[student_ranks_[s]]), load);
        if (t < 0) t = least_loaded(all_indices(T), load);
      }
      ++load[t];
      teachers_of_[s].push_back(t);
    }
  } else if (!local) {
    for (int t = 0; t < T; ++t) teachers_of_[t % S].push_back(t);
  } else {
    std::vector<bool> used(T, false);
    for (int s = 0; s < S; ++s) {  // every student gets one teacher, node-local first
      int pick = -1;
      for (int t : on_node(teacher_ranks_, node_[student_ranks_[s]]))
        if (!used[t]) { pick = t; break; }
      for (int t = 0; pick < 0 && t < T; ++t)
        if (!used[t]) pick = t;
      used[pick] = true;
      teachers_of_[s].push_back(pick);
    }
    std::vector<int> load(S, 1);
    for (int t = 0; t < T; ++t) {  // the rest join the node-local student with fewest teachers
      if (used[t]) continue;
      int s = least_loaded(on_node(student_ranks_, node_[teacher_ranks_[t]]), load);
      if (s < 0) s = least_loaded(all_indices(S), load);
      ++load[s];
      teachers_of_[s].push_back(t);
    }
  }
  for (int s = 0; s < S; ++s) {
    std::sort(teachers_of_[s].begin(), teachers_of_[s].end());
    for (int t : teachers_of_[s]) students_of_[t].push_back(s);
  }
}

Role RoleTable::role_of(int rank) const { return role_.at(rank); }
int RoleTable::node_of(int rank) const { return node_.at(rank); }
int RoleTable::index_of(int rank) const { return index_.at(rank); }
int RoleTable::teacher_rank(int teacher) const { return teacher_ranks_.at(teacher); }
int RoleTable::student_rank(int student) const { return student_ranks_.at(student); }
const std::vector<int>& RoleTable::teachers_of(int student) const { return teachers_of_.at(student); }
const std::vector<int>& RoleTable::students_of(int teacher) const { return students_of_.at(teacher); }

int RoleTable::teacher_for(int student, long long step) const {
  RETORT_CHECK(step >= 0, "step " + std::to_string(step) + " is negative");
  const auto& list = teachers_of_.at(student);
  if (list.empty()) RETORT_RUNTIME_ERROR(fmt::format("student {} has no teacher (a run without teachers)", student));
  return list[static_cast<size_t>(step % static_cast<long long>(list.size()))];
}

std::string RoleTable::format() const {
  std::string out = fmt::format("roles: {} teachers, {} students, {} nodes, placement {}\n", teachers(),
                                students(), nodes_, placement_name(config_.placement));
  for (int r = 0; r < world_size(); ++r) {
    std::string line = fmt::format("  rank {:<3} {} {:<3} node {:<3}", r, role_name(role_[r]), index_[r], node_[r]);
    if (role_[r] == Role::student) {
      line += " served by";
      if (teachers_of_[index_[r]].empty()) line += " nobody";
      for (int t : teachers_of_[index_[r]]) line += fmt::format(" teacher {} (rank {})", t, teacher_ranks_[t]);
    } else {
      line += " serves";
      if (students_of_[index_[r]].empty()) line += " nobody";
      for (int s : students_of_[index_[r]]) line += fmt::format(" student {} (rank {})", s, student_ranks_[s]);
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace retort::comm
