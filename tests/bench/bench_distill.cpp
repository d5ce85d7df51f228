// retort_bench distill: under `mpirun -np 2` (1 teacher + 1 student), the student's samples/s
// with an online teacher vs the same student reading cached logits, in the same run and with the
// same shapes, plus the teacher-wait fraction and the same-run baselines (triad, Eigen GEMM).
// Args: [--steps N] [--student A,B] [--teacher A,B]; default student 800-800, teacher 256.
#include <mpi.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <unistd.h>
#include <sstream>

#include "comm/world.h"
#include "core/base/error.h"
#include "core/checkpoint/checkpoint.h"
#include "core/distill/distill_objective.h"
#include "core/distill/run_distill.h"
#include "core/distill/teacher_pool.h"
#include "core/train/student_trainer.h"
#include "tests/bench/baselines.h"
#include "tests/bench/bench.h"

namespace {

using namespace retort;
using namespace retort::core;
namespace fs = std::filesystem;

std::vector<int64_t> parse_widths(const std::string& text) {
  std::vector<int64_t> w;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) w.push_back(std::stoll(item));
  return w;
}

// A barrier that sleeps while it waits, so an idle rank does not take CPU from the measured one.
void sleeping_barrier() {
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  for (int done = 0; MPI_Test(&request, &done, MPI_STATUS_IGNORE), !done;) usleep(1000);
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

int bench_distill(const bench::Args& args) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != 2) RETORT_INPUT_ERROR("retort_bench distill runs under mpirun -np 2 (1 teacher + 1 student)");
  int64_t steps = args.quick ? 20 : 300;
  std::vector<int64_t> student = {800, 800}, teacher = {256};
  for (size_t i = 0; i + 1 < args.rest.size(); i += 2) {
    if (args.rest[i] == "--steps") steps = std::stoll(args.rest[i + 1]);
    else if (args.rest[i] == "--student") student = parse_widths(args.rest[i + 1]);
    else if (args.rest[i] == "--teacher") teacher = parse_widths(args.rest[i + 1]);
    else RETORT_INPUT_ERROR("retort_bench distill: unknown option " + args.rest[i]);
  }
  const fs::path dir = fs::temp_directory_path() / fmt::format("retort-bench-distill-{}", static_cast<long>(getppid()));
  Config cfg;
  cfg.run.name = "bench";
  cfg.run.resume = "never";
  cfg.data.train_fraction = 0.2;
  cfg.student.hidden = student;
  cfg.train.batch_size = 128;
  cfg.train.max_steps = steps;
  cfg.train.epochs = 1000;
  cfg.train.log_every_steps = steps;
  cfg.logging.progress = "never";
  cfg.teacher.present = true;
  cfg.teacher.checkpoint = (dir / "teacher.safetensors").string();
  cfg.cluster.teachers = 1;
  cfg.cluster.students = 1;
  if (rank == 0) {  // an untrained teacher is as expensive as a trained one
    fs::remove_all(dir);
    fs::create_directories(dir);
    ModelConfig tm;
    tm.hidden = teacher;
    Model model(ModelSpec{tm, 784, 10});
    model.initialize(7);
    save_model(model, cfg.teacher.checkpoint);
  }
  sleeping_barrier();

  // 1. Online: the real job, 1 teacher rank + 1 student rank.
  cfg.run.out_dir = (dir / "online").string();
  comm::World world(nullptr, nullptr);
  run_distill(cfg, world);
  sleeping_barrier();

  // 2. Cached: rank 0 writes the cache as `retort teach` does, rank 1 trains from it alone.
  cfg.teacher.source = "cache";
  cfg.teacher.cache_dir = (dir / "cache").string();
  cfg.run.out_dir = (dir / "cached").string();
  if (rank == 0) {
    TeacherPool pool(cfg);
    const CacheSpec spec = expected_cache_spec(cfg, pool.data().train.size, pool.model().classes(),
                                               teacher_fingerprint(cfg.teacher.checkpoint));
    fs::create_directories(cfg.teacher.cache_dir);
    write_cache_index(cfg.teacher.cache_dir, spec, pool.write_cache_shards(cfg.teacher.cache_dir, spec, 0, 1));
  }
  sleeping_barrier();
  if (rank == 1) {
    cfg.cluster.teachers = 0;
    StudentTrainer trainer(cfg, MPI_COMM_SELF);
    const CacheSpec expected = expected_cache_spec(cfg, trainer.data().train.size, trainer.model().classes(),
                                                   teacher_fingerprint(cfg.teacher.checkpoint));
    DistillObjective objective(cfg.distill, make_cache_source(std::make_unique<LogitsCacheReader>(cfg.teacher.cache_dir, expected)));
    trainer.run(objective, 0);
  }
  sleeping_barrier();

  if (rank == 0) {
    const auto online = read_json(dir / "online" / "summary.json");
    const auto cached = read_json(dir / "cached" / "summary.json");
    std::ifstream metrics(dir / "online" / "metrics.jsonl");
    double wait_fraction = 0;
    for (std::string line; std::getline(metrics, line);) {
      const auto rec = nlohmann::json::parse(line);
      if (rec.value("kind", "") == "train") wait_fraction = rec.value("teacher_wait_fraction", 0.0);
    }
    const double on = online.at("samples_per_s").get<double>(), off = cached.at("samples_per_s").get<double>();
    bench::emit({{"bench", "distill"}, {"teacher", teacher}, {"student", student}, {"batch", 128}, {"steps", steps},
                 {"online_samples_per_s", on}, {"cached_samples_per_s", off}, {"online_over_cached", on / off},
                 {"teacher_wait_fraction", wait_fraction},
                 {"baseline_triad_gbps", bench::triad_gbps()},
                 {"baseline_eigen_gemm_gflops_128x800x784", bench::eigen_gemm_gflops(128, 800, 784)}});
    fs::remove_all(dir);
  }
  return 0;
}

RETORT_BENCH("distill", "student samples/s with an online teacher vs cached logits (mpirun -np 2)", bench_distill);

}  // namespace
