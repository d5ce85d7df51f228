// The chunked head + KD loss (kd_objective) against the unchunked path (materialised logits +
// kd_loss) and a float64 reference, for every divergence and target kind, several chunk sizes,
// tied/untied heads and ignore_index rows; kd_loss slices within a chunk (gradients bitwise);
// refusals of what has no unbiased sampled estimate.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "core/lm/lm_head_kd.h"
#include "core/model/cpu_compute.h"
#include "tests/support/numeric.h"
#include "tests/unit/lm_kd/kd_reference.h"

using namespace retort;
using namespace retort::core;
using namespace retort::test;
using kernels::Divergence;
using kernels::Tail;

namespace {

constexpr int64_t kRows = 19, kDim = 12, kVocab = 31, kTeacherDim = 10;

struct Problem {
  std::vector<float> x = random_normal(kRows * kDim, 11, 1.f), w = random_normal(kVocab * kDim, 12, 0.6f);
  std::vector<float> xt = random_normal(kRows * kTeacherDim, 13, 1.f), wt = random_normal(kVocab * kTeacherDim, 14, 0.8f);
  std::vector<int32_t> labels;
  std::vector<int64_t> sample_ids;
  std::vector<int32_t> positions;
  std::vector<float> teacher_logits;  // [rows, V], the batch-invariant head's
  Problem() {
    for (int64_t i = 0; i < kRows; ++i) {
      labels.push_back(static_cast<int32_t>((i * 5 + 3) % kVocab));
      sample_ids.push_back(i / 7);
      positions.push_back(static_cast<int32_t>(i % 7));
    }
    for (int64_t i : {0, 5, 6, 18}) labels[i] = -100;
    teacher_logits.resize(kRows * kVocab);
    cpu_compute_batch_invariant()->linear_forward(xt.data(), wt.data(), nullptr, teacher_logits.data(), kRows,
                                                  kTeacherDim, kVocab, false);
  }
  LmTargets encode(TargetKind kind, int32_t k, DType dtype, float T, uint64_t seed = 7) const {
    ChunkedHead teacher(cpu_compute_batch_invariant(), 5 * kVocab * sizeof(float));
    EncodeSpec spec{kind, k, dtype, T, seed, sample_ids.data(), positions.data()};
    return encode_targets(teacher, xt.data(), wt.data(), kRows, kTeacherDim, kVocab, spec);
  }
  // The teacher logits the targets stand for, in float64 (dense bf16: the rounded values).
  std::vector<double> teacher_f64(const LmTargets& t) const {
    std::vector<double> out(teacher_logits.begin(), teacher_logits.end());
    if (t.kind == TargetKind::dense && t.dtype == DType::bf16)
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = bf16_to_float(reinterpret_cast<const bf16*>(t.values.data())[i]);
    return out;
  }
};

struct Case {
  TargetKind kind;
  int32_t k;
  DType dtype;
  Divergence div;
  Tail tail;
  float T, alpha, beta;
};

std::string describe(const Case& c) {
  return fmt::format("{} k={} {} {} tail={} T={} alpha={} beta={}", target_kind_name(c.kind), c.k,
                     dtype_name(c.dtype), kernels::divergence_name(c.div),
                     c.tail == Tail::bucket ? "bucket" : "renormalize", c.T, c.alpha, c.beta);
}

kernels::KdLossParams params_of(const Case& c) {
  kernels::KdLossParams p;
  p.temperature = c.T, p.alpha = c.alpha, p.beta = c.beta, p.divergence = c.div, p.tail = c.tail;
  p.reduction = kernels::Reduction::mean;  // ignored by kd_objective: it sums
  return p;
}

struct HeadRun {
  HeadLossSums sums;
  std::vector<float> dx, dw;
};

HeadRun run_head(const Problem& pb, const LmTargets& t, const kernels::KdLossParams& p, float scale, int64_t chunk,
                 const std::vector<float>& dw_start, size_t slice_bytes = kDefaultKdSliceBytes,
                 LmKdTerms* terms = nullptr) {
  ChunkedHead head(cpu_compute(), static_cast<size_t>(chunk * kVocab) * sizeof(float));
  REQUIRE(head.chunk_rows(kVocab) == chunk);
  HeadRun r;
  r.dx.assign(kRows * kDim, 99.f);
  r.dw = dw_start;
  r.sums = lm_head_kd(head, {pb.x.data(), pb.w.data(), kRows, kDim, kVocab, r.dx.data(), r.dw.data()}, t,
                      pb.labels.data(), p, scale, terms, slice_bytes);
  return r;
}

// The unchunked path: all [N, V] logits, one kd_loss call on the whole targets, dX and dW.
HeadRun run_unchunked(const Problem& pb, const LmTargets& t, const kernels::KdLossParams& params, float scale) {
  kernels::KdLossParams p = params;
  p.reduction = kernels::Reduction::sum;
  std::vector<float> z(kRows * kVocab), dz(kRows * kVocab);
  auto cpu = cpu_compute();
  cpu->linear_forward(pb.x.data(), pb.w.data(), nullptr, z.data(), kRows, kDim, kVocab, false);
  auto view = [](const void* d, DType dt, int64_t r, int64_t c) { return TensorView{const_cast<void*>(d), dt, r, c, Device::cpu}; };
  const kernels::TeacherLogits teacher =
      t.kind == TargetKind::dense
          ? kernels::TeacherLogits::dense(view(t.values.data(), t.dtype, kRows, kVocab))
          : kernels::TeacherLogits::topk(view(t.indices.data(), DType::u32, kRows, t.k),
                                         view(t.values.data(), t.dtype, kRows, t.k), view(t.lse.data(), DType::f32, kRows, 1));
  const auto r = kernels::kd_loss(view(z.data(), DType::f32, kRows, kVocab), teacher, pb.labels.data(),
                                  view(dz.data(), DType::f32, kRows, kVocab), p);
  for (float& g : dz) g *= scale;
  HeadRun out;
  out.sums.loss_sum = r.loss;
  out.sums.tokens = r.rows_counted;
  out.dx.assign(kRows * kDim, 0.f);
  out.dw.assign(kVocab * kDim, 0.f);
  cpu->linear_backward(pb.x.data(), pb.w.data(), dz.data(), out.dx.data(), out.dw.data(), nullptr, kRows, kDim, kVocab);
  return out;
}

template <typename A, typename B>
void require_close(const A& got, const B& ref, double tol, double eps, const std::string& what) {
  REQUIRE(got.size() == ref.size());
  for (size_t i = 0; i < got.size(); ++i)
    if (!within_tolerance(got[i], ref[i], tol, eps))
      FAIL(fmt::format("{}[{}] = {} vs reference {}", what, i, static_cast<double>(got[i]), static_cast<double>(ref[i])));
}

}  // namespace

