// LlamaModel against the float64 reference (loss and every parameter gradient by central finite
// differences), its HF layout and load errors, the gradient-ready hook, batch invariance,
// dropout keyed by (sample, position), KV-cache decoding, and the Compute capability check.
#include <catch2/catch.hpp>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/base/error.h"
#include "core/model/cpu_compute.h"
#include "kernels/dropout.h"
#include "tests/unit/engine_compute/fake_device_compute.h"
#include "tests/unit/lm_model/lm_test_support.h"

using namespace retort;
using namespace retort::core;
using namespace retort::test;
using retort::core::test::FakeDeviceCompute;

namespace {

// Every parameter's gradient vs central differences of the float64 reference's mean loss.
// Tolerance |got − ref| ≤ 2e-5 + 2e-3·|ref| (float32 model vs float64 truth; FD error ~1e-9).
void check_gradients(const LlamaConfig& c, double dropout, uint32_t seed) {
  LlamaModel m(c, cpu_compute(), dropout);
  const auto weights = random_weights(m, seed);
  m.load_tensors(weights, "test");
  const int64_t batch = 2, seq_len = 5, n = batch * seq_len;
  const auto tokens = random_tokens(n, c.vocab_size, seed + 100);
  auto labels = random_tokens(n, c.vocab_size, seed + 200);
  labels[3] = -100;  // ignored rows count for nothing
  labels[n - 1] = -100;
  const std::vector<uint64_t> ids = {17, 4};
  const LmBatch b{batch, seq_len, true, ids.data(), 7, 3};
  const StepResult got = train_step(m, tokens, labels, b);

  ReferenceLlama ref = reference_of(c, weights);
  if (dropout > 0) {  // the model's documented key: mix64(row_key(seed, epoch, id, site) ^ mix64(position))
    const uint32_t threshold = kernels::dropout_threshold(dropout);
    ref.dropout_scale = [=](int64_t layer, int site, int64_t row, int64_t col) {
      const uint64_t key = kernels::mix64(
          kernels::row_key(7, 3, ids[static_cast<size_t>(row / seq_len)], static_cast<uint64_t>(2 * layer + site)) ^
          kernels::mix64(static_cast<uint64_t>(row % seq_len)));
      return kernels::uniform_u32(key, static_cast<uint64_t>(col)) >= threshold ? 1.0 / (1.0 - dropout) : 0.0;
    };
  }
  const double loss = ref.loss(tokens, labels, batch, seq_len);
  CHECK(within_tolerance(got.mean_loss, loss, 1e-6, 1e-5));

  const double h = 1e-6;
  double worst = 0;
  for (const ParamTensor& t : m.layout().tensors()) {
    Vec& w = ref.w.at(t.name);
    for (int64_t i = 0; i < t.numel; ++i) {
      const double saved = w[i];
      w[i] = saved + h;
      const double up = ref.loss(tokens, labels, batch, seq_len);
      w[i] = saved - h;
      const double down = ref.loss(tokens, labels, batch, seq_len);
      w[i] = saved;
      const double fd = (up - down) / (2 * h);
      const double g = got.grads[static_cast<size_t>(t.offset + i)];
      worst = std::max(worst, std::abs(g - fd) / (2e-5 + 2e-3 * std::abs(fd)));
      if (!within_tolerance(g, fd, 2e-5, 2e-3)) {
        INFO(t.name << "[" << i << "] model " << g << " reference " << fd);
        CHECK(false);
      }
    }
  }
  INFO("worst error / tolerance " << worst);
  CHECK(worst <= 1.0);
}

}  // namespace

TEST_CASE("llama loss and every gradient match the float64 reference", "[lm_model]") {
  SECTION("tied head, GQA, qkv bias") { check_gradients(tiny_config(true, 2, true), 0, 1); }
  SECTION("untied head, MHA, no bias") { check_gradients(tiny_config(false, 4, false), 0, 2); }
  SECTION("untied head, GQA (one kv head), qkv bias") { check_gradients(tiny_config(false, 1, true), 0, 3); }
  SECTION("tied head, MHA, no bias, dropout 0.3 keyed by (sample, position)") {
    check_gradients(tiny_config(true, 4, false), 0.3, 4);
  }
}

