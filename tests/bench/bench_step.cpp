// retort_bench step: samples/s of one full supervised training step (forward, softmax-CE,
// backward, SGD update, max-norm) of an MLP on one rank, its GEMM GFLOP/s, and in the same run
// the same GEMM shapes done by bare Eigen (the ceiling the engine should approach).
// Args: [--batch N] [--hidden A,B,...]; default: the teacher MLP 784-1200-1200-10 at batch 128.
#include <omp.h>

#include <Eigen/Core>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/model.h"
#include "core/optim/optimizer.h"
#include "kernels/softmax_xent.h"
#include "tests/bench/bench.h"

namespace {

using namespace retort::core;

struct GemmShape {
  int64_t m, n, k;  // C[m,n] = A[m,k]·B[k,n]
};

// The GEMMs one training step of the MLP does: per linear layer forward y = x·Wᵀ, dW = dyᵀ·x,
// and dx = dy·W except for the first layer (its input needs no gradient).
std::vector<GemmShape> step_gemms(const std::vector<int64_t>& widths, int64_t batch) {
  std::vector<GemmShape> g;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const int64_t in = widths[l], out = widths[l + 1];
    g.push_back({batch, out, in});
    g.push_back({out, in, batch});
    if (l > 0) g.push_back({batch, in, out});
  }
  return g;
}

double gemm_flops(const std::vector<GemmShape>& g) {
  double f = 0;
  for (const auto& s : g) f += 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
  return f;
}

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

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  return out;
}

int bench_step(const retort::bench::Args& args) {
  int64_t batch = args.quick ? 32 : 128;
  std::vector<int64_t> hidden = args.quick ? std::vector<int64_t>{64, 64} : std::vector<int64_t>{1200, 1200};
  for (size_t i = 0; i + 1 < args.rest.size(); ++i) {
    if (args.rest[i] == "--batch") batch = std::stoll(args.rest[i + 1]);
    if (args.rest[i] == "--hidden") hidden = parse_list(args.rest[i + 1]);
  }
  ModelSpec spec;
  spec.config.hidden = hidden;
  spec.config.input_dropout = 0.2;
  spec.config.dropout = 0.5;
  spec.config.max_norm = 3.0;
  spec.in_features = 784;
  spec.classes = 10;
  Model model(spec);
  model.initialize(1);
  OptimConfig oc;
  Optimizer opt(oc, model.num_params());

  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> x(batch * 784), dz(batch * 10);
  for (auto& v : x) v = normal(rng);
  std::vector<int32_t> labels(batch);
  std::vector<uint64_t> ids(batch);
  for (int64_t i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>(i % 10), ids[i] = static_cast<uint64_t>(i);
  uint64_t epoch = 0;
  const int repeats = args.quick ? 3 : args.repeats;
  const double step_s = retort::bench::time_median(repeats, [&] {
    BatchContext ctx{batch, true, ids.data(), 1, epoch++};
    const float* logits = model.forward(x.data(), ctx);
    retort::kernels::softmax_xent(logits, labels.data(), dz.data(), batch, 10, 1.f / static_cast<float>(batch));
    model.backward(dz.data(), ctx);
    opt.step(model.params(), model.grads(), 0.01);
    model.apply_constraints();
  });

  std::vector<int64_t> widths = {784};
  widths.insert(widths.end(), hidden.begin(), hidden.end());
  widths.push_back(10);
  const auto shapes = step_gemms(widths, batch);
  const double flops = gemm_flops(shapes);
  const double bare_s = bare_eigen_seconds(shapes, repeats);
  const std::string shape = fmt::format("{}", fmt::join(widths, "-"));
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