TEST_CASE("chunked head + KD equals the unchunked path and the float64 reference", "[lm_kd]") {
  const Problem pb;
  const std::vector<Case> cases = {
      {TargetKind::dense, 0, DType::f32, Divergence::fkl, Tail::bucket, 2.f, 0.25f, 0.5f},
      {TargetKind::dense, 0, DType::f32, Divergence::rkl, Tail::bucket, 2.f, 0.25f, 0.5f},
      {TargetKind::dense, 0, DType::f32, Divergence::jsd, Tail::bucket, 1.f, 0.f, 0.3f},
      {TargetKind::dense, 0, DType::f32, Divergence::tvd, Tail::bucket, 1.5f, 0.25f, 0.5f},
      {TargetKind::dense, 0, DType::bf16, Divergence::fkl, Tail::bucket, 1.f, 0.f, 0.5f},
      {TargetKind::topk, 6, DType::f32, Divergence::fkl, Tail::bucket, 2.f, 0.25f, 0.5f},
      {TargetKind::topk, 6, DType::f32, Divergence::rkl, Tail::bucket, 2.f, 0.f, 0.5f},
      {TargetKind::topk, 6, DType::f32, Divergence::jsd, Tail::bucket, 1.f, 0.25f, 0.3f},
      {TargetKind::topk, 6, DType::f32, Divergence::tvd, Tail::bucket, 1.f, 0.f, 0.5f},
      {TargetKind::topk, 6, DType::f32, Divergence::fkl, Tail::renormalize, 2.f, 0.f, 0.5f},
      {TargetKind::topk, 6, DType::f32, Divergence::rkl, Tail::renormalize, 1.f, 0.25f, 0.5f},
      {TargetKind::topk, 6, DType::f32, Divergence::jsd, Tail::renormalize, 2.f, 0.f, 0.7f},
      {TargetKind::topk, 6, DType::f32, Divergence::tvd, Tail::renormalize, 1.f, 0.25f, 0.5f},
      {TargetKind::topk, static_cast<int32_t>(kVocab), DType::f32, Divergence::fkl, Tail::bucket, 1.f, 0.f, 0.5f},
      {TargetKind::sampled, 8, DType::f32, Divergence::fkl, Tail::bucket, 2.f, 0.25f, 0.5f},
      {TargetKind::sampled, 3, DType::f32, Divergence::jsd, Tail::bucket, 1.f, 0.f, 0.f},  // jsd β = 0 is fkl
  };
  const int64_t counted = counted_tokens(pb.labels.data(), kRows, -100);
  REQUIRE(counted == kRows - 4);
  const float scale = 1.f / static_cast<float>(counted);
  const std::vector<float> tied_start = random_normal(kVocab * kDim, 15, 0.1f);  // the embedding's gradient
  const std::vector<float> untied_start(kVocab * kDim, 0.f);
  for (const Case& c : cases) {
    INFO(describe(c));
    const LmTargets t = pb.encode(c.kind, c.k, c.dtype, c.T);
    const kernels::KdLossParams p = params_of(c);
    const KdReference ref = kd_reference(pb.x, pb.w, kRows, kDim, kVocab, t, pb.teacher_f64(t), pb.labels, p, scale);
    std::vector<HeadRun> runs;
    for (int64_t chunk : {int64_t{1}, int64_t{4}, int64_t{7}, kRows}) {
      for (bool tied : {false, true}) {
        INFO("chunk rows " << chunk << (tied ? " tied" : " untied"));
        const std::vector<float>& start = tied ? tied_start : untied_start;
        HeadRun r = run_head(pb, t, p, scale, chunk, start);
        CHECK(r.sums.tokens == ref.tokens);
        CHECK(within_tolerance(r.sums.loss_sum, ref.loss_sum, 1e-5, 1e-5));
        require_close(r.dx, ref.dx, 1e-6, 1e-3, "dX");
        std::vector<double> dw_added(r.dw.size());
        for (size_t i = 0; i < r.dw.size(); ++i) dw_added[i] = static_cast<double>(r.dw[i]) - start[i];
        require_close(dw_added, ref.dw, 1e-6, 1e-3, "dW");
        if (!tied) runs.push_back(std::move(r));
      }
    }
    // Every chunking against the unchunked computation (float tolerances: GEMM blocking differs).
    const HeadRun whole = c.kind == TargetKind::sampled ? runs.back() : run_unchunked(pb, t, p, scale);
    for (const HeadRun& r : runs) {
      CHECK(r.sums.tokens == whole.sums.tokens);
      CHECK(within_tolerance(r.sums.loss_sum, whole.sums.loss_sum, 1e-6, 1e-6));
      require_close(r.dx, whole.dx, 1e-7, 1e-5, "dX vs unchunked");
      require_close(r.dw, whole.dw, 1e-7, 1e-5, "dW vs unchunked");
    }
  }
}

