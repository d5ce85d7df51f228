// Compute::kd_loss of the CUDA backend against the CPU one on a real device: the teacher (dense
// fp32/bf16, top-k bucket/renormalize) staged from host memory, logits and dlogits on the device,
// every divergence, batches that grow and shrink (the staging buffers are reused and regrown),
// and the distillation objective on top. The CUDA kernel reduces in another order than the CPU
// one, so values agree within |got − ref| <= tol + |ref|·eps, not bitwise.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "core/distill/teacher_logits.h"
#include "core/model/cpu_compute.h"
#include "core/model/cuda_compute.h"
#include "tests/support/numeric.h"

using namespace retort::core;
namespace kernels = retort::kernels;

namespace {


struct Out {
  kernels::KdLossResult result;
  std::vector<float> dlogits, entropy;
  std::vector<uint8_t> agree;
};

Out run(const std::shared_ptr<Compute>& compute, const std::vector<float>& logits, const kernels::TeacherLogits& t,
        const std::vector<int32_t>& labels, int64_t rows, int64_t vocab, const kernels::KdLossParams& p) {
  constexpr size_t kSentinels = 16;
  const size_t n = logits.size();
  ComputeBuffer z(compute, n + kSentinels), dz(compute, n + kSentinels);
  std::vector<float> padded(logits);
  padded.resize(n + kSentinels, 12345.f);
  compute->upload(z.data(), padded.data(), padded.size() * sizeof(float));
  compute->upload(dz.data(), padded.data(), padded.size() * sizeof(float));
  Out out;
  out.entropy.assign(static_cast<size_t>(rows), -1.f);
  out.agree.assign(static_cast<size_t>(rows), 7);
  out.result = compute->kd_loss(z.data(), t, labels.data(), dz.data(), rows, vocab, p, 0.25f,
                                kernels::KdLossMetrics{out.entropy.data(), out.agree.data()});
  out.dlogits.resize(n + kSentinels);
  compute->download(out.dlogits.data(), dz.data(), out.dlogits.size() * sizeof(float));
  for (size_t i = n; i < out.dlogits.size(); ++i) REQUIRE(out.dlogits[i] == 12345.f);
  out.dlogits.resize(n);
  return out;
}

}  // namespace

TEST_CASE("CUDA Compute::kd_loss matches the CPU Compute within float32 rounding", "[distill][cuda]") {
  auto cuda = make_cuda_compute(0);
  auto cpu = cpu_compute();
  const int64_t vocab = 1000;
  const auto [divergence, topk, renormalize, bf16] = GENERATE(table<const char*, int64_t, bool, bool>({
      {"fkl", 0, false, false},
      {"rkl", 0, false, true},
      {"jsd", 16, false, false},
      {"tvd", 16, true, false},
      {"fkl", 16, false, true},
  }));
  CAPTURE(divergence, topk, renormalize, bf16);
  kernels::KdLossParams p;
  p.temperature = 2.f;
  p.alpha = 0.2f;
  p.divergence = kernels::parse_divergence(divergence);
  p.tail = renormalize ? kernels::Tail::renormalize : kernels::Tail::bucket;
  p.reduction = kernels::Reduction::sum;
  TeacherEncoding enc;
  enc.topk = topk;
  enc.dtype = bf16 ? retort::DType::bf16 : retort::DType::f32;
  enc.temperature = p.temperature;
  for (const int64_t rows : {37, 64, 5}) {  // grow, then shrink: the staging buffers are reused
    CAPTURE(rows);
    const auto n = static_cast<size_t>(rows * vocab);
    const std::vector<float> logits = retort::test::random_normal(n, static_cast<uint32_t>(rows), 2.f);
    const std::vector<float> teacher = retort::test::random_normal(n, static_cast<uint32_t>(rows + 100), 3.f);
    std::vector<int32_t> labels(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) labels[static_cast<size_t>(r)] = static_cast<int32_t>((r * 37) % vocab);
    EncodedLogits encoded;
    encoded.encode(teacher.data(), rows, vocab, enc);
    const kernels::TeacherLogits t = to_kernel_view(encoded.payload());
    const Out ref = run(cpu, logits, t, labels, rows, vocab, p);
    const Out got = run(cuda, logits, t, labels, rows, vocab, p);
    REQUIRE(!got.result.nonfinite_input);
    REQUIRE(got.result.rows_counted == ref.result.rows_counted);
    REQUIRE(retort::test::within_tolerance(got.result.loss, ref.result.loss, 1e-5, 1e-5));
    REQUIRE(retort::test::within_tolerance(got.result.kd, ref.result.kd, 1e-5, 1e-5));
    REQUIRE(retort::test::within_tolerance(got.result.ce, ref.result.ce, 1e-5, 1e-5));
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) bad += !retort::test::within_tolerance(got.dlogits[i], ref.dlogits[i], 1e-7, 1e-4);
    REQUIRE(bad == 0);
    for (size_t r = 0; r < static_cast<size_t>(rows); ++r) {
      REQUIRE(retort::test::within_tolerance(got.entropy[r], ref.entropy[r], 1e-5, 1e-5));
      REQUIRE(got.agree[r] == ref.agree[r]);
    }
  }
}
