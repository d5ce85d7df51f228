// retort_bench step: samples/s of one full supervised training step (forward, softmax-CE,
// backward, SGD update, max-norm) of an MLP on one rank, its GEMM GFLOP/s, and in the same run
// the same GEMM shapes done by bare Eigen (the ceiling the engine should approach).
// Args: [--batch N] [--hidden A,B,...]; default: the teacher MLP 784-1200-1200-10 at batch 128.
#include <omp.h>

#include <Eigen/Core>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <string>
#include <vector>

#include "core/model/model.h"
#include "core/optim/optimizer.h"
#include "kernels/softmax_xent.h"
#include "tests/bench/bench.h"
#include "tests/bench/step_workload.h"

namespace {

using namespace retort::core;
using retort::bench::GemmShape;

double bare_eigen_seconds(const std::vector<GemmShape>& shapes, int repeats) {
  std::vector<Eigen::MatrixXf> a, b, c;
  for (const auto& s : shapes) {
    a.push_back(Eigen::MatrixXf::Random(s.m, s.k));
    b.push_back(Eigen::MatrixXf::Random(s.k, s.n));
    c.emplace_back(s.m, s.n);
  }
  const double t = retort::bench::time_median(repeats, [&] {
    for (size_t i = 0; i < shapes.size(); ++i) c[i].noalias() = a[i] * b[i];
  });
  volatile float sink = c[0](0, 0);
  (void)sink;
  return t;
}

int bench_step(const retort::bench::Args& args) {
  auto w = retort::bench::make_step_workload(args);
  const int64_t batch = w.batch;
  Model model(w.spec);
  model.initialize(1);
  Optimizer opt(OptimConfig{}, model.num_params());
  std::vector<float> dz(static_cast<size_t>(batch * 10));
  uint64_t epoch = 0;
  const double step_s = retort::bench::time_median(w.repeats, [&] {
    BatchContext ctx{batch, true, w.ids.data(), 1, epoch++};
    const float* logits = model.forward(w.x.data(), ctx);
    retort::kernels::softmax_xent(logits, w.labels.data(), dz.data(), batch, 10, 1.f / static_cast<float>(batch));
    model.backward(dz.data(), ctx);
    opt.step(model.params(), model.grads(), 0.01);
    model.apply_constraints();
  });

  const double flops = w.gemm_flops();
  const double bare_s = bare_eigen_seconds(w.gemms(), w.repeats);
  const std::string shape = fmt::format("{}", fmt::join(w.widths, "-"));
  retort::bench::emit({{"bench", "step"},
                       {"model", shape},
                       {"params", model.num_params()},
                       {"batch", batch},
                       {"threads", omp_get_max_threads()},
                       {"step_ms", step_s * 1e3},
                       {"samples_per_s", static_cast<double>(batch) / step_s},
                       {"step_gemm_gflops", flops / step_s / 1e9},
                       {"bare_eigen_gemm_ms", bare_s * 1e3},
                       {"bare_eigen_gemm_gflops", flops / bare_s / 1e9},
                       {"fraction_of_bare_gemm", bare_s / step_s}});
  return 0;
}

}  // namespace

RETORT_BENCH("step", "samples/s of a full MLP training step vs bare Eigen GEMMs of the same shapes", bench_step);
