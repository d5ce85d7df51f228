// retort_bench linear_invariant: GFLOP/s of the batch-invariant linear forward (the teachers'
// GEMM) against cblas_sgemm of the BLAS the student layers use, on the same y = x·Wᵀ + b, timed
// alternately in the same run. Shapes: SmolLM2-135M's (576 -> 1536, 1536 -> 576, 576 -> 576,
// the 49152-token head) and the MLP teacher's (784 -> 1200, 1200 -> 1200, 1200 -> 10).
// Args: [--rows A,B,...] (default 1,16,64,256,1024; the head is skipped above 256 rows).
#include <cblas.h>
#include <omp.h>

#include <chrono>
#include <random>
#include <vector>

#include "kernels/linear_invariant.h"
#include "tests/bench/bench.h"
#include "tests/bench/step_workload.h"

namespace retort::bench {
namespace {

double seconds(const std::function<void()>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(const Args& args) {
  std::vector<int64_t> row_counts = args.quick ? std::vector<int64_t>{1, 7} : std::vector<int64_t>{1, 16, 64, 256, 1024};
  for (size_t i = 0; i + 1 < args.rest.size(); ++i)
    if (args.rest[i] == "--rows") row_counts = parse_int_list(args.rest[i + 1]);
  struct Layer {
    const char* name;
    int64_t in, out;
  };
  const std::vector<Layer> layers = args.quick ? std::vector<Layer>{{"quick", 64, 48}}
                                               : std::vector<Layer>{{"smollm2.up", 576, 1536},
                                                                    {"smollm2.down", 1536, 576},
                                                                    {"smollm2.attn", 576, 576},
                                                                    {"smollm2.head", 576, 49152},
                                                                    {"mlp.fc1", 784, 1200},
                                                                    {"mlp.fc2", 1200, 1200},
                                                                    {"mlp.fc3", 1200, 10}};
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  for (const Layer& l : layers) {
    std::vector<float> w(static_cast<size_t>(l.in * l.out)), b(static_cast<size_t>(l.out));
    for (auto& v : w) v = 0.05f * normal(rng);
    for (auto& v : b) v = normal(rng);
    for (int64_t rows : row_counts) {
      if (l.out > 10000 && rows > 256) continue;
      std::vector<float> x(static_cast<size_t>(rows * l.in)), y(static_cast<size_t>(rows * l.out));
      for (auto& v : x) v = normal(rng);
      const double flops = 2.0 * static_cast<double>(rows) * static_cast<double>(l.in) * static_cast<double>(l.out);
      const int repeats = std::max(3, flops > 2e9 ? args.repeats / 4 : args.repeats);
      const auto invariant = [&] {
        kernels::linear_forward_batch_invariant(x.data(), w.data(), b.data(), y.data(), rows, l.in, l.out);
      };
      const auto blas = [&] {  // the same bias-then-accumulate the student linear does
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t o = 0; o < l.out; ++o) y[static_cast<size_t>(r * l.out + o)] = b[static_cast<size_t>(o)];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(l.out),
                    static_cast<int>(l.in), 1.f, x.data(), static_cast<int>(l.in), w.data(), static_cast<int>(l.in),
                    1.f, y.data(), static_cast<int>(l.out));
      };
      invariant();
      blas();
      std::vector<double> ti, tb;
      for (int i = 0; i < repeats; ++i) {
        ti.push_back(seconds(invariant));
        tb.push_back(seconds(blas));
      }
      const double si = median(ti), sb = median(tb);
      emit({{"bench", "linear_invariant"}, {"layer", l.name}, {"rows", rows}, {"in", l.in}, {"out", l.out},
            {"threads", omp_get_max_threads()}, {"invariant_gflops", flops / si / 1e9},
            {"blas_gflops", flops / sb / 1e9}, {"invariant_over_blas", sb / si}});
    }
  }
  return 0;
}

}  // namespace

RETORT_BENCH("linear_invariant", "batch-invariant linear forward vs cblas_sgemm on teacher shapes", run);

}  // namespace retort::bench
