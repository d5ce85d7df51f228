// The raw sections of one LM targets cache shard (before zstd): LmTargets of consecutive
// windows to bit-packed ids / counts and byte-plane values, and back, bit for bit.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/distill/lm_teacher_pool.h"
#include "core/lm/lm_targets.h"

namespace retort::core {

// Sections per kind, in file order (their names are the --stats parts):
//   dense:   values                       (rows·V values in the dtype)
//   topk:    ids, values, lse             (rows·k ids at bits_for(V); rows·k values; rows lse f32)
//   sampled: distinct, ids, counts, log_probs
//            (per row u = distinct drawn ids at bits_for(n+1); Σu ids at bits_for(V); Σu counts
//             at bits_for(n+1); Σu log p in the dtype). The n − u padding slots of a row (the
//             smallest ids not drawn, count 0, log p = −inf) are rebuilt on reading.
// Values are stored byte-plane by byte-plane (byte 0 of every value, then byte 1, …), which
// zstd compresses better than interleaved floats; packed fields are least-significant bit first.
inline constexpr int kMaxLmSections = 4;
std::vector<std::string> lm_section_names(TargetKind kind);

// Raw sections of `t` (rows = windows · seq_len). Runtime error when `t` does not fit `spec`
// (kind, vocab, k, dtype, T, seed) or holds what the cache cannot give back bit for bit (a
// sampled row whose padding is not the rebuilt one, a log p not representable in a bf16 spec).
std::vector<std::vector<uint8_t>> encode_lm_sections(const LmTargets& t, const LmTargetsSpec& spec);

// The most raw bytes section `s` of a shard of `rows` tokens can hold (what a header may claim).
uint64_t max_lm_section_bytes(const LmTargetsSpec& spec, int64_t rows, int s);

// Targets of `rows` tokens from raw sections; input error naming `what` when a section's size
// or contents do not fit the spec (ids ≥ V, counts not summing to n, bytes left over, …).
LmTargets decode_lm_sections(const std::vector<std::vector<uint8_t>>& sections, const LmTargetsSpec& spec, int64_t rows,
                             const std::string& what);

}  // namespace retort::core
