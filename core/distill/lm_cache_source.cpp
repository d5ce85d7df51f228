// LmTargetSource over the LM targets cache: each fetch gathers the step's windows from the
// reader (shards load and verify on first use) and counts what it read and how long it took.
#include <chrono>

#include "core/distill/lm_cache.h"

namespace retort::core {
namespace {

class LmCacheSource final : public LmTargetSource {
 public:
  explicit LmCacheSource(std::unique_ptr<LmCacheReader> reader) : reader_(std::move(reader)) {}

  const LmTargets& fetch(int64_t /*step*/, std::span<const int64_t> ids) override {
    const auto start = std::chrono::steady_clock::now();
    reader_->gather(ids, targets_);
    wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++messages_;
    bytes_ += static_cast<int64_t>(targets_.payload_bytes());
    return targets_;
  }

  nlohmann::json stats() const override {
    return {{"messages", messages_}, {"bytes", bytes_}, {"file_bytes", reader_->file_bytes_read()}, {"wait_s", wait_s_}};
  }

  void close(int64_t /*end_step*/) override {}

 private:
  std::unique_ptr<LmCacheReader> reader_;
  LmTargets targets_;
  int64_t messages_ = 0, bytes_ = 0;
  double wait_s_ = 0;
};

}  // namespace

std::unique_ptr<LmTargetSource> make_lm_cache_source(std::unique_ptr<LmCacheReader> reader) {
  return std::make_unique<LmCacheSource>(std::move(reader));
}

}  // namespace retort::core
