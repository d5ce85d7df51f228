// Unit tests of the launcher command builder: every launcher shape, the shape checks, and shell
// quoting checked against the real /bin/sh.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/base/error.h"
#include "launch/launcher.h"

namespace fs = std::filesystem;
using namespace retort::launch;
using Words = std::vector<std::string>;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("retort-launch-test-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

const char* kDistill = "run: {name: d}\nteacher: {checkpoint: t.safetensors}\ncluster: {teachers: 1, students: 2}\n";
const char* kSupervised = "run: {name: s}\ncluster: {students: 2}\n";

Host local_host(const TempDir& dir, bool root = false, int cores = 2) {
  Host h;
  h.retort_exe = "/opt/retort/bin/retort";
  h.working_dir = dir.path.string();
  h.is_root = root;
  h.cpu_cores = cores;
  return h;
}

Host slurm_host(const TempDir& dir, int ntasks) {
  Host h = local_host(dir);
  h.in_slurm = true;
  h.slurm_ntasks = ntasks;
  return h;
}

// The input error message plan_launch throws, or "" when it does not throw.
std::string input_error(const LaunchRequest& r, const Host& h) {
  try {
    plan_launch(r, h);
  } catch (const retort::Error& e) {
    CHECK(e.kind() == retort::ErrorKind::input);
    return e.message();
  }
  return "";
}

}  // namespace

TEST_CASE("emulation as root: all ranks here, oversubscribed, unbound, one thread per core share") {
  TempDir dir;
  const std::string cfg = dir.write("d.yaml", kDistill);
  LaunchRequest r{"d.yaml", {"train.max_steps=5"}, 2, 4, true};
  const LaunchPlan plan = plan_launch(r, local_host(dir, /*root=*/true, /*cores=*/16));
  CHECK(plan.world_size == 6);
  CHECK(plan.via == "mpirun");
  CHECK(plan.config.cluster.teachers == 2);
  CHECK(plan.config.cluster.students == 4);
  CHECK(plan.argv == Words{"mpirun", "-np", "6", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                           "-x", "OMP_NUM_THREADS=2", "/opt/retort/bin/retort", "train", cfg,
                           "--set", "train.max_steps=5", "--set", "cluster.teachers=2", "--set", "cluster.students=4"});
}

TEST_CASE("emulation as a normal user has no --allow-run-as-root and at least one thread") {
  TempDir dir;
  dir.write("d.yaml", kDistill);
  const LaunchPlan plan = plan_launch({"d.yaml", {}, 0, 0, true}, local_host(dir, false, 2));
  CHECK(plan.world_size == 3);
  CHECK(std::find(plan.argv.begin(), plan.argv.end(), "--allow-run-as-root") == plan.argv.end());
  CHECK(std::find(plan.argv.begin(), plan.argv.end(), "OMP_NUM_THREADS=1") != plan.argv.end());
  CHECK(plan.job_overrides.empty());
}

TEST_CASE("threads_per_rank divides cores, never below one") {
  CHECK(threads_per_rank(16, 3) == 5);
  CHECK(threads_per_rank(2, 3) == 1);
  CHECK(threads_per_rank(8, 8) == 1);
  CHECK(threads_per_rank(64, 4) == 16);
}

TEST_CASE("supervised config: the world is the students, --teachers is refused") {
  TempDir dir;
  dir.write("s.yaml", kSupervised);
  CHECK(plan_launch({"s.yaml", {}, 0, 4, false}, local_host(dir)).world_size == 4);
  CHECK(input_error({"s.yaml", {}, 2, 0, false}, local_host(dir)).find("has no teacher section") != std::string::npos);
  CHECK(input_error({"s.yaml", {}, 0, -1, false}, local_host(dir)) == "--students must be >= 1, got -1");
}

TEST_CASE("outside Slurm: plain mpirun, hostfile made absolute, mpirun_args split") {
  TempDir dir;
  dir.write("hosts", "node1 slots=4\n");
  const std::string cfg = dir.write(
      "d.yaml", std::string(kDistill) + "launch: {hostfile: hosts, mpirun_args: \"--mca btl tcp,self -x 'A=b c'\"}\n");
  const LaunchPlan plan = plan_launch({cfg, {}, 0, 0, false}, local_host(dir));
  CHECK(plan.argv == Words{"mpirun", "-np", "3", "--hostfile", (dir.path / "hosts").string(), "--mca", "btl",
                           "tcp,self", "-x", "A=b c", "/opt/retort/bin/retort", "train", cfg});
  // Emulation ignores the hostfile: every rank runs here.
  const LaunchPlan emu = plan_launch({cfg, {}, 0, 0, true}, local_host(dir));
  CHECK(std::find(emu.argv.begin(), emu.argv.end(), "--hostfile") == emu.argv.end());

  const std::string missing = dir.write("m.yaml", std::string(kDistill) + "launch: {hostfile: nowhere}\n");
  CHECK(input_error({missing, {}, 0, 0, false}, local_host(dir)) ==
        "launch.hostfile: " + (dir.path / "nowhere").string() + " does not exist");
}

