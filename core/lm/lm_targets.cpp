// The per-token target structs (sizes, validation) and their encoding from teacher logits:
// dense copies, top-k selection + lse, and keyed inverse-CDF draws.
#include "core/lm/lm_targets.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/base/error.h"
#include "kernels/dropout.h"
#include "kernels/target_rows.h"

namespace retort::core {
namespace {

// Uniform in [0, 1) with 53 random bits for draw m of the token keyed (seed, sample id, position).
double draw_uniform(uint64_t seed, int64_t sample_id, int32_t position, int32_t m) {
  using kernels::mix64;
  const uint64_t key =
      mix64(mix64(mix64(seed ^ 0x73616d706c656444ull) ^ static_cast<uint64_t>(sample_id)) ^
            static_cast<uint64_t>(static_cast<uint32_t>(position)));
  return static_cast<double>(mix64(key ^ (static_cast<uint64_t>(m) + 1) * 0xd1b54a32d192ed03ull) >> 11) * 0x1p-53;
}

// lse = max/T + log Σ_j exp((t_j − max)/T) (kernels/target_rows.h), with the terms in e when
// not null. Non-finite logits throw, naming the first.
double row_lse(const float* t, int64_t V, float temperature, float* e, int64_t row) {
  const kernels::RowExpSum r = kernels::row_exp_sum(t, V, 1.0f / temperature, e);
  if (!r.finite) {
    const int64_t j = std::find_if(t, t + V, [](float v) { return !std::isfinite(v); }) - t;
    RETORT_RUNTIME_ERROR(fmt::format("encode_targets: teacher logit {} of row {} is not finite", j, row));
  }
  return static_cast<double>(r.max) / static_cast<double>(temperature) + std::log(r.sum);
}

void store_value(LmTargets& out, size_t at, float v) {
  if (out.dtype == DType::f32) {
    std::memcpy(out.values.data() + at * 4, &v, 4);
  } else {
    const bf16 b = float_to_bf16(v);
    std::memcpy(out.values.data() + at * 2, &b, 2);
  }
}

void encode_topk(const float* t, int64_t row, LmTargets& out, std::vector<float>& best) {
  const int64_t V = out.vocab, k = out.k;
  out.lse[row] = static_cast<float>(row_lse(t, V, out.temperature, nullptr, row));
  best.resize(static_cast<size_t>(k));
  kernels::row_topk(t, V, k, out.indices.data() + row * k, best.data());
  for (int64_t c = 0; c < k; ++c) store_value(out, static_cast<size_t>(row * k + c), best[c]);
}

void encode_sampled(const float* t, int64_t row, const EncodeSpec& spec, LmTargets& out,
                    std::vector<double>& u, std::vector<float>& e) {
  const int64_t V = out.vocab, n = out.k;
  const double inv_t = 1.0 / out.temperature;
  e.resize(static_cast<size_t>(V));
  const double lse = row_lse(t, V, out.temperature, e.data(), row);
  u.resize(static_cast<size_t>(n));
  for (int64_t m = 0; m < n; ++m)
    u[m] = draw_uniform(out.seed, spec.sample_ids[row], spec.positions[row], static_cast<int32_t>(m));
  std::sort(u.begin(), u.end());
  const double total = std::accumulate(e.begin(), e.end(), 0.0);  // the same order as the sweep's cdf
  uint32_t* ids = out.indices.data() + row * n;
  uint16_t* counts = out.counts.data() + row * n;
  float* logp = out.log_probs.data() + row * n;
  // Inverse CDF for the sorted uniforms in one sweep; draw m is the first j with cdf_j > u_m·Σe.
  int64_t slots = 0, m = 0, last_positive = 0;
  double cdf = 0;
  for (int64_t j = 0; j < V && m < n; ++j) {
    if (e[j] > 0) last_positive = j;
    cdf += static_cast<double>(e[j]);
    int64_t hits = 0;
    while (m < n && u[m] * total < cdf) ++m, ++hits;
    if (hits) ids[slots] = static_cast<uint32_t>(j), counts[slots++] = static_cast<uint16_t>(hits);
  }
  if (m < n) {  // u·Σe rounded up to Σe: the last token with mass takes the remaining draws
    if (slots > 0 && ids[slots - 1] == static_cast<uint32_t>(last_positive))
      counts[slots - 1] = static_cast<uint16_t>(counts[slots - 1] + (n - m));
    else
      ids[slots] = static_cast<uint32_t>(last_positive), counts[slots++] = static_cast<uint16_t>(n - m);
  }
  for (int64_t s = 0; s < slots; ++s) {
    const float lp = static_cast<float>(static_cast<double>(t[ids[s]]) * inv_t - lse);
    logp[s] = out.dtype == DType::bf16 ? bf16_to_float(float_to_bf16(lp)) : lp;
  }
  // Padding: the smallest ids not drawn, count 0, log p = -inf (so every row has n distinct ids).
  uint32_t next = 0;
  int64_t drawn = 0;
  for (int64_t s = slots; s < n; ++s) {
    while (drawn < slots && ids[drawn] <= next) next = std::max(next, ids[drawn++] + 1);
    ids[s] = next++, counts[s] = 0, logp[s] = -INFINITY;
  }
}

}  // namespace

const char* target_kind_name(TargetKind kind) {
  switch (kind) {
    case TargetKind::dense: return "dense";
    case TargetKind::topk: return "topk";
    case TargetKind::sampled: return "sampled";
  }
  return "?";
}

size_t LmTargets::payload_bytes() const {
  return values.size() + indices.size() * 4 + lse.size() * 4 + counts.size() * 2 + log_probs.size() * 4;
}

LmTargets make_targets(TargetKind kind, int64_t rows, int64_t vocab, int32_t k, DType dtype, float temperature,
                       uint64_t seed) {
  LmTargets t;
  t.kind = kind, t.rows = rows, t.vocab = vocab, t.k = kind == TargetKind::dense ? 0 : k;
  t.dtype = dtype, t.temperature = temperature, t.seed = seed;
  if (!(temperature > 0)) RETORT_INPUT_ERROR(fmt::format("lm targets: temperature must be > 0, got {}", temperature));
  if (t.dtype != DType::f32 && t.dtype != DType::bf16)
    RETORT_INPUT_ERROR(std::string("lm targets: dtype must be fp32 or bf16, got ") + dtype_name(dtype));
  if (kind == TargetKind::topk && (k < 1 || k > vocab))
    RETORT_INPUT_ERROR(fmt::format("lm targets: topk k must be in [1, {}], got {}", vocab, k));
  if (kind == TargetKind::sampled && (k < 1 || k > 65535 || k > vocab))
    RETORT_INPUT_ERROR(fmt::format("lm targets: sampled n must be in [1, min(65535, {})], got {}", vocab, k));
  const auto cells = static_cast<size_t>(rows * t.slots());
  if (kind != TargetKind::sampled) t.values.assign(cells * dtype_size(t.dtype), 0);
  if (kind != TargetKind::dense) t.indices.assign(cells, 0);
  if (kind == TargetKind::topk) t.lse.assign(static_cast<size_t>(rows), 0.f);
  if (kind == TargetKind::sampled) t.counts.assign(cells, 0), t.log_probs.assign(cells, 0.f);
  return t;
}

void LmTargets::validate(const std::string& what) const {
  auto fail = [&](const std::string& why) { RETORT_INPUT_ERROR(what + ": " + target_kind_name(kind) + " targets: " + why); };
  if (rows < 0 || vocab < 1) fail(fmt::format("rows {} / vocab {} out of range", rows, vocab));
  if (!(temperature > 0)) fail(fmt::format("temperature {} is not > 0", temperature));
  if (dtype != DType::f32 && dtype != DType::bf16) fail(std::string("dtype ") + dtype_name(dtype));
  if (kind != TargetKind::dense && (k < 1 || k > vocab)) fail(fmt::format("k {} not in [1, {}]", k, vocab));
  const auto cells = static_cast<size_t>(rows * slots());
  auto sized = [&](size_t got, size_t want, const char* name) {
    if (got != want) fail(fmt::format("{} has {} entries, expected {}", name, got, want));
  };
  sized(values.size(), kind == TargetKind::sampled ? 0 : cells * dtype_size(dtype), "values");
  sized(indices.size(), kind == TargetKind::dense ? 0 : cells, "indices");
  sized(lse.size(), kind == TargetKind::topk ? static_cast<size_t>(rows) : 0, "lse");
  sized(counts.size(), kind == TargetKind::sampled ? cells : 0, "counts");
  sized(log_probs.size(), kind == TargetKind::sampled ? cells : 0, "log_probs");
  std::vector<uint32_t> ids;
  for (int64_t r = 0; r < rows && kind != TargetKind::dense; ++r) {
    ids.assign(indices.begin() + r * k, indices.begin() + (r + 1) * k);
    std::sort(ids.begin(), ids.end());
    if (ids.back() >= static_cast<uint64_t>(vocab)) fail(fmt::format("row {}: id {} >= vocab {}", r, ids.back(), vocab));
    if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) fail(fmt::format("row {}: repeated id", r));
    if (kind == TargetKind::sampled) {
      int64_t n = 0;
      for (int64_t s = 0; s < k; ++s) n += counts[r * k + s];
      if (n != k) fail(fmt::format("row {}: counts sum to {}, expected n = {}", r, n, k));
      for (int64_t s = 0; s < k && dtype == DType::bf16; ++s)
        if (const float lp = log_probs[r * k + s]; counts[r * k + s] && bf16_to_float(float_to_bf16(lp)) != lp)
          fail(fmt::format("row {}: log p {} is not a bf16 value (dtype bf16)", r, lp));
    }
  }
}

