// LM targets on the logits wire: the LogitsPayload view of a window group's LmTargets (what the
// LM teacher sends), the PayloadExpect of an LmTargetsSpec (what an LM student checks), and a
// received TeacherView copied back into LmTargets.
#pragma once
#include "comm/wire.h"
#include "core/distill/lm_teacher_pool.h"
#include "core/lm/lm_targets.h"

namespace retort::core {

comm::PayloadKind payload_kind_of(TargetKind kind);

// Points into `targets` (not copied): valid while it lives. tokenizer_hash is the data's.
comm::LogitsPayload lm_payload(const LmTargets& targets, uint64_t tokenizer_hash);

// Every header field a message of `spec` for `rows` tokens must carry.
comm::PayloadExpect lm_payload_expect(const LmTargetsSpec& spec, int64_t rows);

// The largest payload of `rows` tokens of `spec` (a channel's max_payload_bytes).
size_t lm_payload_bytes(const LmTargetsSpec& spec, int64_t rows);

// The view's arrays copied into `out` (resized; kind, k, dtype, temperature and seed from the
// header). A view of end-of-stream is a runtime error: the teacher stopped first.
void lm_targets_from_view(const comm::TeacherView& view, LmTargets& out);

}  // namespace retort::core
