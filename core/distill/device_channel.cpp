// upload_payloads / download_payloads: the host <-> compute-memory edge of a device logits channel.
#include "core/distill/device_channel.h"

#include <vector>

#include "core/base/error.h"

namespace retort::core {
namespace {

// `p` with every section pointer moved to the same offset of the wire layout in `base`.
comm::LogitsPayload rebased(comm::LogitsPayload p, const comm::PayloadLayout& layout, std::byte* base) {
  auto at = [&](const void* q, size_t offset) { return q ? static_cast<const void*>(base + offset) : nullptr; };
  p.values = at(p.values, layout.values);
  p.indices = static_cast<const uint32_t*>(at(p.indices, layout.indices));
  p.lse = static_cast<const float*>(at(p.lse, layout.lse));
  p.counts = static_cast<const uint16_t*>(at(p.counts, layout.counts));
  return p;
}

comm::LogitsPayload payload_of(const comm::TeacherView& v) {
  comm::LogitsPayload p;
  p.kind = v.kind(), p.dtype = v.dtype(), p.rows = v.rows(), p.vocab = v.vocab(), p.k = v.k();
  p.values = v.values, p.indices = v.indices, p.lse = v.lse, p.counts = v.counts;
  return p;
}

class UploadingTeacherChannel final : public comm::TeacherChannel {
 public:
  UploadingTeacherChannel(std::shared_ptr<Compute> compute, std::unique_ptr<comm::TeacherChannel> channel)
      : compute_(std::move(compute)), channel_(std::move(channel)) {}
  ~UploadingTeacherChannel() override {
    if (buffer_) compute_->release(buffer_);
  }

  void send(int student, int64_t step, const comm::LogitsPayload& host) override {
    const comm::PayloadLayout layout = comm::payload_layout(host.kind, host.dtype, host.rows, host.vocab, host.k);
    if (layout.bytes > capacity_) {
      if (buffer_) compute_->release(buffer_);  // release() waits for queued work using it
      buffer_ = static_cast<std::byte*>(compute_->allocate(layout.bytes));
      capacity_ = layout.bytes;
    }
    for (const comm::PayloadSection& s : comm::payload_sections(host, layout))
      if (s.source) compute_->upload(buffer_ + s.offset, s.source, s.bytes);
    channel_->send(student, step, rebased(host, layout, buffer_));
  }
  void progress() override { channel_->progress(); }
  void finish() override { channel_->finish(); }
  comm::ChannelStats stats() const override { return channel_->stats(); }

 private:
  std::shared_ptr<Compute> compute_;
  std::unique_ptr<comm::TeacherChannel> channel_;
  std::byte* buffer_ = nullptr;
  size_t capacity_ = 0;
};

class DownloadingStudentChannel final : public comm::StudentChannel {
 public:
  DownloadingStudentChannel(std::shared_ptr<Compute> compute, std::unique_ptr<comm::StudentChannel> channel)
      : compute_(std::move(compute)), channel_(std::move(channel)) {}

  comm::TeacherView recv(int64_t step) override {
    comm::TeacherView view = channel_->recv(step);
    if (view.end_of_stream()) return view;
    const comm::LogitsPayload device = payload_of(view);
    const comm::PayloadLayout layout = comm::payload_layout(device.kind, device.dtype, device.rows, device.vocab, device.k);
    host_.resize(layout.bytes);
    for (const comm::PayloadSection& s : comm::payload_sections(device, layout))
      if (s.source) compute_->download(host_.data() + s.offset, s.source, s.bytes);
    const comm::LogitsPayload host = rebased(device, layout, host_.data());
    view.values = host.values, view.indices = host.indices, view.lse = host.lse, view.counts = host.counts;
    return view;
  }
  void progress() override { channel_->progress(); }
  void close() override { channel_->close(); }
  comm::ChannelStats stats() const override { return channel_->stats(); }

 private:
  std::shared_ptr<Compute> compute_;
  std::unique_ptr<comm::StudentChannel> channel_;
  std::vector<std::byte> host_;
};

}  // namespace

std::unique_ptr<comm::TeacherChannel> upload_payloads(std::shared_ptr<Compute> compute,
                                                      std::unique_ptr<comm::TeacherChannel> channel) {
  if (compute->host_memory()) RETORT_RUNTIME_ERROR("upload_payloads: " + compute->name() + " has host memory");
  return std::make_unique<UploadingTeacherChannel>(std::move(compute), std::move(channel));
}

std::unique_ptr<comm::StudentChannel> download_payloads(std::shared_ptr<Compute> compute,
                                                        std::unique_ptr<comm::StudentChannel> channel) {
  if (compute->host_memory()) RETORT_RUNTIME_ERROR("download_payloads: " + compute->name() + " has host memory");
  return std::make_unique<DownloadingStudentChannel>(std::move(compute), std::move(channel));
}

}  // namespace retort::core
