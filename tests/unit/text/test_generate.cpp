// Generation: greedy output of a small random Llama model equals recomputing the full forward
// (float64 head) at every step; stop ids and the token limit; sampling (seeded, top-k/top-p,
// frequencies); the ChatML chat template and refusal of other templates.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/lm/llama_model.h"
#include "core/model/cpu_compute.h"
#include "core/text/chat_template.h"
#include "core/text/generate.h"
#include "core/text/sampling.h"
#include "tests/unit/text/error_message.h"

using namespace retort::core;

namespace {

LlamaConfig small_config() {
  LlamaConfig c;
  c.vocab_size = 50;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.ffn_dim = 64;
  c.max_seq_len = 64;
  c.tie_embeddings = false;
  return c;
}

// A random model whose logits are far apart (weights ~ normal(0, 0.4)), so argmax is stable.
std::unique_ptr<LlamaModel> random_model(uint64_t seed) {
  auto m = std::make_unique<LlamaModel>(small_config(), cpu_compute());
  m->initialize(seed);
  for (float& p : m->params()) p *= 20.f;
  return m;
}

// Greedy next token after `tokens` from a full forward, head in float64.
int32_t full_forward_greedy(LlamaModel& m, const std::vector<int32_t>& tokens) {
  const LlamaConfig& c = m.config();
  const auto T = static_cast<int64_t>(tokens.size());
  const float* h = m.forward(tokens.data(), {1, T, false, nullptr, 0, 0}) + (T - 1) * c.dim;
  const float* w = m.head_weight();
  int32_t best = 0;
  double best_logit = -INFINITY;
  for (int64_t v = 0; v < c.vocab_size; ++v) {
    double z = 0;
    for (int64_t d = 0; d < c.dim; ++d) z += static_cast<double>(h[d]) * w[v * c.dim + d];
    if (z > best_logit) {
      best_logit = z;
      best = static_cast<int32_t>(v);
    }
  }
  return best;
}

}  // namespace

TEST_CASE("greedy generation equals a full forward at every step") {
  for (const uint64_t seed : {1u, 2u, 3u}) {
    auto m = random_model(seed);
    const std::vector<int32_t> prompt{7, 3, 11, 3};
    GenerateOptions o;
    o.max_new_tokens = 24;
    o.sampling.greedy = true;
    std::vector<int32_t> streamed;
    const std::vector<int32_t> out = generate(*m, prompt, o, [&](int32_t id) { streamed.push_back(id); });
    CHECK(out == streamed);
    REQUIRE(out.size() == 24);
    std::vector<int32_t> seq = prompt;
    for (const int32_t id : out) {
      CHECK(id == full_forward_greedy(*m, seq));
      seq.push_back(id);
    }
  }
}

TEST_CASE("generation stops before a stop id and at max_seq_len") {
  auto m = random_model(4);
  GenerateOptions o;
  o.max_new_tokens = 10;
  o.sampling.greedy = true;
  const std::vector<int32_t> prompt{1, 2};
  const std::vector<int32_t> free_run = generate(*m, prompt, o);
  o.stop_ids = {free_run[3]};
  const std::vector<int32_t> stopped = generate(*m, prompt, o);
  const auto first = std::find(free_run.begin(), free_run.end(), free_run[3]) - free_run.begin();
  CHECK(stopped == std::vector<int32_t>(free_run.begin(), free_run.begin() + first));
  o.stop_ids.clear();
  o.max_new_tokens = 1000;
  CHECK(generate(*m, std::vector<int32_t>(60, 5), o).size() == 4);  // 64 - 60
  CHECK(error_message([&] { generate(*m, std::vector<int32_t>(64, 5), o); }) ==
        "generate: the prompt's 64 tokens leave no room in max_seq_len 64");
  CHECK(error_message([&] { generate(*m, std::vector<int32_t>{50}, o); }) ==
        "generate: prompt token 50 is outside the vocabulary of 50");
}

TEST_CASE("sampling: seeded, top-k 1 and tiny top-p are greedy, frequencies follow softmax") {
  const std::vector<float> logits{0.f, std::log(3.f), -1e9f, 1.f};  // p ~ 1/(1+3+e), 3/(..), 0, e/(..)
  SamplingOptions s;
  s.seed = 9;
  TokenSampler a(s), b(s);
  for (int i = 0; i < 100; ++i) CHECK(a.next(logits) == b.next(logits));
  s.top_k = 1;
  TokenSampler k1(s);
  s.top_k = 0;
  s.top_p = 1e-6;
  TokenSampler p0(s);
  for (int i = 0; i < 20; ++i) {
    CHECK(k1.next(logits) == 1);
    CHECK(p0.next(logits) == 1);
  }
  s.top_p = 1;
  s.temperature = 2;
  TokenSampler t2(s);
  std::vector<int> counts(4);
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[static_cast<size_t>(t2.next(logits))];
  const double w0 = 1, w1 = std::sqrt(3.0), w3 = std::exp(0.5), total = w0 + w1 + w3;  // softmax(z / 2)
  CHECK(counts[2] == 0);
  CHECK(std::abs(counts[0] / double(n) - w0 / total) < 0.015);
  CHECK(std::abs(counts[1] / double(n) - w1 / total) < 0.015);
  CHECK(std::abs(counts[3] / double(n) - w3 / total) < 0.015);
  s.top_p = 0;
  CHECK(error_message([&] { TokenSampler bad(s); }) == "--top-p 0.000000 must be in (0, 1]");
}

TEST_CASE("the ChatML template renders like Jinja would; other templates are refused") {
  const std::string smollm2 =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
      "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' "
      "+ message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
      "{{ '<|im_start|>assistant\n' }}{% endif %}";
  CHECK(apply_chat_template(smollm2, {{"user", "Hi?"}}, true, "m") ==
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n");
  CHECK(apply_chat_template(smollm2, {{"system", "Be brief."}, {"user", "Hi?"}}, false, "m") ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n");
  std::string escaped;  // the same template with "\n" escapes instead of newlines
  for (const char ch : smollm2) escaped += ch == '\n' ? std::string("\\n") : std::string(1, ch);
  CHECK(apply_chat_template(escaped, {{"user", "x"}}, true, "m") == apply_chat_template(smollm2, {{"user", "x"}}, true, "m"));
  const std::string plain =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
      "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
  CHECK(apply_chat_template(plain, {{"user", "x"}}, true, "m") == "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n");
  CHECK(error_message([] { apply_chat_template("{{ bos_token }}{% for m in messages %}[INST]{% endfor %}", {}, true, "m.gguf"); }) ==
        "m.gguf: the chat template is not the ChatML form retort generate implements (<|im_start|>role\\ncontent<|im_end|>\\n "
        "per message, optional default system message)");
}
