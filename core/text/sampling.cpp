// Greedy and temperature/top-k/top-p sampling (probabilities in float64).
#include "core/text/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace retort::core {

TokenSampler::TokenSampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {
  if (!(options.temperature >= 0)) RETORT_INPUT_ERROR("--temperature " + std::to_string(options.temperature) + " must be >= 0");
  if (options.top_k < 0) RETORT_INPUT_ERROR("--top-k " + std::to_string(options.top_k) + " must be >= 0");
  if (!(options.top_p > 0 && options.top_p <= 1)) RETORT_INPUT_ERROR("--top-p " + std::to_string(options.top_p) + " must be in (0, 1]");
}

int32_t TokenSampler::next(std::span<const float> logits) {
  RETORT_CHECK(!logits.empty(), "no logits");
  if (options_.greedy || options_.temperature == 0)
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  const auto by_logit = [&](int32_t a, int32_t b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; };
  size_t keep = order.size();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < keep) {
    keep = static_cast<size_t>(options_.top_k);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(), by_logit);
  } else {
    std::sort(order.begin(), order.end(), by_logit);
  }
  std::vector<double> p(keep);
  const double top = logits[order[0]];
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) sum += p[i] = std::exp((logits[order[i]] - top) / options_.temperature);
  if (options_.top_p < 1) {
    double mass = 0;
    size_t n = 0;
    while (n < keep && mass < options_.top_p * sum) mass += p[n++];
    keep = std::max<size_t>(n, 1);
    sum = std::accumulate(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
  }
  const double u = static_cast<double>(rng_() >> 11) * 0x1p-53 * sum;  // uniform in [0, sum)
  double acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (u < acc) return order[i];
  }
  return order[keep - 1];
}

}  // namespace retort::core
