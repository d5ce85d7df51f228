// LmTargets <-> logits messages: payload views, expectations and copies of received sections.
#include "core/distill/lm_wire.h"

#include <fmt/format.h>

#include <cstring>

#include "core/base/error.h"

namespace retort::core {

comm::PayloadKind payload_kind_of(TargetKind kind) {
  switch (kind) {
    case TargetKind::dense: return comm::PayloadKind::dense;
    case TargetKind::topk: return comm::PayloadKind::topk;
    case TargetKind::sampled: return comm::PayloadKind::sampled;
  }
  RETORT_RUNTIME_ERROR("payload_kind_of: unknown target kind");
}

comm::LogitsPayload lm_payload(const LmTargets& t, uint64_t tokenizer_hash) {
  comm::LogitsPayload p;
  p.kind = payload_kind_of(t.kind);
  p.dtype = t.dtype;
  p.rows = t.rows;
  p.vocab = t.vocab;
  p.k = t.kind == TargetKind::dense ? 0 : t.k;
  p.values = t.kind == TargetKind::sampled ? static_cast<const void*>(t.log_probs.data()) : t.values.data();
  p.indices = t.indices.empty() ? nullptr : t.indices.data();
  p.lse = t.lse.empty() ? nullptr : t.lse.data();
  p.counts = t.counts.empty() ? nullptr : t.counts.data();
  p.temperature = t.temperature;
  p.tokenizer_hash = tokenizer_hash;
  p.seed = t.kind == TargetKind::sampled ? t.seed : 0;
  return p;
}

comm::PayloadExpect lm_payload_expect(const LmTargetsSpec& spec, int64_t rows) {
  comm::PayloadExpect e;
  e.rows = rows;
  e.vocab = spec.vocab;
  e.kind = payload_kind_of(spec.kind);
  e.k = spec.kind == TargetKind::dense ? 0 : spec.k;
  e.dtype = spec.dtype;
  e.temperature = spec.temperature;
  e.tokenizer_hash = spec.tokenizer_hash;
  e.seed = spec.kind == TargetKind::sampled ? spec.seed : 0;
  return e;
}

size_t lm_payload_bytes(const LmTargetsSpec& spec, int64_t rows) {
  return comm::payload_layout(payload_kind_of(spec.kind), spec.dtype, rows, spec.vocab,
                              spec.kind == TargetKind::dense ? 0 : spec.k)
      .bytes;
}

void lm_targets_from_view(const comm::TeacherView& v, LmTargets& out) {
  if (v.end_of_stream())
    RETORT_RUNTIME_ERROR(fmt::format("the LM teacher ended its stream before step {}", v.header.step));
  TargetKind kind = TargetKind::dense;
  if (v.kind() == comm::PayloadKind::topk) kind = TargetKind::topk;
  if (v.kind() == comm::PayloadKind::sampled) kind = TargetKind::sampled;
  const int32_t k = static_cast<int32_t>(v.k());
  if (out.kind != kind || out.rows != v.rows() || out.vocab != v.vocab() || out.k != k || out.dtype != v.dtype())
    out = make_targets(kind, v.rows(), v.vocab(), k, v.dtype(), v.temperature(), v.seed());
  out.temperature = v.temperature();
  out.seed = v.seed();
  auto copy = [](auto& dst, const void* src) {
    if (!dst.empty()) std::memcpy(dst.data(), src, dst.size() * sizeof(dst[0]));
  };
  if (kind == TargetKind::sampled) copy(out.log_probs, v.values);
  else copy(out.values, v.values);
  copy(out.indices, v.indices);
  copy(out.lse, v.lse);
  copy(out.counts, v.counts);
}

}  // namespace retort::core
