// Builds the launcher command line for `retort launch` from the config, the request and the host.
#include "launch/launcher.h"

#include <algorithm>
#include <filesystem>

#include "core/base/error.h"
#include "core/config/load.h"

namespace retort::launch {
namespace fs = std::filesystem;
namespace {

std::string absolute_from(const std::string& path, const std::string& working_dir) {
  const fs::path p(path);
  if (p.is_absolute() || working_dir.empty()) return p.lexically_normal().string();
  return (fs::path(working_dir) / p).lexically_normal().string();
}

// Decides srun vs mpirun from launch.via and where we run.
std::string resolve_via(const core::Config& cfg, const LaunchRequest& request, const Host& host) {
  const std::string& via = cfg.launch.via;
  if (via == "srun" && !host.in_slurm)
    RETORT_INPUT_ERROR("launch.via: srun needs a Slurm allocation (SLURM_JOB_ID is not set); "
                       "use launch.via=mpirun or run inside sbatch/salloc");
  if (via == "srun" || via == "mpirun") return via;
  // auto: srun inside an allocation, mpirun elsewhere; emulation always starts ranks here.
  return host.in_slurm && !request.emulate ? "srun" : "mpirun";
}

void check_shape(const core::Config& cfg, const LaunchRequest& request, const Host& host,
                 const std::string& via, int world) {
  if (request.teachers > 0 && !cfg.teacher.present)
    RETORT_INPUT_ERROR("--teachers " + std::to_string(request.teachers) + ": " + cfg.source_file +
                       " has no teacher section (supervised training runs student ranks only)");
  core::check_world_size(cfg, world);
  if (host.in_slurm && !request.emulate && host.slurm_ntasks > 0 && world > host.slurm_ntasks)
    RETORT_INPUT_ERROR("the job needs " + std::to_string(world) + " ranks but the Slurm allocation has " +
                       std::to_string(host.slurm_ntasks) +
                       " tasks (SLURM_NTASKS); ask sbatch for --ntasks=" + std::to_string(world));
  if (via == "srun" && !cfg.launch.mpirun_args.empty())
    RETORT_INPUT_ERROR("launch.mpirun_args is set ('" + cfg.launch.mpirun_args +
                       "') but the job starts with srun; set launch.via=mpirun or clear it");
}

}  // namespace

std::vector<std::string> job_overrides(const LaunchRequest& request) {
  if (request.teachers < 0) RETORT_INPUT_ERROR("--teachers must be >= 1, got " + std::to_string(request.teachers));
  if (request.students < 0) RETORT_INPUT_ERROR("--students must be >= 1, got " + std::to_string(request.students));
  std::vector<std::string> out = request.overrides;
  if (request.teachers > 0) out.push_back("cluster.teachers=" + std::to_string(request.teachers));
  if (request.students > 0) out.push_back("cluster.students=" + std::to_string(request.students));
  return out;
}

int threads_per_rank(int cores, int ranks) { return std::max(1, cores / std::max(1, ranks)); }

LaunchPlan plan_launch(const LaunchRequest& request, const Host& host) {
  LaunchPlan plan;
  plan.job_overrides = job_overrides(request);
  const std::string config_path = absolute_from(request.config_file, host.working_dir);
  plan.config = core::load_config(config_path, plan.job_overrides);
  const core::Config& cfg = plan.config;
  plan.world_size = static_cast<int>(cfg.world_size());
  plan.via = resolve_via(cfg, request, host);
  check_shape(cfg, request, host, plan.via, plan.world_size);

  const std::string world = std::to_string(plan.world_size);
  const std::string omp = "OMP_NUM_THREADS=" + std::to_string(threads_per_rank(host.cpu_cores, plan.world_size));
  auto& argv = plan.argv;
  if (plan.via == "srun") {
    argv = {"srun", "--mpi=pmix", "-n", world, "--kill-on-bad-exit=1"};
    if (request.emulate) argv.insert(argv.end(), {"--overcommit", "--export=ALL," + omp});
  } else {
    argv = {"mpirun", "-np", world};
    if (host.is_root) argv.push_back("--allow-run-as-root");
    if (request.emulate) {
      argv.insert(argv.end(), {"--oversubscribe", "--bind-to", "none", "-x", omp});
    } else if (!cfg.launch.hostfile.empty()) {
      const std::string hostfile = absolute_from(cfg.launch.hostfile, host.working_dir);
      if (!fs::is_regular_file(hostfile))
        RETORT_INPUT_ERROR("launch.hostfile: " + hostfile + " does not exist");
      argv.insert(argv.end(), {"--hostfile", hostfile});
    }
    for (auto& word : split_shell_words(cfg.launch.mpirun_args, "launch.mpirun_args")) argv.push_back(word);
  }
  argv.insert(argv.end(), {host.retort_exe, "train", config_path});
  for (const auto& o : plan.job_overrides) argv.insert(argv.end(), {"--set", o});
  return plan;
}

std::string shell_quote(std::string_view word) {
  const bool safe = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("@%_-+=:,./").find(c) != std::string_view::npos;
  });
  if (safe) return std::string(word);
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& word : argv) {
    if (!out.empty()) out.push_back(' ');
    out.append(shell_quote(word));
  }
  return out;
}

std::vector<std::string> split_shell_words(std::string_view text, const std::string& what) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < text.size()) {
        word += text[++i];
      } else {
        word += c;
      }
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      in_word = true;
      if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '\\' && i + 1 < text.size()) {
        word += text[++i];
      } else {
        word += c;
      }
    }
  }
  if (quote) RETORT_INPUT_ERROR(what + ": unterminated " + std::string(1, quote) + " quote in '" + std::string(text) + "'");
  if (in_word) words.push_back(word);
  return words;
}

}  // namespace retort::launch
