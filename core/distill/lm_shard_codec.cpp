// LM targets <-> the raw sections of a cache shard: bit-packed ids and counts, byte-plane
// values, sampled padding rebuilt instead of stored.
#include "core/distill/lm_shard_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/base/error.h"
#include "core/distill/bit_pack.h"

namespace retort::core {
namespace {

uint64_t packed_bytes(uint64_t fields, int bits) { return (fields * static_cast<uint64_t>(bits) + 7) / 8; }

// values: `count` elements of `size` bytes each, interleaved -> byte planes (and back).
void append_planes(std::vector<uint8_t>& out, const uint8_t* values, size_t count, size_t size) {
  const size_t base = out.size();
  out.resize(base + count * size);
  for (size_t p = 0; p < size; ++p)
    for (size_t i = 0; i < count; ++i) out[base + p * count + i] = values[i * size + p];
}
void read_planes(const uint8_t* planes, size_t count, size_t size, uint8_t* values) {
  for (size_t p = 0; p < size; ++p)
    for (size_t i = 0; i < count; ++i) values[i * size + p] = planes[p * count + i];
}

// The n − u padding ids of a sampled row: the smallest ids not among `drawn`, ascending.
void padding_ids(std::span<const uint32_t> drawn, int64_t n, std::vector<uint32_t>& sorted, uint32_t* out) {
  sorted.assign(drawn.begin(), drawn.end());
  std::sort(sorted.begin(), sorted.end());
  uint32_t next = 0;
  size_t d = 0;
  for (int64_t s = static_cast<int64_t>(drawn.size()); s < n; ++s) {
    while (d < sorted.size() && sorted[d] <= next) next = std::max(next, sorted[d++] + 1);
    *out++ = next++;
  }
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

void check_fits(const LmTargets& t, const LmTargetsSpec& spec) {
  const DType dtype = make_targets(spec.kind, 0, spec.vocab, spec.k, spec.dtype, spec.temperature, spec.seed).dtype;
  if (t.kind != spec.kind || t.vocab != spec.vocab || t.k != (spec.kind == TargetKind::dense ? 0 : spec.k) ||
      t.dtype != dtype || float_bits(t.temperature) != float_bits(spec.temperature) || t.seed != spec.seed)
    RETORT_RUNTIME_ERROR(fmt::format(
        "LM targets cache: targets ({} k {} vocab {} {} T {} seed {}) do not match the cache spec ({} k {} vocab {} {} T {} seed {})",
        target_kind_name(t.kind), t.k, t.vocab, dtype_name(t.dtype), t.temperature, t.seed, target_kind_name(spec.kind),
        spec.k, spec.vocab, dtype_name(dtype), spec.temperature, spec.seed));
  if (spec.seq_len < 1 || t.rows % spec.seq_len != 0)
    RETORT_RUNTIME_ERROR(fmt::format("LM targets cache: {} target rows are not whole windows of {} tokens", t.rows, spec.seq_len));
  t.validate("LM targets cache (writing)");
}

std::vector<std::vector<uint8_t>> encode_sampled(const LmTargets& t, const LmTargetsSpec& spec) {
  const int64_t n = t.k;
  const int id_bits = bits_for(static_cast<uint64_t>(t.vocab)), count_bits = bits_for(static_cast<uint64_t>(n) + 1);
  const bool bf16_logp = spec.dtype == DType::bf16;
  std::vector<std::vector<uint8_t>> s(4);
  BitWriter distinct(s[0]), ids(s[1]), counts(s[2]);
  std::vector<uint8_t> logp;  // interleaved, planes at the end
  std::vector<uint32_t> sorted, padding(static_cast<size_t>(n));
  for (int64_t r = 0; r < t.rows; ++r) {
    const uint32_t* id = t.indices.data() + r * n;
    const uint16_t* c = t.counts.data() + r * n;
    const float* lp = t.log_probs.data() + r * n;
    int64_t u = 0;
    while (u < n && c[u] > 0) ++u;
    padding_ids({id, static_cast<size_t>(u)}, n, sorted, padding.data());
    for (int64_t p = u; p < n; ++p)
      if (c[p] != 0 || id[p] != padding[p - u] || float_bits(lp[p]) != float_bits(-INFINITY))
        RETORT_RUNTIME_ERROR(fmt::format("LM targets cache: sampled row {} slot {}: not the padding the cache rebuilds "
                                         "(drawn slots first, then the smallest ids not drawn with count 0, log p -inf)", r, p));
    distinct.put(static_cast<uint32_t>(u), count_bits);
    for (int64_t p = 0; p < u; ++p) {
      ids.put(id[p], id_bits);
      counts.put(c[p], count_bits);
      const uint32_t bits = float_bits(lp[p]);
      if (bf16_logp && (bits & 0xffffu) != 0)
        RETORT_RUNTIME_ERROR(fmt::format("LM targets cache: sampled row {} log p {} is not a bf16 value (the cache "
                                         "stores bf16 log-probabilities for this spec)", r, lp[p]));
      const uint32_t stored = bf16_logp ? bits >> 16 : bits;
      logp.insert(logp.end(), reinterpret_cast<const uint8_t*>(&stored), reinterpret_cast<const uint8_t*>(&stored) + (bf16_logp ? 2 : 4));
    }
  }
  distinct.flush(), ids.flush(), counts.flush();
  const size_t size = bf16_logp ? 2 : 4;
  append_planes(s[3], logp.data(), logp.size() / size, size);
  return s;
}

// Sampled rows from the four sections (sizes checked exactly against the decoded u's).
void decode_sampled(const std::vector<std::vector<uint8_t>>& s, const LmTargetsSpec& spec, LmTargets& t,
                    const std::string& what) {
  const int64_t n = t.k;
  const int id_bits = bits_for(static_cast<uint64_t>(t.vocab)), count_bits = bits_for(static_cast<uint64_t>(n) + 1);
  const size_t size = spec.dtype == DType::bf16 ? 2 : 4;
  BitReader distinct(s[0], what + ": section distinct");
  std::vector<uint32_t> u(static_cast<size_t>(t.rows));
  uint64_t total = 0;
  for (int64_t r = 0; r < t.rows; ++r) {
    u[r] = distinct.get(count_bits);
    if (u[r] < 1 || u[r] > n) RETORT_INPUT_ERROR(fmt::format("{}: row {} has {} distinct ids, not in [1, {}]", what, r, u[r], n));
    total += u[r];
  }
  const uint64_t want[4] = {packed_bytes(t.rows, count_bits), packed_bytes(total, id_bits), packed_bytes(total, count_bits),
                            total * size};
  for (int i = 0; i < 4; ++i)
    if (s[i].size() != want[i])
      RETORT_INPUT_ERROR(fmt::format("{}: section {} has {} bytes, its rows need {}", what, lm_section_names(t.kind)[i],
                                     s[i].size(), want[i]));
  BitReader ids(s[1], what + ": section ids"), counts(s[2], what + ": section counts");
  std::vector<uint8_t> logp(total * size);
  read_planes(s[3].data(), total, size, logp.data());
  std::vector<uint32_t> sorted;
  uint64_t at = 0;
  for (int64_t r = 0; r < t.rows; ++r) {
    uint32_t* id = t.indices.data() + r * n;
    uint16_t* c = t.counts.data() + r * n;
    float* lp = t.log_probs.data() + r * n;
    for (uint32_t p = 0; p < u[r]; ++p, ++at) {
      id[p] = ids.get(id_bits);
      const uint32_t count = counts.get(count_bits);
      if (count < 1 || count > n) RETORT_INPUT_ERROR(fmt::format("{}: row {} has a count of {} (n = {})", what, r, count, n));
      c[p] = static_cast<uint16_t>(count);
      uint32_t bits = 0;
      std::memcpy(&bits, logp.data() + at * size, size);
      if (size == 2) bits <<= 16;
      std::memcpy(lp + p, &bits, 4);
    }
    if (*std::max_element(id, id + u[r]) >= t.vocab)
      RETORT_INPUT_ERROR(fmt::format("{}: row {} has an id >= vocab {}", what, r, t.vocab));
    padding_ids({id, u[r]}, n, sorted, id + u[r]);
    for (int64_t p = u[r]; p < n; ++p) c[p] = 0, lp[p] = -INFINITY;
  }
}

}  // namespace

std::vector<std::string> lm_section_names(TargetKind kind) {
  switch (kind) {
    case TargetKind::dense: return {"values"};
    case TargetKind::topk: return {"ids", "values", "lse"};
    case TargetKind::sampled: return {"distinct", "ids", "counts", "log_probs"};
  }
  return {};
}

std::vector<std::vector<uint8_t>> encode_lm_sections(const LmTargets& t, const LmTargetsSpec& spec) {
  check_fits(t, spec);
  const size_t cells = static_cast<size_t>(t.rows * t.slots()), size = dtype_size(t.dtype);
  std::vector<std::vector<uint8_t>> s;
  switch (t.kind) {
    case TargetKind::dense:
      s.resize(1);
      append_planes(s[0], t.values.data(), cells, size);
      break;
    case TargetKind::topk: {
      s.resize(3);
      BitWriter ids(s[0]);
      const int bits = bits_for(static_cast<uint64_t>(t.vocab));
      for (uint32_t id : t.indices) ids.put(id, bits);
      ids.flush();
      append_planes(s[1], t.values.data(), cells, size);
      append_planes(s[2], reinterpret_cast<const uint8_t*>(t.lse.data()), t.lse.size(), 4);
      break;
    }
    case TargetKind::sampled: s = encode_sampled(t, spec); break;
  }
  return s;
}

uint64_t max_lm_section_bytes(const LmTargetsSpec& spec, int64_t rows, int s) {
  const auto R = static_cast<uint64_t>(rows), V = static_cast<uint64_t>(spec.vocab), k = static_cast<uint64_t>(spec.k);
  const int id_bits = bits_for(V), count_bits = bits_for(k + 1);
  const uint64_t value = spec.dtype == DType::bf16 ? 2 : 4;
  switch (spec.kind) {
    case TargetKind::dense: return s == 0 ? R * V * value : 0;
    case TargetKind::topk: return s == 0 ? packed_bytes(R * k, id_bits) : s == 1 ? R * k * value : s == 2 ? R * 4 : 0;
    case TargetKind::sampled:
      return s == 0 ? packed_bytes(R, count_bits) : s == 1 ? packed_bytes(R * k, id_bits)
                     : s == 2 ? packed_bytes(R * k, count_bits) : s == 3 ? R * k * value : 0;
  }
  return 0;
}

LmTargets decode_lm_sections(const std::vector<std::vector<uint8_t>>& s, const LmTargetsSpec& spec, int64_t rows,
                             const std::string& what) {
  LmTargets t = make_targets(spec.kind, rows, spec.vocab, spec.k, spec.dtype, spec.temperature, spec.seed);
  if (s.size() != lm_section_names(spec.kind).size())
    RETORT_INPUT_ERROR(fmt::format("{}: {} sections, a {} shard has {}", what, s.size(), target_kind_name(spec.kind),
                                   lm_section_names(spec.kind).size()));
  if (spec.kind == TargetKind::sampled) {
    decode_sampled(s, spec, t, what);
  } else {
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i].size() != max_lm_section_bytes(spec, rows, static_cast<int>(i)))
        RETORT_INPUT_ERROR(fmt::format("{}: section {} has {} bytes, expected {}", what, lm_section_names(spec.kind)[i],
                                       s[i].size(), max_lm_section_bytes(spec, rows, static_cast<int>(i))));
    const size_t cells = static_cast<size_t>(rows * t.slots()), size = dtype_size(t.dtype);
    const int values = spec.kind == TargetKind::dense ? 0 : 1;
    read_planes(s[values].data(), cells, size, t.values.data());
    if (spec.kind == TargetKind::topk) {
      BitReader ids(s[0], what + ": section ids");
      const int bits = bits_for(static_cast<uint64_t>(t.vocab));
      for (uint32_t& id : t.indices) id = ids.get(bits);
      read_planes(s[2].data(), t.lse.size(), 4, reinterpret_cast<uint8_t*>(t.lse.data()));
    }
  }
  t.validate(what);
  return t;
}

}  // namespace retort::core
