// The workload of `retort_bench step` and `step_cuda`: the MLP (teacher shape by default), one
// random batch, and the GEMM shapes one training step does (for GFLOP/s and the bare-GEMM
// baseline). Args: [--batch N] [--hidden A,B,...]; --quick shrinks both.
#pragma once
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/model_spec.h"
#include "tests/bench/bench.h"

namespace retort::bench {

struct GemmShape {
  int64_t m, n, k;  // C[m,n] = op(A)[m,k]·op(B)[k,n]
  // Row-major operands as the layer kernels pass them: A stored [k, m] when trans_a, B stored
  // [n, k] when trans_b.
  bool trans_a = false, trans_b = false;
};

struct StepWorkload {
  int64_t batch = 128;
  std::vector<int64_t> widths;  // 784, hidden..., 10
  core::ModelSpec spec;         // dropout 0.2/0.5 and max-norm 3, as the teacher
  std::vector<float> x;         // [batch, 784], N(0, 1)
  std::vector<int32_t> labels;  // [batch]
  std::vector<uint64_t> ids;    // [batch]
  int repeats = 20;

  // The GEMMs one training step of the MLP does: per linear layer forward y = x·Wᵀ, dW = dyᵀ·x,
  // and dx = dy·W except for the first layer (its input needs no gradient).
  std::vector<GemmShape> gemms() const {
    std::vector<GemmShape> g;
    for (size_t l = 0; l + 1 < widths.size(); ++l) {
      const int64_t in = widths[l], out = widths[l + 1];
      g.push_back({batch, out, in, false, true});   // y = x·Wᵀ
      g.push_back({out, in, batch, true, false});   // dW = dyᵀ·x
      if (l > 0) g.push_back({batch, in, out});     // dx = dy·W
    }
    return g;
  }
  double gemm_flops() const {
    double f = 0;
    for (const auto& s : gemms()) f += 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
    return f;
  }
};

inline std::vector<int64_t> parse_int_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  return out;
}

inline StepWorkload make_step_workload(const Args& args) {
  StepWorkload w;
  w.batch = args.quick ? 32 : 128;
  std::vector<int64_t> hidden = args.quick ? std::vector<int64_t>{64, 64} : std::vector<int64_t>{1200, 1200};
  for (size_t i = 0; i + 1 < args.rest.size(); ++i) {
    if (args.rest[i] == "--batch") w.batch = std::stoll(args.rest[i + 1]);
    if (args.rest[i] == "--hidden") hidden = parse_int_list(args.rest[i + 1]);
  }
  w.spec.config.hidden = hidden;
  w.spec.config.input_dropout = 0.2;
  w.spec.config.dropout = 0.5;
  w.spec.config.max_norm = 3.0;
  w.spec.in_features = 784;
  w.spec.classes = 10;
  w.widths = {784};
  w.widths.insert(w.widths.end(), hidden.begin(), hidden.end());
  w.widths.push_back(10);

  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  w.x.resize(static_cast<size_t>(w.batch * 784));
  for (auto& v : w.x) v = normal(rng);
  w.labels.resize(static_cast<size_t>(w.batch));
  w.ids.resize(static_cast<size_t>(w.batch));
  for (int64_t i = 0; i < w.batch; ++i) {
    w.labels[static_cast<size_t>(i)] = static_cast<int32_t>(i % 10);
    w.ids[static_cast<size_t>(i)] = static_cast<uint64_t>(i);
  }
  w.repeats = args.quick ? 3 : args.repeats;
  return w;
}

}  // namespace retort::bench
