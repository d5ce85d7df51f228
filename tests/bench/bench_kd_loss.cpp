// retort_bench kd_loss: the fused CPU distillation loss (kernels::kd_loss) on LLM-sized rows,
// next to the same loss computed unfused (one full-tensor pass per op, as an eager framework
// runs it) and the machine's triad bandwidth, all in the same run. fp32 z, t, dz and the
// reference record's triad arrays are allocated as the framework allocates (HostBuffer:
// aligned_alloc, 4 KiB pages, as CpuCompute::allocate), or all on 2 MiB huge pages
// (HugePageBuffer) with --huge-pages; that triad is timed alternately with the fused kernel
// (one of each per repeat), so both see the same machine.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/base/dtype.h"
#include "core/base/error.h"
#include "core/base/huge_pages.h"
#include "core/base/tensor.h"
#include "kernels/cpu/kd_loss_cpu_math.h"
#include "kernels/kd_loss.h"
#include "tests/bench/baselines.h"
#include "tests/bench/bench.h"

namespace {

using retort::DType;
using retort::TensorView;
using namespace retort::kernels;

// A zero-filled float array as the framework allocates it (HostBuffer), or on huge pages.
struct FloatArray {
  retort::HostBuffer host;
  retort::HugePageBuffer huge;
  float* data = nullptr;
  FloatArray() = default;
  FloatArray(size_t n, bool huge_pages) {
    if (huge_pages) {
      huge = retort::HugePageBuffer(n * sizeof(float));
      data = huge.as<float>().data();
    } else {
      host = retort::HostBuffer(n * sizeof(float));
      data = host.as<float>().data();
    }
  }
};

struct Inputs {
  int64_t rows, V, k;
  DType dtype;
  std::vector<float> z, t, values, lse;
  FloatArray z_host, t_host, dz_host;  // fp32 rows as the framework allocates them
  std::vector<retort::bf16> z16, t16, dz16;
  std::vector<uint32_t> indices;
  std::vector<int32_t> labels;
};

Inputs make_inputs(int64_t rows, int64_t V, int64_t k, DType dtype, float temperature, bool huge_pages) {
  Inputs in{rows, V, k, dtype, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  in.z.resize(rows * V);
  in.t.resize(rows * V);
  for (int64_t i = 0; i < rows * V; ++i) {
    in.z[i] = normal(rng);
    in.t[i] = 0.7f * in.z[i] + normal(rng);
  }
  const auto n = static_cast<size_t>(rows * V);
  in.z_host = FloatArray(n, huge_pages);
  in.t_host = FloatArray(n, huge_pages);
  in.dz_host = FloatArray(n, huge_pages);
  std::copy(in.z.begin(), in.z.end(), in.z_host.data);
  std::copy(in.t.begin(), in.t.end(), in.t_host.data);
  std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(V - 1));
  for (int64_t r = 0; r < rows; ++r) in.labels.push_back(label(rng));
  if (dtype == DType::bf16) {
    for (float v : in.z) in.z16.push_back(retort::float_to_bf16(v));
    for (float v : in.t) in.t16.push_back(retort::float_to_bf16(v));
    in.dz16.resize(rows * V);
  }
  if (k > 0) {
    std::vector<uint32_t> order(V);
    for (int64_t r = 0; r < rows; ++r) {
      const float* t = &in.t[r * V];
      for (int64_t j = 0; j < V; ++j) order[j] = static_cast<uint32_t>(j);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](uint32_t a, uint32_t b) { return t[a] > t[b]; });
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < V; ++j) m = std::max(m, static_cast<double>(t[j]) / temperature);
      for (int64_t j = 0; j < V; ++j) s += std::exp(static_cast<double>(t[j]) / temperature - m);
      in.lse.push_back(static_cast<float>(m + std::log(s)));
      for (int64_t c = 0; c < k; ++c) {
        in.indices.push_back(order[c]);
        in.values.push_back(t[order[c]]);
      }
    }
  }
  return in;
}

TensorView view(void* p, DType d, int64_t rows, int64_t cols) { return TensorView{p, d, rows, cols, retort::Device::cpu}; }

KdLossResult run_fused(Inputs& in, const KdLossParams& params) {
  const bool bf = in.dtype == DType::bf16;
  const TensorView z = bf ? view(in.z16.data(), DType::bf16, in.rows, in.V) : view(in.z_host.data, DType::f32, in.rows, in.V);
  const TensorView dz =
      bf ? view(in.dz16.data(), DType::bf16, in.rows, in.V) : view(in.dz_host.data, DType::f32, in.rows, in.V);
  TeacherLogits teacher;
  if (in.k > 0) {
    teacher = TeacherLogits::topk(view(in.indices.data(), DType::u32, in.rows, in.k),
                                  view(in.values.data(), DType::f32, in.rows, in.k), view(in.lse.data(), DType::f32, in.rows, 1));
  } else {
    teacher = TeacherLogits::dense(bf ? view(in.t16.data(), DType::bf16, in.rows, in.V)
                                      : view(in.t_host.data, DType::f32, in.rows, in.V));
  }
  return kd_loss(z, teacher, in.labels.data(), dz, params);
}

