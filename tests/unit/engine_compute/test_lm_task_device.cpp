// An LM student's training step (LmTask: Llama forward, chunked head + KD/CE loss, backward,
// optimizer) on device Computes against the CPU: on the fake device (the CPU kernels behind
// separate, checked memory) the weights after 3 AdamW steps are bitwise the CPU's; with the CUDA
// transformer kernels on the SIMT emulator (EmulatedCudaCompute) the loss is within 5e-6
// relative and every weight within 5e-6 + 1e-4·|cpu| after 3 SGD-momentum steps (the CUDA
// attention's and rmsnorm backward's sum orders differ from the CPU's; measured in the clang-16
// ASan build: at most 1.2e-7, with weights moving 0.6e-3 to 8e-3 on average). SGD, because
// AdamW's m/(√v + ε) turns the rounding of a near-zero gradient into an O(lr) weight change:
// under AdamW that build moved one weight 1.3e-5 past the bound.
#include "tests/unit/transformer_cuda/emulated_cuda_compute.h"
// The emulator's built-ins must come first.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "core/distill/lm_distill_objective.h"
#include "core/distill/lm_teacher_pool.h"
#include "tests/support/student_steps.h"
#include "tests/support/tiny_llama.h"
#include "tests/unit/engine_compute/fake_device_compute.h"

using namespace retort;
using namespace retort::core;
namespace fs = std::filesystem;

namespace {

// The targets of a CPU teacher, computed once per step (what the channel or cache would deliver).
class TeacherTargets final : public LmTargetSource {
 public:
  explicit TeacherTargets(LmTeacherPool& pool) : pool_(pool) {}
  const LmTargets& fetch(int64_t, std::span<const int64_t> ids) override {
    pool_.compute(ids, targets_);
    return targets_;
  }
  nlohmann::json stats() const override { return {{"messages", 0}, {"bytes", 0}, {"wait_s", 0.0}}; }
  void close(int64_t) override {}

 private:
  LmTeacherPool& pool_;
  LmTargets targets_;
};

test::StudentSteps train_steps(const Config& cfg, LmTeacherPool& teacher, std::shared_ptr<Compute> compute, int steps) {
  LmDistillObjective objective(cfg.distill, std::make_unique<TeacherTargets>(teacher));
  return test::train_student_steps(cfg, std::move(compute), objective, steps);
}

}  // namespace

TEST_CASE("an LmTask training step on device Computes equals the CPU's (fake device: bitwise; emulated CUDA: "
          "within tolerance)", "[engine][device][lm]") {
  const fs::path dir = fs::temp_directory_path() / fmt::format("retort-lm-task-device-{}", getpid());
  fs::create_directories(dir);
  const std::string teacher_file = (dir / "teacher.safetensors").string();
  test::save_tiny_llama_teacher(teacher_file);

  for (const char* targets : {"targets: dense, alpha: 0.5", "targets: topk, topk: 3", "targets: sampled, samples: 4"}) {
    CAPTURE(targets);
    const auto job = [&](const char* optimizer) {
      return load_config_text(fmt::format(R"(
run: {{name: t, seed: 5}}
data: {{dataset: copy_task, seq_len: 8, copy_train_size: 64}}
student: {{arch: llama, vocab_size: 12, dim: 16, n_layers: 2, n_heads: 2, n_kv_heads: 1}}
teacher: {{checkpoint: {}}}
cluster: {{teachers: 1, students: 1}}
distill: {{{}}}
optim: {{{}}}
train: {{batch_size: 4, epochs: 1}}
)", teacher_file, targets, optimizer), "job.yaml");
    };
    const Config adamw = job("name: adamw, lr: 0.01");
    LmTeacherPool teacher(adamw);
    constexpr int kSteps = 3;
    const test::StudentSteps cpu_adamw = train_steps(adamw, teacher, cpu_compute(), kSteps);
    auto fake = std::make_shared<test::FakeDeviceCompute>();
    const test::StudentSteps on_fake = train_steps(adamw, teacher, fake, kSteps);
    REQUIRE(fake->uploads > 0);
    REQUIRE(on_fake.losses == cpu_adamw.losses);
    REQUIRE(on_fake.params == cpu_adamw.params);

    const Config sgd = job("name: sgd, lr: 0.3");
    const test::StudentSteps cpu = train_steps(sgd, teacher, cpu_compute(), kSteps);
    auto emulated = std::make_shared<test::EmulatedCudaCompute>();
    const test::StudentSteps on_emulated = train_steps(sgd, teacher, emulated, kSteps);
    REQUIRE(emulated->transformer_ops > 0);
    for (int s = 0; s < kSteps; ++s) {
      CAPTURE(s, cpu.losses[s], on_emulated.losses[s]);
      REQUIRE(std::fabs(on_emulated.losses[s] - cpu.losses[s]) <= 5e-6 * std::fabs(cpu.losses[s]));
    }
    REQUIRE(on_emulated.params.size() == cpu.params.size());
    for (size_t i = 0; i < cpu.params.size(); ++i) {
      CAPTURE(i, cpu.params[i], on_emulated.params[i]);
      REQUIRE(std::fabs(on_emulated.params[i] - cpu.params[i]) <= 5e-6 + 1e-4 * std::fabs(cpu.params[i]));
    }
  }
  fs::remove_all(dir);
}
