// Where an LM student's per-token teacher targets come from: online (the logits channel from the
// LM teacher pool) or offline (the LM targets cache of `retort teach`). Both hand the chunked
// head + KD loss the same LmTargets, bit for bit, for the same windows.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>

#include "core/lm/lm_targets.h"

namespace retort::core {

class LmTargetSource {
 public:
  virtual ~LmTargetSource() = default;
  // Targets of training windows `ids` for `step` (steps requested consecutively): rows =
  // ids.size() · seq_len tokens, window-major, token t of window i at row i·seq_len + t. Valid
  // until the next call. Runtime error naming the peer / file and step on a bad or late message.
  virtual const LmTargets& fetch(int64_t step, std::span<const int64_t> ids) = 0;
  // Counters since the start: {"messages", "bytes" (payload bytes received or read),
  // "wait_s" (seconds blocked waiting for targets)}.
  virtual nlohmann::json stats() const = 0;
  // The students stop after `end_step` steps: tell the teachers (online), then drain.
  virtual void close(int64_t end_step) = 0;
};

}  // namespace retort::core