// The eager way (fp32, dense fkl + CE): every op is a full [rows, V] pass with its own output
// tensor — scale, log_softmax (max, exp-sum, subtract), exp, KL terms, its sum, the KD
// gradient, CE log_softmax/exp/NLL, and the weighted gradient sum. Same vectorised exp and
// masking helpers as the fused kernel, so the comparison measures fusion alone.
struct Unfused {
  int64_t n, rows, V;
  std::vector<float> a, b, lq, lp, q, p, kl, g_kd, ls, s, g_ce;
  std::vector<float> row_max, row_lse;
  Unfused(int64_t r, int64_t v) : n(r * v), rows(r), V(v) {
    for (auto* x : {&a, &b, &lq, &lp, &q, &p, &kl, &g_kd, &ls, &s, &g_ce}) x->resize(n);
    row_max.resize(r);
    row_lse.resize(r);
  }
  static void scale(const float* x, float f, float* out, int64_t n) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * f;
  }
  static void exp_of(const float* x, float* out, int64_t n) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = retort::kernels::cpu::vexp(x[i]);
  }
  void log_softmax(const float* x, float* out) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t nonfinite = 0;
      row_max[r] = retort::kernels::cpu::row_max(x + r * V, V, nonfinite);
    }
#pragma omp parallel
    {
      std::vector<float> tmp(static_cast<size_t>(V));  // exp(x - max), as an eager logsumexp does
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r)
        row_lse[r] = row_max[r] + static_cast<float>(std::log(
                                      retort::kernels::cpu::exp_row(x + r * V, 1.0f, row_max[r], tmp.data(), V)));
    }
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
      for (int64_t j = 0; j < V; ++j) out[r * V + j] = x[r * V + j] - row_lse[r];
  }
  double run(const float* z, const float* t, const int32_t* labels, float* dz, const KdLossParams& params) {
    const float T = params.temperature, alpha = params.alpha, w = 1.0f / static_cast<float>(rows);
    scale(z, 1.0f / T, a.data(), n);
    scale(t, 1.0f / T, b.data(), n);
    log_softmax(a.data(), lq.data());
    log_softmax(b.data(), lp.data());
    exp_of(lq.data(), q.data(), n);
    exp_of(lp.data(), p.data(), n);
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) kl[i] = retort::kernels::cpu::keep_if(p[i] > 0, p[i] * (lp[i] - lq[i]));
    double kd = 0;
#pragma omp parallel for simd reduction(+ : kd) schedule(static)
    for (int64_t i = 0; i < n; ++i) kd += kl[i];
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) g_kd[i] = (q[i] - p[i]) * (T * w);
    log_softmax(z, ls.data());
    exp_of(ls.data(), s.data(), n);
    double ce = 0;
    for (int64_t r = 0; r < rows; ++r) ce -= ls[r * V + labels[r]];
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) g_ce[i] = s[i] * w;
    for (int64_t r = 0; r < rows; ++r) g_ce[r * V + labels[r]] -= w;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) dz[i] = (1 - alpha) * g_kd[i] + alpha * g_ce[i];
    return ((1 - alpha) * T * T * kd + alpha * ce) / rows;
  }
};

// Median seconds of fn and median triad GB/s (a[i] = b[i] + s·c[i] over three arrays of
// `triad_bytes` each, allocated like the kernel's inputs), one of each per repeat after one
// warm-up of each.
std::pair<double, double> time_alternating_with_triad(int repeats, int64_t triad_bytes, bool huge_pages,
                                                      const std::function<void()>& fn) {
  const int64_t n = triad_bytes / static_cast<int64_t>(sizeof(float));
  FloatArray a_buf(static_cast<size_t>(n), huge_pages), b_buf(static_cast<size_t>(n), huge_pages),
      c_buf(static_cast<size_t>(n), huge_pages);
  float* a = a_buf.data;
  const float* b = b_buf.data;
  const float* c = c_buf.data;
  std::fill(b_buf.data, b_buf.data + n, 1.0f);
  std::fill(c_buf.data, c_buf.data + n, 2.0f);
  auto triad = [&] {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) a[i] = b[i] + 3.0f * c[i];
  };
  auto seconds = [](const std::function<void()>& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  triad();
  fn();
  std::vector<double> t_triad, t_fn;
  for (int i = 0; i < std::max(repeats, 1); ++i) {
    t_triad.push_back(seconds(triad));
    t_fn.push_back(seconds(fn));
  }
  volatile float sink = a[n / 2];
  (void)sink;
  return {retort::bench::median(t_fn), 3.0 * static_cast<double>(triad_bytes) / retort::bench::median(t_triad) / 1e9};
}

