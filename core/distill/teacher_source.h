// Where a student's teacher logits come from: online (the logits channel from the teacher pool)
// or offline (the logits cache written by `retort teach`). Both hand the fused loss the same view.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <span>

#include "comm/channel.h"
#include "core/distill/logits_cache.h"
#include "core/distill/teacher_logits.h"

namespace retort::core {

class TeacherSource {
 public:
  virtual ~TeacherSource() = default;
  // Teacher logits of `ids` for `step` (steps requested consecutively). Valid until the next call.
  virtual kernels::TeacherLogits fetch(int64_t step, std::span<const int64_t> ids) = 0;
  // Counters since the start: bytes received, seconds waited, messages in flight.
  virtual nlohmann::json stats() const = 0;
  // The students stop after `end_step` steps: tell the teachers (online), then drain.
  virtual void close(int64_t end_step) = 0;
};

// `announce_end(end_step)` tells this student's teachers where the students stopped (may be empty).
// `payloads`: where the channel's received views point (Device::cuda: the NCCL channel's device
// slots; the fetched TeacherLogits say so and the loss reads them there, without staging).
std::unique_ptr<TeacherSource> make_online_source(std::unique_ptr<comm::StudentChannel> channel, int64_t vocab,
                                                  std::function<void(int64_t)> announce_end,
                                                  Device payloads = Device::cpu);
std::unique_ptr<TeacherSource> make_cache_source(std::unique_ptr<LogitsCacheReader> reader);

}  // namespace retort::core