TEST_CASE("llama layout uses Hugging Face names and shapes, embedding first", "[lm_model]") {
  LlamaConfig c = tiny_config(false, 2, true);
  c.n_layers = 1;
  LlamaModel m(c);
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"model.embed_tokens.weight", {13, 16}},
      {"model.layers.0.input_layernorm.weight", {16}},
      {"model.layers.0.self_attn.q_proj.weight", {16, 16}},
      {"model.layers.0.self_attn.q_proj.bias", {16}},
      {"model.layers.0.self_attn.k_proj.weight", {8, 16}},
      {"model.layers.0.self_attn.k_proj.bias", {8}},
      {"model.layers.0.self_attn.v_proj.weight", {8, 16}},
      {"model.layers.0.self_attn.v_proj.bias", {8}},
      {"model.layers.0.self_attn.o_proj.weight", {16, 16}},
      {"model.layers.0.post_attention_layernorm.weight", {16}},
      {"model.layers.0.mlp.gate_proj.weight", {24, 16}},
      {"model.layers.0.mlp.up_proj.weight", {24, 16}},
      {"model.layers.0.mlp.down_proj.weight", {16, 24}},
      {"model.norm.weight", {16}},
      {"lm_head.weight", {13, 16}},
  };
  const auto& ts = m.layout().tensors();
  REQUIRE(ts.size() == expected.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    CHECK(ts[i].name == expected[i].first);
    CHECK(ts[i].shape == expected[i].second);
  }
  CHECK(ts[0].offset == 0);

  LlamaModel tied(tiny_config(true, 2, false));
  for (const auto& t : tied.layout().tensors()) CHECK(t.name != "lm_head.weight");
  CHECK(tied.spec_json()["arch"] == "llama");
  CHECK(tied.spec_json()["llama"]["tie_embeddings"] == true);

  // Initialisation: norm gains 1, biases 0, weights normal(0, 0.02).
  m.initialize(5);
  const auto p = m.params();
  double sum_sq = 0;
  int64_t count = 0;
  for (const auto& t : ts) {
    if (t.name.find("norm.weight") != std::string::npos) {
      for (int64_t i = 0; i < t.numel; ++i) CHECK(p[t.offset + i] == 1.f);
    } else if (t.name.ends_with(".bias")) {
      for (int64_t i = 0; i < t.numel; ++i) CHECK(p[t.offset + i] == 0.f);
    } else {
      for (int64_t i = 0; i < t.numel; ++i) sum_sq += static_cast<double>(p[t.offset + i]) * p[t.offset + i];
      count += t.numel;
    }
  }
  CHECK(std::sqrt(sum_sq / static_cast<double>(count)) == Approx(0.02).epsilon(0.05));
}

TEST_CASE("llama load_tensors copies by name and names what is wrong", "[lm_model]") {
  const LlamaConfig c = tiny_config(true, 2, false);
  LlamaModel m(c);
  auto w = random_weights(m, 9);
  m.load_tensors(w, "weights.safetensors");
  for (const auto& t : m.layout().tensors())
    CHECK(std::memcmp(m.params().data() + t.offset, w.at(t.name).data(), static_cast<size_t>(t.numel) * 4) == 0);

  auto message_of = [&](const std::map<std::string, std::vector<float>>& by_name) -> std::string {
    try {
      m.load_tensors(by_name, "weights.safetensors");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
      return e.message();
    }
    return "no error";
  };
  auto missing = w;
  missing.erase("model.norm.weight");
  CHECK(message_of(missing) == "weights.safetensors: tensor 'model.norm.weight' [16] is missing");
  auto extra = w;
  extra["lm_head.weight"] = std::vector<float>(13 * 16);
  CHECK(message_of(extra) == "weights.safetensors: tensor 'lm_head.weight' is not a parameter of this llama model");
  auto wrong = w;
  wrong["model.layers.1.self_attn.k_proj.weight"].resize(7);
  CHECK(message_of(wrong) ==
        "weights.safetensors: tensor 'model.layers.1.self_attn.k_proj.weight' has 7 elements, the model expects "
        "[8, 16] = 128");
  // A failed load leaves the weights as they were.
  CHECK(std::memcmp(m.params().data(), w.at("model.embed_tokens.weight").data(), 13 * 16 * 4) == 0);
}

TEST_CASE("llama backward reports ranges in decreasing order, tied embedding last", "[lm_model]") {
  for (bool tied : {true, false}) {
    const LlamaConfig c = tiny_config(tied, 2, true);
    LlamaModel m(c);
    m.load_tensors(random_weights(m, 11), "test");
    const auto tokens = random_tokens(8, c.vocab_size, 1);
    const auto labels = random_tokens(8, c.vocab_size, 2);
    std::vector<std::pair<int64_t, int64_t>> ranges;
    std::vector<std::vector<float>> at_report;  // the range's gradient when it was reported
    const StepResult r = train_step(m, tokens, labels, {1, 8, true, nullptr, 0, 0}, core::kDefaultHeadChunkBytes,
                                    [&](int64_t off, int64_t count) {
                                      ranges.emplace_back(off, count);
                                      const auto g = m.grads();
                                      at_report.emplace_back(g.begin() + off, g.begin() + off + count);
                                    });
    INFO("tied " << tied);
    REQUIRE(ranges.size() == static_cast<size_t>(c.n_layers + (tied ? 2 : 3)));
    int64_t end = m.num_params();
    for (const auto& [off, count] : ranges) {
      CHECK(off + count == end);
      CHECK(count > 0);
      end = off;
    }
    CHECK(end == 0);
    CHECK(ranges.back().first == 0);  // the embedding (and tied head) range comes last
    for (size_t i = 0; i < ranges.size(); ++i)
      CHECK(std::memcmp(at_report[i].data(), r.grads.data() + ranges[i].first, at_report[i].size() * 4) == 0);
  }
}

