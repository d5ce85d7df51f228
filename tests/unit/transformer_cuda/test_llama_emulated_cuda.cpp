// A Llama training step (forward, chunked head + CE, backward) and KV-cache decoding with the
// transformer ops run by the CUDA kernel sources on the SIMT emulator (EmulatedCudaCompute),
// against the same model on the CPU Compute: loss, every gradient and the decode logits within
// stated tolerances (the kernels sum in different fixed orders, so not bitwise). One GQA 4/2
// sequence of 37 tokens (two attention tiles); the kernel tests cover the other shapes.
#include "tests/unit/transformer_cuda/emulated_cuda_compute.h"
// The emulator's built-ins must come first.
#include <catch2/catch.hpp>

#include <cmath>

#include "tests/unit/lm_model/lm_test_support.h"

using namespace retort::core;
using namespace retort::test;
using retort::core::test::EmulatedCudaCompute;

namespace {
// |emulated − cpu| <= tol + |cpu|·eps, worst ratio over the buffer (<= 1 passes).
double worst_ratio(const float* got, const float* ref, size_t n, double tol, double eps) {
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const double err = std::abs(double(got[i]) - ref[i]);
    if (!(err == err)) return 1e30;
    worst = std::max(worst, err / (tol + std::abs(double(ref[i])) * eps));
  }
  return worst;
}
constexpr double kLossEps = 1e-5;                  // relative, on the mean loss
constexpr double kGradTol = 1e-6, kGradEps = 1e-4;  // gradients (weights ~N(0, 0.5), 2 layers)
constexpr double kLogitTol = 1e-5, kLogitEps = 1e-5;
}  // namespace

TEST_CASE("llama step and decode with the CUDA transformer kernels (emulated) match the CPU",
          "[cuda][emulated][lm_model]") {
  LlamaConfig c = tiny_config(false, 2, true);  // GQA 4/2, untied head, qkv bias
  c.max_seq_len = 40;
  auto device = std::make_shared<EmulatedCudaCompute>();
  LlamaModel on_cpu(c, cpu_compute(), 0.2), on_device(c, device, 0.2);
  const auto weights = random_weights(on_cpu, 41);
  on_cpu.load_tensors(weights, "test");
  on_device.load_tensors(weights, "test");
  const int64_t batch = 1, seq = 37;  // two attention tiles of 32
  const auto tokens = random_tokens(batch * seq, c.vocab_size, 3);
  const auto labels = random_tokens(batch * seq, c.vocab_size, 4);
  const std::vector<uint64_t> ids = {5};
  const LmBatch b{batch, seq, true, ids.data(), 9, 1};
  const StepResult cpu_step = train_step(on_cpu, tokens, labels, b);
  const StepResult device_step = train_step(on_device, tokens, labels, b);
  CHECK(device->transformer_ops > 0);
  CHECK(std::abs(device_step.mean_loss - cpu_step.mean_loss) <= kLossEps * std::abs(cpu_step.mean_loss));
  const double worst =
      worst_ratio(device_step.grads.data(), cpu_step.grads.data(), cpu_step.grads.size(), kGradTol, kGradEps);
  INFO("worst gradient error / tolerance " << worst);
  CHECK(worst <= 1.0);

  std::vector<float> cpu_logits(static_cast<size_t>(c.vocab_size)), device_logits(cpu_logits.size());
  KvCache cpu_cache(c, on_cpu.compute_ptr()), device_cache(c, device);
  on_cpu.decode(tokens.data(), 33, cpu_cache, cpu_logits.data());  // prefill past one tile
  on_device.decode(tokens.data(), 33, device_cache, device_logits.data());
  const double prefill_worst =
      worst_ratio(device_logits.data(), cpu_logits.data(), cpu_logits.size(), kLogitTol, kLogitEps);
  INFO("worst prefill logit error / tolerance " << prefill_worst);
  CHECK(prefill_worst <= 1.0);
  on_cpu.decode(tokens.data() + 33, 1, cpu_cache, cpu_logits.data());  // one step with the cache
  on_device.decode(tokens.data() + 33, 1, device_cache, device_logits.data());
  const double step_worst =
      worst_ratio(device_logits.data(), cpu_logits.data(), cpu_logits.size(), kLogitTol, kLogitEps);
  INFO("worst decode-step logit error / tolerance " << step_worst);
  CHECK(step_worst <= 1.0);
}