TEST_CASE("kd objective slices of a chunk change no gradient bit", "[lm_kd]") {
  const Problem pb;
  const std::vector<Case> cases = {
      {TargetKind::dense, 0, DType::f32, Divergence::fkl, Tail::bucket, 2.f, 0.25f, 0.5f},
      {TargetKind::topk, 6, DType::f32, Divergence::jsd, Tail::bucket, 1.f, 0.25f, 0.3f},
      {TargetKind::sampled, 8, DType::f32, Divergence::fkl, Tail::bucket, 2.f, 0.25f, 0.5f},
  };
  const std::vector<float> dw_start(kVocab * kDim, 0.f);
  const size_t row_bytes = kVocab * sizeof(float);
  for (const Case& c : cases) {
    const LmTargets t = pb.encode(c.kind, c.k, c.dtype, c.T);
    const kernels::KdLossParams p = params_of(c);
    for (int64_t chunk : {int64_t{7}, kRows}) {
      LmKdTerms whole_terms;
      const HeadRun whole = run_head(pb, t, p, 0.1f, chunk, dw_start, kDefaultKdSliceBytes, &whole_terms);
      for (size_t slice_rows : {1, 2, 3}) {
        INFO(describe(c) << " chunk rows " << chunk << " slice rows " << slice_rows);
        LmKdTerms terms;
        const HeadRun r = run_head(pb, t, p, 0.1f, chunk, dw_start, slice_rows * row_bytes + 5, &terms);
        CHECK(r.dx == whole.dx);
        CHECK(r.dw == whole.dw);
        CHECK(r.sums.tokens == whole.sums.tokens);
        CHECK(r.sums.correct == whole.sums.correct);
        CHECK(terms.agree == whole_terms.agree);
        CHECK(within_tolerance(r.sums.loss_sum, whole.sums.loss_sum, 1e-12, 1e-12));
        CHECK(within_tolerance(terms.kd_sum, whole_terms.kd_sum, 1e-12, 1e-12));
        CHECK(within_tolerance(terms.ce_sum, whole_terms.ce_sum, 1e-12, 1e-12));
      }
    }
  }
}

