// MirroredBuffer: lazy host <-> device coherence of one flat buffer.
#include "core/model/mirrored_buffer.h"

namespace retort::core {

MirroredBuffer::MirroredBuffer(std::shared_ptr<Compute> compute, size_t count)
    : compute_(compute), buffer_(compute, count) {
  if (!compute_->host_memory()) mirror_.assign(count, 0.f);
}

std::span<const float> MirroredBuffer::host() const {
  if (compute_->host_memory()) return {buffer_.data(), buffer_.size()};
  if (newer_ == Newer::device) {
    compute_->download(mirror_.data(), buffer_.data(), buffer_.bytes());
    newer_ = Newer::neither;
  }
  return mirror_;
}

std::span<float> MirroredBuffer::host_for_writing() {
  if (compute_->host_memory()) return {buffer_.data(), buffer_.size()};
  static_cast<void>(host());
  newer_ = Newer::host;
  return mirror_;
}

void MirroredBuffer::to_device() {
  if (newer_ != Newer::host) return;
  compute_->upload(buffer_.data(), mirror_.data(), buffer_.bytes());
  newer_ = Newer::neither;
}

const float* MirroredBuffer::device_for_reading() {
  to_device();
  return buffer_.data();
}

float* MirroredBuffer::device_for_writing() {
  to_device();
  if (!compute_->host_memory()) newer_ = Newer::device;
  return buffer_.data();
}

}  // namespace retort::core
