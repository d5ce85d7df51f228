// `retort score MODEL --tokens FILE`: the log-probability of every next token of one token
// sequence under a Llama-family model (HF directory, .gguf, Retort weights or checkpoint), as
// JSON lines, then the mean NLL and perplexity. More than max_seq_len inputs (max_seq_len + 1 tokens) are refused.
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/base/error.h"
#include "core/lm/llama_model.h"
#include "core/lm/lm_head_loss.h"
#include "core/lm/lm_import.h"
#include "core/model/cpu_compute.h"
#include "launch/commands.h"

namespace retort::launch {
namespace {

std::vector<int32_t> read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) RETORT_INPUT_ERROR("retort score: cannot open token file '" + path + "'");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_array())
    RETORT_INPUT_ERROR("retort score: " + path + ": expected a JSON array of token ids");
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number_integer() || j[i].get<int64_t>() < 0 || j[i].get<int64_t>() > INT32_MAX)
      RETORT_INPUT_ERROR(fmt::format("retort score: {}: element {} is not a token id (a non-negative integer)", path, i));
    tokens.push_back(static_cast<int32_t>(j[i].get<int64_t>()));
  }
  return tokens;
}

}  // namespace

int run_score(const ScoreOptions& options) {
  std::vector<int32_t> tokens = read_token_file(options.tokens_file);
  if (options.max_tokens > 0 && static_cast<int64_t>(tokens.size()) > options.max_tokens)
    tokens.resize(static_cast<size_t>(options.max_tokens));
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n < 2) RETORT_INPUT_ERROR("retort score: " + options.tokens_file + ": needs at least 2 tokens");

  core::ImportedLm imported = core::import_lm(options.model);
  const core::LlamaConfig& c = imported.config;
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] >= c.vocab_size)
      RETORT_INPUT_ERROR(fmt::format("retort score: {}: token {} at index {} is outside the vocabulary of {} ({})",
                                     options.tokens_file, tokens[i], i, options.model, c.vocab_size));
  // The last token is only a target: n tokens are n − 1 inputs.
  if (n - 1 > c.max_seq_len)
    RETORT_INPUT_ERROR(fmt::format("retort score: {}: {} tokens are {} inputs, more than the max_seq_len {} of {} (use --max-tokens)",
                                   options.tokens_file, n, n - 1, c.max_seq_len, options.model));

  auto compute = options.batch_invariant ? core::cpu_compute_batch_invariant() : core::cpu_compute();
  core::LlamaModel model(c, compute);
  model.load_tensors(imported.tensors, options.model);
  imported.tensors.clear();

  const int64_t inputs = n - 1;
  const float* hidden = model.forward(tokens.data(), {1, inputs, false, nullptr, 0, 0});
  const std::vector<int32_t> labels(tokens.begin() + 1, tokens.end());
  std::vector<double> nll(static_cast<size_t>(inputs));
  core::ChunkedHead head(compute);
  const core::HeadLossSums sums = core::lm_head_cross_entropy(
      head, {hidden, model.head_weight(), inputs, c.dim, c.vocab_size, nullptr, nullptr}, {labels.data(), -100, 1.f, nll.data()});

  for (int64_t i = 0; i + 1 < n; ++i)
    std::cout << nlohmann::ordered_json{{"pos", i}, {"token", tokens[i + 1]}, {"logprob", -nll[i]}}.dump() << '\n';
  const double mean_nll = sums.loss_sum / static_cast<double>(sums.tokens);
  std::cout << nlohmann::ordered_json{{"mean_nll", mean_nll}, {"perplexity", std::exp(mean_nll)}, {"tokens", sums.tokens}}.dump()
            << std::endl;
  return 0;
}

}  // namespace retort::launch
