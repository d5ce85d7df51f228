// ComputeBuffer: memory owned through the Compute that allocated it.
#include "core/model/compute.h"

namespace retort::core {

ComputeBuffer::ComputeBuffer(std::shared_ptr<Compute> compute, size_t count)
    : compute_(std::move(compute)), count_(count) {
  data_ = static_cast<float*>(compute_->allocate(count * sizeof(float)));
}

ComputeBuffer::~ComputeBuffer() {
  if (data_) compute_->release(data_);
}

ComputeBuffer::ComputeBuffer(ComputeBuffer&& other) noexcept
    : compute_(std::move(other.compute_)), data_(other.data_), count_(other.count_) {
  other.data_ = nullptr;
  other.count_ = 0;
}

ComputeBuffer& ComputeBuffer::operator=(ComputeBuffer&& other) noexcept {
  if (this == &other) return *this;
  if (data_) compute_->release(data_);
  compute_ = std::move(other.compute_);
  data_ = other.data_;
  count_ = other.count_;
  other.data_ = nullptr;
  other.count_ = 0;
  return *this;
}

}  // namespace retort::core