double model_bytes(const Inputs& in) {
  const double student = static_cast<double>(in.rows * in.V) * retort::dtype_size(in.dtype);
  const double teacher = in.k > 0 ? static_cast<double>(in.rows * in.k) * 8.0 + in.rows * 4.0
                                  : static_cast<double>(in.rows * in.V) * retort::dtype_size(in.dtype);
  return 2 * student + teacher + in.rows * 4.0;  // z read, dz written, teacher read, labels
}

int bench_kd_loss(const retort::bench::Args& args) {
  const bool quick = args.quick;
  bool huge_pages = false;
  for (const std::string& a : args.rest) {
    if (a != "--huge-pages") RETORT_INPUT_ERROR("retort_bench kd_loss: unknown argument '" + a + "' (expected --huge-pages)");
    huge_pages = true;
  }
  const int64_t triad_bytes = quick ? (8ll << 20) : (64ll << 20);
  const double triad = retort::bench::triad_gbps(triad_bytes, quick ? 3 : 10);
  const int threads = omp_get_max_threads();
  auto emit = [&](const Inputs& in, const KdLossParams& params, double seconds, const std::string& impl,
                  nlohmann::json extra) {
    const double gbps = model_bytes(in) / seconds / 1e9;
    nlohmann::json rec = {{"bench", "kd_loss"},
                          {"impl", impl},
                          {"rows", in.rows},
                          {"V", in.V},
                          {"k", in.k},
                          {"teacher", in.k > 0 ? "topk" : "dense"},
                          {"dtype", retort::dtype_name(in.dtype)},
                          {"divergence", divergence_name(params.divergence)},
                          {"alpha", params.alpha},
                          {"T", params.temperature},
                          {"threads", threads},
                          {"alloc", huge_pages ? "huge_pages" : "host_buffer"},
                          {"median_s", seconds},
                          {"repeats", args.repeats},
                          {"gbps", gbps},
                          {"triad_gbps", triad},
                          {"pct_triad", 100.0 * gbps / triad}};
    rec.update(extra);
    if (rec.contains("triad_alternating_gbps"))  // the reference record: its own alternated triad
      rec["pct_triad"] = 100.0 * gbps / rec["triad_alternating_gbps"].get<double>();
    retort::bench::emit(rec);
  };

  KdLossParams params;
  params.temperature = 2.0f;
  params.alpha = 0.5f;
  const int64_t rows = quick ? 16 : 256, V = quick ? 4000 : 32000;

  // The reference record: rows=256, V=32000, dense fp32, fkl + CE — fused (alternating with the
  // triad that its pct_triad divides by) vs unfused. The other records divide by the triad above.
  {
    Inputs in = make_inputs(rows, V, 0, DType::f32, params.temperature, huge_pages);
    Unfused eager(rows, V);
    const auto [fused, triad_alt] =
        time_alternating_with_triad(args.repeats, triad_bytes, huge_pages, [&] { run_fused(in, params); });
    float* dz = in.dz_host.data;
    const double unfused = retort::bench::time_median(
        args.repeats, [&] { eager.run(in.z.data(), in.t.data(), in.labels.data(), dz, params); });
    emit(in, params, fused, "fused_cpu",
         {{"unfused_s", unfused}, {"speedup_vs_unfused", unfused / fused}, {"triad_alternating_gbps", triad_alt}});
    emit(in, params, unfused, "unfused_cpu", nlohmann::json::object());
  }
  // Other divergences and bf16 at the same shape.
  for (Divergence d : {Divergence::rkl, Divergence::jsd, Divergence::tvd}) {
    KdLossParams p = params;
    p.divergence = d;
    Inputs in = make_inputs(rows, V, 0, DType::f32, p.temperature, huge_pages);
    emit(in, p, retort::bench::time_median(args.repeats, [&] { run_fused(in, p); }), "fused_cpu",
         nlohmann::json::object());
  }
  {
    Inputs in = make_inputs(rows, V, 0, DType::bf16, params.temperature, huge_pages);
    emit(in, params, retort::bench::time_median(args.repeats, [&] { run_fused(in, params); }), "fused_cpu",
         nlohmann::json::object());
  }
  // Top-k (k = 64, bucket tail) against the dense teacher at a Llama-3 vocabulary.
  {
    const int64_t big_rows = quick ? 4 : 64, big_v = quick ? 16000 : 128256;
    Inputs dense = make_inputs(big_rows, big_v, 0, DType::f32, params.temperature, huge_pages);
    Inputs topk = make_inputs(big_rows, big_v, 64, DType::f32, params.temperature, huge_pages);
    const double t_dense = retort::bench::time_median(args.repeats, [&] { run_fused(dense, params); });
    const double t_topk = retort::bench::time_median(args.repeats, [&] { run_fused(topk, params); });
    emit(dense, params, t_dense, "fused_cpu", nlohmann::json::object());
    emit(topk, params, t_topk, "fused_cpu", {{"dense_s", t_dense}, {"speedup_vs_dense", t_dense / t_topk}});
  }
  return 0;
}

RETORT_BENCH("kd_loss", "fused distillation loss + gradient on the CPU vs unfused, dense and top-k teachers", bench_kd_loss);

}  // namespace
