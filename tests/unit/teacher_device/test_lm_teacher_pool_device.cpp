// LmTeacherPool on a device Compute: a small random Llama teacher on EmulatedCudaCompute in
// batch-invariant mode (the CUDA transformer kernels and the CUDA invariant linear on the SIMT
// emulator, separate-memory semantics) over the copy task. Dense targets within 1e-5 + 1e-5|cpu|
// of the CPU teacher's (the attention kernels' sum orders differ); on the device, a window's dense
// and top-k targets are bitwise the same grouped or alone.
#include "tests/unit/transformer_cuda/emulated_cuda_compute.h"
// The emulator's built-ins must come first.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/distill/lm_teacher_pool.h"
#include "tests/support/tiny_llama.h"

using namespace retort;
using namespace retort::core;
namespace fs = std::filesystem;

namespace {
std::vector<float> as_floats(const std::vector<uint8_t>& bytes) {
  std::vector<float> f(bytes.size() / sizeof(float));
  std::memcpy(f.data(), bytes.data(), f.size() * sizeof(float));
  return f;
}
}  // namespace

TEST_CASE("an LM teacher on the emulated CUDA kernels: CPU targets within tolerance, batch-invariant bits",
          "[distill][device][cuda][lm]") {
  const fs::path dir = fs::temp_directory_path() / fmt::format("retort-lm-teacher-device-{}", getpid());
  fs::create_directories(dir);
  const std::string teacher = (dir / "teacher.safetensors").string();
  core::test::save_tiny_llama_teacher(teacher);

  const std::vector<int64_t> group = {5, 2, 9};
  {
    const Config cfg = core::test::tiny_copy_distill_job(teacher, "targets: dense", 1, 2, 8);
    LmTeacherPool cpu(cfg);
    auto emulated = std::make_shared<core::test::EmulatedCudaCompute>(/*batch_invariant=*/true);
    LmTeacherPool dev(cfg, emulated);
    LmTargets a, b;
    cpu.compute(group, a);
    dev.compute(group, b);
    REQUIRE(emulated->transformer_ops > 0);
    REQUIRE(emulated->invariant_linears > 0);
    b.validate("device targets");
    REQUIRE(a.rows == b.rows);
    REQUIRE(a.kind == TargetKind::dense);
    const auto la = as_floats(a.values), lb = as_floats(b.values);
    REQUIRE(la.size() == lb.size());
    for (size_t i = 0; i < la.size(); ++i) {
      CAPTURE(i, la[i], lb[i]);
      REQUIRE(std::fabs(la[i] - lb[i]) <= 1e-5 + 1e-5 * std::fabs(la[i]));
    }
    for (size_t w = 0; w < group.size(); ++w) {
      LmTargets alone;
      dev.compute(std::span<const int64_t>(&group[w], 1), alone);
      const size_t cells = static_cast<size_t>(8 * b.vocab) * sizeof(float);
      REQUIRE(std::memcmp(alone.values.data(), b.values.data() + w * cells, cells) == 0);
    }
  }
  {
    const Config cfg = core::test::tiny_copy_distill_job(teacher, "targets: topk, topk: 3", 1, 2, 8);
    LmTeacherPool dev(cfg, std::make_shared<core::test::EmulatedCudaCompute>(true));
    LmTargets together;
    dev.compute(group, together);
    REQUIRE(together.kind == TargetKind::topk);
    for (size_t w = 0; w < group.size(); ++w) {
      LmTargets alone;
      dev.compute(std::span<const int64_t>(&group[w], 1), alone);
      const size_t cells = static_cast<size_t>(8 * together.k), vb = dtype_size(together.dtype);
      REQUIRE(std::equal(alone.indices.begin(), alone.indices.end(), together.indices.begin() + w * cells));
      REQUIRE(std::memcmp(alone.values.data(), together.values.data() + w * cells * vb, cells * vb) == 0);
      REQUIRE(std::memcmp(alone.lse.data(), together.lse.data() + w * 8, 8 * sizeof(float)) == 0);
    }
  }
  fs::remove_all(dir);
}
