// Host buffer allocation and device names.
#include "core/base/tensor.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/base/error.h"

namespace retort {

const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

HostBuffer::HostBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) RETORT_RUNTIME_ERROR("out of host memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, rounded);
  ptr_.reset(p);
}

void HostBuffer::Free::operator()(void* p) const noexcept { std::free(p); }

}  // namespace retort