TEST_CASE("llama forward in the batch-invariant Compute: a sequence alone equals it inside a batch, on 1 or 2 threads",
          "[lm_model]") {
  LlamaConfig c = tiny_config(false, 2, true);
  c.vocab_size = 50;
  c.dim = 64;
  c.ffn_dim = 96;
  c.max_seq_len = 32;
  LlamaModel m(c, cpu_compute_batch_invariant());
  m.load_tensors(random_weights(m, 21), "test");
  const int64_t T = 20;
  const auto batch_tokens = random_tokens(3 * T, c.vocab_size, 5);
  const std::vector<int32_t> alone(batch_tokens.begin() + T, batch_tokens.begin() + 2 * T);

  std::vector<float> hidden_alone(static_cast<size_t>(T * c.dim)), logits_alone(static_cast<size_t>(T * c.vocab_size));
  const float* h = m.forward(alone.data(), {1, T, false, nullptr, 0, 0});
  std::copy(h, h + T * c.dim, hidden_alone.begin());
  m.compute().linear_forward(h, m.head_weight(), nullptr, logits_alone.data(), T, c.dim, c.vocab_size, false);

  std::vector<float> logits_batch(static_cast<size_t>(3 * T * c.vocab_size));
  h = m.forward(batch_tokens.data(), {3, T, false, nullptr, 0, 0});
  CHECK(std::memcmp(h + T * c.dim, hidden_alone.data(), hidden_alone.size() * 4) == 0);
  m.compute().linear_forward(h, m.head_weight(), nullptr, logits_batch.data(), 3 * T, c.dim, c.vocab_size, false);
  CHECK(std::memcmp(logits_batch.data() + T * c.vocab_size, logits_alone.data(), logits_alone.size() * 4) == 0);

  // Nor on the thread count.
  const int threads = omp_get_max_threads();
  for (int t : {1, 2}) {
    omp_set_num_threads(t);
    h = m.forward(batch_tokens.data(), {3, T, false, nullptr, 0, 0});
    CHECK(std::memcmp(h + T * c.dim, hidden_alone.data(), hidden_alone.size() * 4) == 0);
  }
  omp_set_num_threads(threads);

  // Dropout keys depend on (sample id, position), not on the slot in the batch.
  LlamaModel d(c, cpu_compute_batch_invariant(), 0.25);
  d.load_tensors(random_weights(d, 21), "test");
  const std::vector<uint64_t> id_alone = {42}, ids = {7, 42, 9};
  h = d.forward(alone.data(), {1, T, true, id_alone.data(), 1, 2});
  std::copy(h, h + T * c.dim, hidden_alone.begin());
  h = d.forward(batch_tokens.data(), {3, T, true, ids.data(), 1, 2});
  CHECK(std::memcmp(h + T * c.dim, hidden_alone.data(), hidden_alone.size() * 4) == 0);
  h = d.forward(alone.data(), {1, T, true, ids.data(), 1, 2});  // another sample id: another mask
  CHECK(std::memcmp(h, hidden_alone.data(), hidden_alone.size() * 4) != 0);
}

