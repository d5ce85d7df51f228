// The key/value cache of one sequence being generated: per layer, the rotated keys and the
// values of every position so far ([capacity, kv_dim] each, compute memory). LlamaModel::decode
// appends to it; nothing else writes it.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/base/error.h"
#include "core/lm/llama_config.h"
#include "core/model/compute.h"

namespace retort::core {

class KvCache {
 public:
  // capacity 0 = the model's max_seq_len.
  KvCache(const LlamaConfig& config, std::shared_ptr<Compute> compute, int64_t capacity = 0)
      : kv_dim_(config.kv_dim()), capacity_(capacity > 0 ? capacity : config.max_seq_len) {
    for (int64_t l = 0; l < config.n_layers; ++l) {
      keys_.emplace_back(compute, static_cast<size_t>(capacity_ * kv_dim_));
      values_.emplace_back(compute, static_cast<size_t>(capacity_ * kv_dim_));
    }
  }
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  int64_t kv_dim() const { return kv_dim_; }
  int64_t layers() const { return static_cast<int64_t>(keys_.size()); }
  float* keys(int64_t layer) { return keys_.at(static_cast<size_t>(layer)).data(); }
  float* values(int64_t layer) { return values_.at(static_cast<size_t>(layer)).data(); }
  // Positions [length, length + n) have been written.
  void advance(int64_t n) {
    RETORT_CHECK(length_ + n <= capacity_, "KV cache overflow");
    length_ += n;
  }

 private:
  int64_t kv_dim_, capacity_;
  int64_t length_ = 0;
  std::vector<ComputeBuffer> keys_, values_;
};

}  // namespace retort::core