TEST_CASE("inside Slurm: srun with pmix, task count checked; launch.via overrides") {
  TempDir dir;
  const std::string cfg = dir.write("d.yaml", kDistill);
  const LaunchPlan plan = plan_launch({"d.yaml", {}, 0, 0, false}, slurm_host(dir, 8));
  CHECK(plan.via == "srun");
  CHECK(plan.argv == Words{"srun", "--mpi=pmix", "-n", "3", "--kill-on-bad-exit=1", "/opt/retort/bin/retort",
                           "train", cfg});
  CHECK(input_error({"d.yaml", {}, 0, 0, false}, slurm_host(dir, 2)) ==
        "the job needs 3 ranks but the Slurm allocation has 2 tasks (SLURM_NTASKS); ask sbatch for --ntasks=3");

  const LaunchPlan via_mpirun = plan_launch({"d.yaml", {"launch.via=mpirun"}, 0, 0, false}, slurm_host(dir, 8));
  CHECK(via_mpirun.argv[0] == "mpirun");
  CHECK(via_mpirun.job_overrides == Words{"launch.via=mpirun"});

  // Emulation inside an allocation stays on this node with mpirun, unless srun is asked for.
  CHECK(plan_launch({"d.yaml", {}, 0, 0, true}, slurm_host(dir, 1)).argv[0] == "mpirun");
  const LaunchPlan emu_srun = plan_launch({"d.yaml", {"launch.via=srun"}, 0, 0, true}, slurm_host(dir, 1));
  CHECK(emu_srun.argv == Words{"srun", "--mpi=pmix", "-n", "3", "--kill-on-bad-exit=1", "--overcommit",
                               "--export=ALL,OMP_NUM_THREADS=1", "/opt/retort/bin/retort", "train", cfg,
                               "--set", "launch.via=srun"});

  CHECK(input_error({"d.yaml", {"launch.via=srun"}, 0, 0, false}, local_host(dir)).find("needs a Slurm allocation") !=
        std::string::npos);
  CHECK(input_error({"d.yaml", {"launch.mpirun_args=--mca x y"}, 0, 0, false}, slurm_host(dir, 8))
            .find("launch.mpirun_args is set") != std::string::npos);
}

TEST_CASE("a bad config is an input error naming the key") {
  TempDir dir;
  dir.write("bad.yaml", "run: {name: x}\ncluster: {studnets: 2}\n");
  CHECK(input_error({"bad.yaml", {}, 0, 0, true}, local_host(dir)).find("cluster.studnets") != std::string::npos);
  CHECK(input_error({"none.yaml", {}, 0, 0, true}, local_host(dir)).find("does not exist") != std::string::npos);
}

TEST_CASE("split_shell_words: whitespace, quotes, escapes") {
  CHECK(split_shell_words("", "k").empty());
  CHECK(split_shell_words("  -a  b\t", "k") == Words{"-a", "b"});
  CHECK(split_shell_words("-x 'A=b c' \"d\\\"e\" f\\ g ''", "k") == Words{"-x", "A=b c", "d\"e", "f g", ""});
  REQUIRE_THROWS_WITH(split_shell_words("-x 'open", "launch.mpirun_args"),
                      Catch::Contains("launch.mpirun_args: unterminated ' quote"));
}

TEST_CASE("shell_join round-trips through /bin/sh") {
  const Words words{"mpirun", "-x", "OMP_NUM_THREADS=2", "a b", "it's", "$HOME", "`x`", "", "semi;colon", "new\nline"};
  TempDir dir;
  const std::string out = (dir.path / "out").string();
  const std::string script = "for w in " + shell_join(words) + "; do printf '%s\\0' \"$w\"; done > " + shell_quote(out);
  REQUIRE(std::system(("sh -c " + shell_quote(script)).c_str()) == 0);
  std::ifstream in(out, std::ios::binary);
  Words got;
  std::string w;
  while (std::getline(in, w, '\0')) got.push_back(w);
  CHECK(got == words);
  CHECK(shell_quote("plain-word_1.x=y") == "plain-word_1.x=y");
}
