// A flat float buffer in a Compute's memory with a host view, for the code that reads or
// writes parameters and optimizer state on the host (checkpoints, initialisation, tests) while
// the kernels work on the device copy. With a host-memory Compute both are the same buffer.
// Otherwise copies are lazy: the host view is downloaded when the device copy is newer, and a
// host view taken for writing is uploaded before the next device use.
#pragma once
#include <memory>
#include <span>
#include <vector>

#include "core/model/compute.h"

namespace retort::core {

class MirroredBuffer {
 public:
  MirroredBuffer() = default;
  MirroredBuffer(std::shared_ptr<Compute> compute, size_t count);  // zero-filled

  size_t size() const { return buffer_.size(); }
  // Current values on the host (downloads first when the device copy was changed).
  std::span<const float> host() const;
  // The same, for writing: the device copy is refreshed before its next use.
  std::span<float> host_for_writing();
  // The device copy for kernels that only read it (uploads a newer host copy first).
  const float* device_for_reading();
  // The device copy for kernels that write it (uploads a newer host copy first); the next host
  // read downloads.
  float* device_for_writing();

 private:
  enum class Newer { neither, host, device };
  void to_device();
  std::shared_ptr<Compute> compute_;
  ComputeBuffer buffer_;
  mutable std::vector<float> mirror_;  // host copy; empty with a host-memory Compute
  mutable Newer newer_ = Newer::neither;
};

}  // namespace retort::core
