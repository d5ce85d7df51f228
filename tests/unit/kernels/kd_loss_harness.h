// Test harness for kd_loss implementations: random problems, typed host buffers with sentinels
// after every output, one call through a backend, and the comparison with the float64 reference.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>

#include "core/base/dtype.h"
#include "core/base/tensor.h"
#include "kernels/kd_loss.h"
#include "tests/unit/kernels/kd_loss_reference.h"

namespace retort::kernels::test {

// A backend: kd_loss on host views (it may copy them to a device and back, sentinels included).
using Caller = std::function<KdLossResult(const TensorView& student, const TeacherLogits& teacher,
                                          const int32_t* labels, const TensorView& dz, const KdLossParams& params,
                                          const KdLossMetrics& metrics)>;

inline uint64_t test_seed() {
  static const uint64_t seed = [] {
    const char* env = std::getenv("RETORT_TEST_SEED");
    const uint64_t s = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
    std::printf("kd_loss tests: seed %llu (rerun with RETORT_TEST_SEED=%llu)\n", static_cast<unsigned long long>(s),
                static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

inline double round_to(DType d, double v) {
  return d == DType::bf16 ? bf16_to_float(float_to_bf16(static_cast<float>(v))) : static_cast<float>(v);
}

constexpr size_t kSentinelBytes = 64;
constexpr unsigned char kSentinel = 0xA5;

// A host buffer of n elements of dtype followed by kSentinelBytes of a known pattern.
struct TypedBuffer {
  HostBuffer mem;
  DType dtype = DType::f32;
  int64_t rows = 0, cols = 0;
  TypedBuffer(DType d, int64_t r, int64_t c) : mem(static_cast<size_t>(r * c) * dtype_size(d) + kSentinelBytes), dtype(d), rows(r), cols(c) {
    std::memset(static_cast<char*>(mem.data()) + payload_bytes(), kSentinel, kSentinelBytes);
  }
  size_t payload_bytes() const { return static_cast<size_t>(rows * cols) * dtype_size(dtype); }
  TensorView view() { return TensorView{mem.data(), dtype, rows, cols, Device::cpu}; }
  void set(int64_t i, double v) {
    if (dtype == DType::f32) static_cast<float*>(mem.data())[i] = static_cast<float>(v);
    else if (dtype == DType::bf16) static_cast<bf16*>(mem.data())[i] = float_to_bf16(static_cast<float>(v));
    else static_cast<uint32_t*>(mem.data())[i] = static_cast<uint32_t>(v);
  }
  double get(int64_t i) const {
    if (dtype == DType::f32) return static_cast<const float*>(mem.data())[i];
    return bf16_to_float(static_cast<const bf16*>(mem.data())[i]);
  }
  bool sentinels_intact() const {
    const auto* p = static_cast<const unsigned char*>(mem.data()) + payload_bytes();
    return std::all_of(p, p + kSentinelBytes, [](unsigned char c) { return c == kSentinel; });
  }
};

struct Outcome {
  KdLossResult result;
  std::vector<double> dz, entropy;
  std::vector<int> agree;
  bool sentinels_intact = true;
};

inline Outcome run_problem(const Problem& pb, const Caller& call) {
  const int64_t R = pb.rows, V = pb.vocab, k = pb.k;
  TypedBuffer z(pb.student_dtype, R, V), dz(pb.student_dtype, R, V);
  for (int64_t i = 0; i < R * V; ++i) z.set(i, pb.z[i]);
  std::memset(dz.mem.data(), 0xff, dz.payload_bytes());  // NaN everywhere: every element must be written
  TypedBuffer t(pb.teacher_dtype, pb.topk ? 0 : R, pb.topk ? 0 : V);
  TypedBuffer idx(DType::u32, pb.topk ? R : 0, k), val(pb.teacher_dtype, pb.topk ? R : 0, k),
      lse(DType::f32, pb.topk ? R : 0, 1);
  TeacherLogits teacher;
  if (pb.topk) {
    for (int64_t i = 0; i < R * k; ++i) {
      idx.set(i, pb.indices[i]);
      val.set(i, pb.values[i]);
    }
    for (int64_t r = 0; r < R; ++r) lse.set(r, pb.lse[r]);
    teacher = TeacherLogits::topk(idx.view(), val.view(), lse.view());
  } else {
    for (int64_t i = 0; i < R * V; ++i) t.set(i, pb.t[i]);
    teacher = TeacherLogits::dense(t.view());
  }
  TypedBuffer entropy(DType::f32, R, 1), agree(DType::bf16, R, 1);  // agree: R bytes used of R*2
  std::memset(agree.mem.data(), 0x7f, agree.payload_bytes());
  KdLossMetrics metrics;
  if (pb.metrics) {
    metrics.teacher_entropy = static_cast<float*>(entropy.mem.data());
    metrics.top1_agree = static_cast<uint8_t*>(agree.mem.data());
  }
  Outcome out;
  out.result = call(z.view(), teacher, pb.labels.empty() ? nullptr : pb.labels.data(), dz.view(), pb.params, metrics);
  out.dz.resize(R * V);
  for (int64_t i = 0; i < R * V; ++i) out.dz[i] = dz.get(i);
  const auto* agree_bytes = static_cast<const uint8_t*>(agree.mem.data());
  for (int64_t r = 0; r < R; ++r) {
    out.entropy.push_back(static_cast<const float*>(entropy.mem.data())[r]);
    out.agree.push_back(agree_bytes[r]);
  }
  // Bytes R..2R of `agree` must be untouched too (the metric is one byte per row).
  bool agree_tail = true;
  for (int64_t i = R; i < 2 * R; ++i) agree_tail = agree_tail && agree_bytes[i] == 0x7f;
  out.sentinels_intact = z.sentinels_intact() && dz.sentinels_intact() && entropy.sentinels_intact() &&
                         agree.sentinels_intact() && agree_tail;
  return out;
}

// |x - ref| ≤ eps·(|ref| + scale): scale is the row's largest |ref| for gradients, a small
// absolute floor for losses.
inline bool close(double x, double ref, double eps, double scale) {
  if (std::isnan(ref)) return std::isnan(x);
  if (std::isinf(ref)) return x == ref;
  return std::abs(x - ref) <= eps * (std::abs(ref) + scale);
}

inline std::string describe(const Problem& pb) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "rows=%lld V=%lld k=%lld z=%s t=%s %s div=%s beta=%g T=%g alpha=%g %s %s",
                static_cast<long long>(pb.rows), static_cast<long long>(pb.vocab), static_cast<long long>(pb.k),
                dtype_name(pb.student_dtype), dtype_name(pb.teacher_dtype), pb.topk ? "topk" : "dense",
                divergence_name(pb.params.divergence), pb.params.beta, pb.params.temperature, pb.params.alpha,
                pb.params.tail == Tail::bucket ? "bucket" : "renormalize",
                pb.params.reduction == Reduction::mean ? "mean" : "sum");
  return buf;
}

// Compares an outcome with the reference: losses to `eps_loss`, gradients to `eps_grad`.
inline void compare(const Problem& pb, const Outcome& out, double eps_loss, double eps_grad) {
  const Reference ref = reference(pb);
  INFO(describe(pb) << " seed " << test_seed());
  REQUIRE(out.sentinels_intact);
  REQUIRE_FALSE(out.result.nonfinite_input);
  CHECK(out.result.rows_counted == ref.counted);
  INFO("loss " << out.result.loss << " ref " << ref.loss << "; kd " << out.result.kd << " ref " << ref.kd << "; ce "
                << out.result.ce << " ref " << ref.ce);
  // CE = log Σ exp(z - max) - (z_y - max): its fp32 sum carries ~1e-7 absolute error per row,
  // which is a large relative error when the CE itself is ~1e-3.
  const double kd_floor = 0.03 * ref.kd_scale + 1e-6;
  const double ce_floor = 0.01 * (pb.params.reduction == Reduction::sum ? static_cast<double>(ref.counted) : 1.0);
  CHECK(close(out.result.loss, ref.loss, eps_loss, (1 - pb.params.alpha) * kd_floor + pb.params.alpha * ce_floor));
  CHECK(close(out.result.kd, ref.kd, eps_loss, kd_floor));
  CHECK(close(out.result.ce, ref.ce, eps_loss, ce_floor));
  int64_t bad = 0, first_bad = -1;
  for (int64_t r = 0; r < pb.rows; ++r) {
    const double row_max = ref.dz_scale[r];
    for (int64_t j = 0; j < pb.vocab; ++j) {
      const int64_t i = r * pb.vocab + j;
      if (!close(out.dz[i], ref.dz[i], eps_grad, row_max) &&
          !(std::abs(out.dz[i] - ref.dz[i]) <= eps_grad * (std::abs(ref.dz[i]) + row_max) + ref.dz_slack[i])) {
        if (first_bad < 0) {
          first_bad = i;
          if (std::getenv("RETORT_TEST_VERBOSE"))
            for (int64_t jj = 0; jj < pb.vocab; ++jj)
              std::printf("  dz[%lld] %.9g ref %.9g\n", static_cast<long long>(jj), out.dz[r * pb.vocab + jj],
                          ref.dz[r * pb.vocab + jj]);
        }
        ++bad;
      }
    }
    if (pb.metrics) {
      CHECK(close(out.entropy[r], ref.entropy[r], eps_loss, 0.1));
      CHECK(out.agree[r] == ref.agree[r]);
    }
  }
  INFO("first bad dz at " << first_bad << ": " << (first_bad >= 0 ? out.dz[first_bad] : 0.0) << " vs ref "
                          << (first_bad >= 0 ? ref.dz[first_bad] : 0.0));
  CHECK(bad == 0);
}

// Random logits: student ~ N(0, σ), teacher correlated with it; values rounded to their dtypes.
inline Problem random_problem(std::mt19937_64& rng, int64_t rows, int64_t V, int64_t k, DType zd, DType td,
                              const KdLossParams& params, bool labels) {
  Problem pb;
  pb.rows = rows;
  pb.vocab = V;
  pb.topk = k > 0;
  pb.k = k;
  pb.student_dtype = zd;
  pb.teacher_dtype = td;
  pb.params = params;
  std::normal_distribution<double> normal(0.0, 1.0);
  const double sigma = std::uniform_real_distribution<double>(0.5, 4.0)(rng);
  std::vector<double> t_full(rows * V);
  pb.z.resize(rows * V);
  for (int64_t i = 0; i < rows * V; ++i) {
    pb.z[i] = round_to(zd, sigma * normal(rng));
    t_full[i] = 0.7 * pb.z[i] + sigma * 0.7 * normal(rng);
  }
  if (!pb.topk) {
    pb.t.resize(rows * V);
    for (int64_t i = 0; i < rows * V; ++i) pb.t[i] = round_to(td, t_full[i]);
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<uint32_t> order(V);
      std::iota(order.begin(), order.end(), 0u);
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](uint32_t a, uint32_t b) { return t_full[r * V + a] > t_full[r * V + b]; });
      std::shuffle(order.begin(), order.begin() + k, rng);  // no reliance on sorted pairs
      std::vector<double> scaled(V);
      for (int64_t j = 0; j < V; ++j) scaled[j] = t_full[r * V + j] / params.temperature;
      pb.lse.push_back(static_cast<float>(ref_logsumexp(scaled)));
      for (int64_t c = 0; c < k; ++c) {
        pb.indices.push_back(order[c]);
        pb.values.push_back(round_to(td, t_full[r * V + order[c]]));
      }
    }
  }
  if (labels) {
    std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(V - 1));
    for (int64_t r = 0; r < rows; ++r)
      pb.labels.push_back(rows > 1 && r % 4 == 3 ? params.ignore_index : label(rng));
  }
  return pb;
}

}  // namespace retort::kernels::test