TEST_CASE("chunked head + KD counts correct tokens like the CE head", "[lm_kd]") {
  const Problem pb;
  const LmTargets t = pb.encode(TargetKind::topk, 4, DType::f32, 1.f);
  kernels::KdLossParams p;
  ChunkedHead head(cpu_compute(), 3 * kVocab * sizeof(float));
  const HeadLossSums kd = lm_head_kd(head, {pb.x.data(), pb.w.data(), kRows, kDim, kVocab}, t, pb.labels.data(), p, 1.f);
  const HeadLossSums ce = lm_head_cross_entropy(head, {pb.x.data(), pb.w.data(), kRows, kDim, kVocab},
                                                CrossEntropyTargets{pb.labels.data(), -100, 1.f});
  CHECK(kd.tokens == ce.tokens);
  CHECK(kd.correct == ce.correct);
}

TEST_CASE("kd objective refuses what it cannot compute faithfully", "[lm_kd]") {
  const Problem pb;
  ChunkedHead head(cpu_compute());
  const HeadInputs in{pb.x.data(), pb.w.data(), kRows, kDim, kVocab};
  const LmTargets sampled = pb.encode(TargetKind::sampled, 8, DType::f32, 2.f);
  for (Divergence d : {Divergence::rkl, Divergence::jsd, Divergence::tvd}) {
    kernels::KdLossParams p;
    p.temperature = 2.f, p.divergence = d;
    REQUIRE_THROWS_WITH(lm_head_kd(head, in, sampled, pb.labels.data(), p, 1.f),
                        Catch::Contains("sampled targets support only divergence fkl"));
  }
  kernels::KdLossParams p;
  p.temperature = 1.f;  // the targets were made at T = 2
  REQUIRE_THROWS_WITH(lm_head_kd(head, in, sampled, pb.labels.data(), p, 1.f), Catch::Contains("temperature 2"));
  const LmTargets topk = pb.encode(TargetKind::topk, 4, DType::f32, 1.f);
  LmTargets broken = topk;
  broken.indices[1] = broken.indices[0];
  REQUIRE_THROWS_WITH(lm_head_kd(head, in, broken, pb.labels.data(), p, 1.f), Catch::Contains("repeated id"));
  const HeadInputs fewer{pb.x.data(), pb.w.data(), kRows - 1, kDim, kVocab};
  REQUIRE_THROWS_WITH(lm_head_kd(head, fewer, topk, pb.labels.data(), p, 1.f), Catch::Contains("targets are 19 x 31"));
}
