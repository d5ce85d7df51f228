// The online LmTargetSource: an LM student's per-token targets received over the logits channel
// from the LM teacher pool, every header field checked against the student's LmTargetsSpec.
#pragma once
#include <functional>
#include <memory>

#include "comm/channel.h"
#include "core/distill/lm_target_source.h"
#include "core/distill/lm_teacher_pool.h"

namespace retort::core {

// `channel` must have been made with expect = lm_payload_expect(spec, rows per step).
// `announce_end(end_step)` tells this student's teachers where the students stopped (may be empty).
std::unique_ptr<LmTargetSource> make_lm_online_source(std::unique_ptr<comm::StudentChannel> channel,
                                                      const LmTargetsSpec& spec,
                                                      std::function<void(int64_t)> announce_end);

}  // namespace retort::core