TEST_CASE("llama decode with a KV cache gives the greedy tokens and logits of full forwards", "[lm_model]") {
  for (bool batch_invariant : {false, true}) {
    const LlamaConfig c = tiny_config(false, 2, true);
    LlamaModel m(c, batch_invariant ? cpu_compute_batch_invariant() : cpu_compute());
    m.load_tensors(random_weights(m, 31), "test");
    const int64_t V = c.vocab_size;
    std::vector<int32_t> full = {3, 1, 4};
    KvCache cache(c, m.compute_ptr());
    std::vector<float> logits(static_cast<size_t>(V)), ref_logits(static_cast<size_t>(V));
    m.decode(full.data(), 3, cache, logits.data());  // the prompt at once
    std::vector<int32_t> decoded;
    for (int step = 0; step < 10; ++step) {
      const int64_t T = static_cast<int64_t>(full.size());
      const float* h = m.forward(full.data(), {1, T, false, nullptr, 0, 0});
      m.compute().linear_forward(h + (T - 1) * c.dim, m.head_weight(), nullptr, ref_logits.data(), 1, c.dim, V, false);
      for (int64_t j = 0; j < V; ++j) CHECK(within_tolerance(logits[j], ref_logits[j], 1e-5, 1e-5));
      const auto greedy = [&](const std::vector<float>& z) {
        return static_cast<int32_t>(std::max_element(z.begin(), z.end()) - z.begin());
      };
      CHECK(greedy(logits) == greedy(ref_logits));
      const int32_t next = greedy(ref_logits);
      full.push_back(next);
      if (step == 4) {  // two tokens at once (queries at positions > 0 attending the cache)
        full.push_back((next + 1) % static_cast<int32_t>(V));
        m.decode(full.data() + T, 2, cache, logits.data());
      } else {
        m.decode(&full.back(), 1, cache, logits.data());
      }
      CHECK(cache.length() == static_cast<int64_t>(full.size()));
    }
  }
}

TEST_CASE("llama model refuses a Compute that lacks an op", "[lm_model]") {
  struct NoAttention : CpuCompute {
    std::string name() const override { return "no-attention"; }
    bool supports(ComputeOp op) const override { return op != ComputeOp::attention; }
  };
  try {
    LlamaModel m(tiny_config(true, 2, false), std::make_shared<NoAttention>());
    FAIL("constructed");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(e.message() == "llama model: compute 'no-attention' (device cpu) does not support the attention op");
  }
  // The base class refuses the ops it does not implement, naming op and backend.
  CpuCompute cpu;
  try {
    cpu.Compute::rope_forward({});
    FAIL("ran");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::runtime);
    CHECK(e.message() == "compute 'cpu' does not support the rope op (forward)");
  }
  CHECK_FALSE(cpu.Compute::supports(ComputeOp::swiglu));
  CHECK(cpu.supports(ComputeOp::swiglu));
}

TEST_CASE("llama input errors name what is wrong", "[lm_model]") {
  const LlamaConfig c = tiny_config(true, 2, false);
  LlamaModel m(c);
  const std::vector<int32_t> bad = {1, 13};
  CHECK_THROWS_WITH(m.forward(bad.data(), {1, 2, false, nullptr, 0, 0}),
                    Catch::Contains("token id 13 at row 1 is outside the vocabulary [0, 13)"));
  const std::vector<int32_t> long_seq(17, 0);
  CHECK_THROWS_WITH(m.forward(long_seq.data(), {1, 17, false, nullptr, 0, 0}),
                    Catch::Contains("sequence length 17 exceeds max_seq_len 16"));
  CHECK_THROWS_WITH(LlamaModel(c, cpu_compute(), 1.0), Catch::Contains("dropout must be in [0, 1)"));
}

TEST_CASE("llama on a separate-memory device: the same bits as on the CPU, every buffer where it belongs", "[lm_model]") {
  // The fake device checks that linear, dropout, softmax-CE, zero and copy get device memory,
  // keys and labels host memory, and that uploads/downloads cross the boundary the right way.
  const LlamaConfig c = tiny_config(false, 2, true);
  auto device = std::make_shared<FakeDeviceCompute>();
  LlamaModel on_cpu(c, cpu_compute(), 0.2), on_device(c, device, 0.2);
  const auto weights = random_weights(on_cpu, 41);
  on_cpu.load_tensors(weights, "test");
  on_device.load_tensors(weights, "test");
  const auto tokens = random_tokens(12, c.vocab_size, 3);
  const auto labels = random_tokens(12, c.vocab_size, 4);
  const std::vector<uint64_t> ids = {5, 6};
  const LmBatch b{2, 6, true, ids.data(), 9, 1};
  const StepResult cpu_step = train_step(on_cpu, tokens, labels, b);
  const StepResult device_step = train_step(on_device, tokens, labels, b);
  CHECK(device_step.mean_loss == cpu_step.mean_loss);
  CHECK(std::memcmp(device_step.grads.data(), cpu_step.grads.data(), cpu_step.grads.size() * 4) == 0);
  CHECK(device->uploads > 0);
  CHECK(device->downloads > 0);

  std::vector<float> cpu_logits(static_cast<size_t>(c.vocab_size)), device_logits(cpu_logits.size());
  KvCache cpu_cache(c, on_cpu.compute_ptr()), device_cache(c, device);
  on_cpu.decode(tokens.data(), 4, cpu_cache, cpu_logits.data());
  on_device.decode(tokens.data(), 4, device_cache, device_logits.data());
  CHECK(std::memcmp(cpu_logits.data(), device_logits.data(), cpu_logits.size() * 4) == 0);
}
