// The CUDA kd_loss kernels (kernels/cuda/kd_loss.cuh, the exact device source) run on the SIMT
// emulator against the float64 reference, with the same checks as the CPU implementation.
#include "tests/simt/simt.h"
// The emulator's built-ins must come first.
#include "core/base/tensor.h"
#include "kernels/cuda/kd_loss.cuh"
#include "tests/unit/kernels/kd_loss_checks.h"

namespace {
using namespace retort::kernels;
using namespace retort::kernels::test;

// Host memory stands in for device memory; launches run synchronously.
const Caller emulated_call = [](const retort::TensorView& z, const TeacherLogits& t, const int32_t* labels,
                                const retort::TensorView& dz, const KdLossParams& params,
                                const KdLossMetrics& metrics) {
  validate_kd_loss_args(z, t, labels, dz, params);
  const gpu::KdLaunchArgs args = gpu::kd_launch_args(z, t, labels, dz, params, metrics);
  retort::HostBuffer workspace(gpu::kd_workspace_bytes(z.rows));
  gpu::kd_enqueue(args, workspace.data(), nullptr);
  return gpu::kd_result_from_totals(*static_cast<const gpu::KdTotals*>(workspace.data()), z.cols);
};

const Limits small{.max_rows = 4, .max_vocab = 700, .iterations = 32, .huge_vocab = 262144};
}  // namespace

TEST_CASE("kd_loss emulated cuda: random shapes, dtypes, divergences and tails match the reference", "[kd_loss]") {
  check_random_shapes(emulated_call, small);
}

TEST_CASE("kd_loss emulated cuda: gradients match finite differences of the reference loss", "[kd_loss]") {
  check_finite_difference(emulated_call);
}

TEST_CASE("kd_loss emulated cuda: identities (z == t, jsd endpoints, non-negative, rows sum to 0)", "[kd_loss]") {
  check_identities(emulated_call);
}

TEST_CASE("kd_loss emulated cuda: edge cases", "[kd_loss]") { check_edge_cases(emulated_call, small); }

TEST_CASE("kd_loss emulated cuda: one CTA per row uses 32..512 threads", "[kd_loss]") {
  CHECK(gpu::kd_threads_per_row(1) == 32);
  CHECK(gpu::kd_threads_per_row(300) == 64);
  CHECK(gpu::kd_threads_per_row(32000) == 512);
}
