// retort_bench step: samples/s of one full supervised training step (forward, softmax-CE,
// backward, SGD update, max-norm) of an MLP on one rank, its GEMM GFLOP/s, and in the same run
// the same GEMM shapes and transposes done by bare cblas_sgemm calls of the BLAS the layers use
// (the ceiling the engine should approach), the two timed alternately.
// Args: [--batch N] [--hidden A,B,...]; default: the teacher MLP 784-1200-1200-10 at batch 128.
#include <omp.h>

#include <cblas.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <functional>
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

// The step's GEMM shapes as bare cblas_sgemm calls on buffers of their own.
struct BareGemms {
  std::vector<GemmShape> shapes;
  std::vector<std::vector<float>> a, b, c;
  explicit BareGemms(std::vector<GemmShape> list) : shapes(std::move(list)) {
    for (const auto& s : shapes) {
      a.emplace_back(static_cast<size_t>(s.m * s.k), 0.5f);
      b.emplace_back(static_cast<size_t>(s.k * s.n), 0.25f);
      c.emplace_back(static_cast<size_t>(s.m * s.n), 0.f);
    }
  }
  void run() {
    for (size_t i = 0; i < shapes.size(); ++i) {
      const GemmShape& s = shapes[i];
      const int m = static_cast<int>(s.m), n = static_cast<int>(s.n), k = static_cast<int>(s.k);
      cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans, s.trans_b ? CblasTrans : CblasNoTrans, m, n,
                  k, 1.f, a[i].data(), s.trans_a ? m : k, b[i].data(), s.trans_b ? k : n, 0.f, c[i].data(), n);
    }
  }
};

double seconds(const std::function<void()>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int bench_step(const retort::bench::Args& args) {
  auto w = retort::bench::make_step_workload(args);
  const int64_t batch = w.batch;
  Model model(w.spec);
  model.initialize(1);
  Optimizer opt(OptimConfig{}, model.num_params());
  std::vector<float> dz(static_cast<size_t>(batch * 10));
  uint64_t epoch = 0;
  const auto step = [&] {
    BatchContext ctx{batch, true, w.ids.data(), 1, epoch++};
    const float* logits = model.forward(w.x.data(), ctx);
    retort::kernels::softmax_xent(logits, w.labels.data(), dz.data(), batch, 10, 1.f / static_cast<float>(batch));
    model.backward(dz.data(), ctx);
    opt.step(model.params(), model.grads(), 0.01);
    model.apply_constraints();
  };
  BareGemms bare(w.gemms());
  // Timed alternately, one of each per repeat after a warm-up, so both see the same machine.
  step();
  bare.run();
  std::vector<double> step_times, bare_times;
  for (int i = 0; i < std::max(w.repeats, 1); ++i) {
    step_times.push_back(seconds(step));
    bare_times.push_back(seconds([&] { bare.run(); }));
  }
  const double step_s = retort::bench::median(step_times), bare_s = retort::bench::median(bare_times);
  const double flops = w.gemm_flops();
  const std::string shape = fmt::format("{}", fmt::join(w.widths, "-"));
  retort::bench::emit({{"bench", "step"},
                       {"model", shape},
                       {"params", model.num_params()},
                       {"batch", batch},
                       {"threads", omp_get_max_threads()},
                       {"step_ms", step_s * 1e3},
                       {"samples_per_s", static_cast<double>(batch) / step_s},
                       {"step_gemm_gflops", flops / step_s / 1e9},
                       {"bare_blas_gemm_ms", bare_s * 1e3},
                       {"bare_blas_gemm_gflops", flops / bare_s / 1e9},
                       {"fraction_of_bare_gemm", bare_s / step_s}});
  return 0;
}

}  // namespace

RETORT_BENCH("step", "samples/s of a full MLP training step vs bare BLAS GEMMs of the same shapes", bench_step);
