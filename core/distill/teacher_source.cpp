// Online (channel) and offline (cache) teacher sources.
#include "core/distill/teacher_source.h"

#include <chrono>
#include <fmt/format.h>

#include "core/base/error.h"

namespace retort::core {
namespace {

class OnlineSource final : public TeacherSource {
 public:
  OnlineSource(std::unique_ptr<comm::StudentChannel> channel, int64_t vocab, std::function<void(int64_t)> announce_end,
               Device payloads)
      : channel_(std::move(channel)), vocab_(vocab), announce_end_(std::move(announce_end)), payloads_(payloads) {}
  ~OnlineSource() override = default;

  kernels::TeacherLogits fetch(int64_t step, std::span<const int64_t> ids) override {
    const comm::TeacherView view = channel_->recv(step);
    if (!view.end_of_stream() && (view.rows() != static_cast<int64_t>(ids.size()) || view.vocab() != vocab_))
      RETORT_RUNTIME_ERROR(fmt::format("step {}: teacher sent {}x{} logits, the student needs {}x{}", step,
                                       view.rows(), view.vocab(), ids.size(), vocab_));
    kernels::TeacherLogits teacher = to_kernel_view(view);
    for (TensorView* t : {&teacher.logits, &teacher.indices, &teacher.values, &teacher.lse}) t->device = payloads_;
    return teacher;
  }
  nlohmann::json stats() const override {
    const comm::ChannelStats s = channel_->stats();
    return {{"messages", s.messages}, {"bytes", s.bytes}, {"wait_s", s.wait_seconds}, {"queued", s.in_flight}};
  }
  void close(int64_t end_step) override {
    if (announce_end_) announce_end_(end_step);
    channel_->close();
  }

 private:
  std::unique_ptr<comm::StudentChannel> channel_;
  int64_t vocab_;
  std::function<void(int64_t)> announce_end_;
  Device payloads_;
};

class CacheSource final : public TeacherSource {
 public:
  explicit CacheSource(std::unique_ptr<LogitsCacheReader> reader) : reader_(std::move(reader)) {}
  kernels::TeacherLogits fetch(int64_t, std::span<const int64_t> ids) override {
    const auto t0 = std::chrono::steady_clock::now();
    reader_->gather(ids, rows_);
    wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bytes_ += static_cast<int64_t>(rows_.row_bytes() * ids.size());
    ++messages_;
    return to_kernel_view(rows_.payload());
  }
  nlohmann::json stats() const override {
    return {{"messages", messages_}, {"bytes", bytes_}, {"wait_s", wait_s_}, {"queued", 0},
            {"shards_loaded", reader_->shards_loaded()}};
  }
  void close(int64_t) override {}

 private:
  std::unique_ptr<LogitsCacheReader> reader_;
  EncodedLogits rows_;
  int64_t messages_ = 0, bytes_ = 0;
  double wait_s_ = 0;
};

}  // namespace

std::unique_ptr<TeacherSource> make_online_source(std::unique_ptr<comm::StudentChannel> channel, int64_t vocab,
                                                  std::function<void(int64_t)> announce_end, Device payloads) {
  return std::make_unique<OnlineSource>(std::move(channel), vocab, std::move(announce_end), payloads);
}

std::unique_ptr<TeacherSource> make_cache_source(std::unique_ptr<LogitsCacheReader> reader) {
  return std::make_unique<CacheSource>(std::move(reader));
}

}  // namespace retort::core
