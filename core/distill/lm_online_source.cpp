// LM targets from the channel: recv the step's message, copy its sections into LmTargets.
#include "core/distill/lm_online_source.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/distill/lm_wire.h"

namespace retort::core {
namespace {

class LmOnlineSource final : public LmTargetSource {
 public:
  LmOnlineSource(std::unique_ptr<comm::StudentChannel> channel, const LmTargetsSpec& spec,
                 std::function<void(int64_t)> announce_end)
      : channel_(std::move(channel)), spec_(spec), announce_end_(std::move(announce_end)) {}

  const LmTargets& fetch(int64_t step, std::span<const int64_t> ids) override {
    const comm::TeacherView view = channel_->recv(step);
    const int64_t rows = static_cast<int64_t>(ids.size()) * spec_.seq_len;
    if (!view.end_of_stream() && view.rows() != rows)
      RETORT_RUNTIME_ERROR(fmt::format("step {}: the LM teacher sent targets of {} tokens, the student needs {} "
                                       "({} windows of {})",
                                       step, view.rows(), rows, ids.size(), spec_.seq_len));
    lm_targets_from_view(view, targets_);
    payload_bytes_ += static_cast<int64_t>(view.header.payload_bytes);
    return targets_;
  }

  nlohmann::json stats() const override {
    const comm::ChannelStats s = channel_->stats();
    return {{"messages", s.messages}, {"bytes", payload_bytes_}, {"wire_bytes", s.bytes}, {"wait_s", s.wait_seconds},
            {"queued", s.in_flight}};
  }

  void close(int64_t end_step) override {
    if (announce_end_) announce_end_(end_step);
    channel_->close();
  }

 private:
  std::unique_ptr<comm::StudentChannel> channel_;
  LmTargetsSpec spec_;
  std::function<void(int64_t)> announce_end_;
  LmTargets targets_;
  int64_t payload_bytes_ = 0;
};

}  // namespace

std::unique_ptr<LmTargetSource> make_lm_online_source(std::unique_ptr<comm::StudentChannel> channel,
                                                      const LmTargetsSpec& spec,
                                                      std::function<void(int64_t)> announce_end) {
  return std::make_unique<LmOnlineSource>(std::move(channel), spec, std::move(announce_end));
}

}  // namespace retort::core
