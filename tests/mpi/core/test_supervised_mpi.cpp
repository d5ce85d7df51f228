// Supervised data-parallel training under mpirun (2 ranks): bitwise exact resume at several
// stop steps, and a 2-rank step that matches a single-process step on the whole global batch.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <mpi.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "comm/world.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/durable_io.h"
#include "core/data/dataset.h"
#include "core/data/sampler.h"
#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"
#include "core/train/supervised.h"
#include "kernels/softmax_xent.h"

using namespace retort::core;
namespace fs = std::filesystem;

namespace {
retort::comm::World& world() {
  static retort::comm::World w(nullptr, nullptr);
  return w;
}
// A directory name every rank agrees on (rank 0's pid).
fs::path shared_dir(const std::string& tag) {
  int pid = ::getpid();
  MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
  const fs::path d = fs::temp_directory_path() / fmt::format("retort_mpi_sup_{}_{}", tag, pid);
  if (world().rank() == 0) fs::remove_all(d);
  MPI_Barrier(MPI_COMM_WORLD);
  return d;
}
Config small_config(const fs::path& out) {
  Config c;
  c.run.out_dir = out.string();
  c.run.seed = 5;
  c.hash = 0x77;
  c.data.train_fraction = 0.02;
  c.data.jitter_px = 2;
  c.student.hidden = {24, 16};
  c.student.dropout = 0.3;
  c.student.input_dropout = 0.1;
  c.student.max_norm = 3.0;
  c.optim.lr = 0.05;
  c.train.batch_size = 60;  // 20 steps per epoch, 30 rows per rank
  c.train.epochs = 2;
  c.train.eval_every_steps = 25;
  c.train.checkpoint_every_steps = 15;
  c.logging.progress = "never";
  return c;
}
}  // namespace

TEST_CASE("2-rank training resumed after step k ends bitwise identical", "[mpi][train]") {
  REQUIRE(world().size() == 2);
  const fs::path ref_dir = shared_dir("ref");
  REQUIRE(run_supervised(small_config(ref_dir), world()) == 0);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto ref_weights = read_file((ref_dir / "final.safetensors").string());
  for (int64_t k : {1, 20, 33}) {
    INFO("stopped after step " << k);
    const fs::path dir = shared_dir(fmt::format("k{}", k));
    const Config c = small_config(dir);
    SupervisedOptions stop;
    stop.stop_after_step = k;
    REQUIRE(run_supervised(c, world(), stop) == 0);
    REQUIRE(run_supervised(c, world()) == 0);
    MPI_Barrier(MPI_COMM_WORLD);
    REQUIRE(read_file((dir / "final.safetensors").string()) == ref_weights);
    MPI_Barrier(MPI_COMM_WORLD);
    if (world().rank() == 0) fs::remove_all(dir);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (world().rank() == 0) fs::remove_all(ref_dir);
}

TEST_CASE("one 2-rank step equals one step on the whole global batch", "[mpi][train]") {
  const fs::path dir = shared_dir("one");
  Config c = small_config(dir);
  c.train.max_steps = 1;
  REQUIRE(run_supervised(c, world()) == 0);
  MPI_Barrier(MPI_COMM_WORLD);
  auto trained = load_model((dir / "final.safetensors").string());

  // The same step in one process, written out plainly.
  const DataSplits data = load_fashion_mnist(c.data, 5);
  Model model(ModelSpec{c.student, 784, 10});
  model.initialize(5);
  Optimizer opt(c.optim, model.num_params());
  Sampler sampler(5, data.train.size, 60);
  const auto ids = sampler.ids(0, 0, 0, 1);
  std::vector<float> x(60 * 784), dz(60 * 10);
  std::vector<int32_t> y(60);
  gather_batch(data.train, ids, x.data(), y.data(), 2, 5, 0);
  std::vector<uint64_t> uids(ids.begin(), ids.end());
  BatchContext ctx{60, true, uids.data(), 5, 0};
  const float* logits = model.forward(x.data(), ctx);
  retort::kernels::softmax_xent(logits, y.data(), dz.data(), 60, 10, 1.f / 60);
  model.backward(dz.data(), ctx);
  opt.step(model.params(), model.grads(), learning_rate(c.schedule, c.optim.lr, 0, 1));
  model.apply_constraints();

  const auto a = trained->params(), b = model.params();
  REQUIRE(a.size() == b.size());
  double max_diff = 0, max_change = 0;
  Model init(ModelSpec{c.student, 784, 10});
  init.initialize(5);
  for (size_t i = 0; i < a.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(double(a[i]) - b[i]));
    max_change = std::max(max_change, std::abs(double(b[i]) - init.params()[i]));
  }
  INFO("max |2-rank - 1-process| = " << max_diff << ", max update = " << max_change);
  REQUIRE(max_change > 1e-3);         // the step did move the weights
  REQUIRE(max_diff <= 1e-6 + 1e-5 * max_change);
  MPI_Barrier(MPI_COMM_WORLD);
  if (world().rank() == 0) fs::remove_all(dir);
}