void encode_rows(const float* host_logits, int64_t row0, int64_t rows, const EncodeSpec& spec, LmTargets& out) {
  if (row0 < 0 || row0 + rows > out.rows) RETORT_RUNTIME_ERROR("encode_rows: rows outside the targets");
  if (out.kind == TargetKind::sampled && (spec.sample_ids == nullptr || spec.positions == nullptr))
    RETORT_INPUT_ERROR("encode_targets: sampled targets need sample_ids and positions (the draws' keys)");
  const int64_t V = out.vocab;
  thread_local std::vector<double> u;
  thread_local std::vector<float> e;
  for (int64_t i = 0; i < rows; ++i) {
    const float* t = host_logits + i * V;
    const int64_t row = row0 + i;
    switch (out.kind) {
      case TargetKind::dense:
        for (int64_t j = 0; j < V; ++j) store_value(out, static_cast<size_t>(row * V + j), t[j]);
        break;
      case TargetKind::topk: encode_topk(t, row, out, e); break;
      case TargetKind::sampled: encode_sampled(t, row, spec, out, u, e); break;
    }
  }
}

LmTargets encode_targets(ChunkedHead& head, const float* hidden, const float* weight, int64_t rows, int64_t dim,
                         int64_t vocab, const EncodeSpec& spec) {
  LmTargets out = make_targets(spec.kind, rows, vocab, spec.k, spec.dtype, spec.temperature, spec.seed);
  encode_targets_into(head, hidden, weight, rows, dim, spec, out, 0);
  return out;
}

void encode_targets_into(ChunkedHead& head, const float* hidden, const float* weight, int64_t rows, int64_t dim,
                         const EncodeSpec& spec, LmTargets& out, int64_t row0) {
  Compute& compute = head.compute();
  std::vector<float> host;  // one chunk of logits when the Compute's memory is not the host's
  head.run({hidden, weight, rows, dim, out.vocab, nullptr, nullptr}, [&](const HeadChunk& ch) {
    const float* logits = ch.logits;
    if (!compute.host_memory()) {
      host.resize(static_cast<size_t>(ch.rows * ch.vocab));
      compute.download(host.data(), ch.logits, host.size() * sizeof(float));
      logits = host.data();
    }
    encode_rows(logits, row0 + ch.row0, ch.rows, spec, out);
    return HeadLossSums{};
  });
}

}  // namespace retort::core
