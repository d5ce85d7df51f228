// Non-owning 2-D tensor views (row-major, rows x cols with a row stride) over host or device
// memory, and the owning aligned host buffer. Models, kernels and comm all pass these.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/base/dtype.h"

namespace retort {

enum class Device : uint8_t { cpu = 0, cuda = 1 };
const char* device_name(Device d);

// A typed 2-D view: element (r, c) lives at data[r * stride + c].
template <typename T>
struct View2D {
  T* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;  // elements between consecutive rows; == cols when contiguous
  Device device = Device::cpu;

  View2D() = default;
  View2D(T* d, int64_t r, int64_t c, Device dev = Device::cpu)
      : data(d), rows(r), cols(c), stride(c), device(dev) {}
  View2D(T* d, int64_t r, int64_t c, int64_t s, Device dev)
      : data(d), rows(r), cols(c), stride(s), device(dev) {}

  T* row(int64_t r) const { return data + r * stride; }
  T& operator()(int64_t r, int64_t c) const { return data[r * stride + c]; }
  int64_t size() const { return rows * cols; }
  bool contiguous() const { return stride == cols; }
};

// An untyped view (for the wire and for dtype-dispatching kernels).
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::f32;
  int64_t rows = 0;
  int64_t cols = 0;
  Device device = Device::cpu;

  size_t bytes() const { return static_cast<size_t>(rows * cols) * dtype_size(dtype); }
  template <typename T>
  View2D<T> as() const { return View2D<T>(static_cast<T*>(data), rows, cols, device); }
};

// Owning, 64-byte aligned, zero-initialised host memory.
class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(size_t bytes);
  size_t bytes() const { return bytes_; }
  void* data() { return ptr_.get(); }
  const void* data() const { return ptr_.get(); }
  template <typename T>
  std::span<T> as() {
    return {static_cast<T*>(data()), bytes_ / sizeof(T)};
  }
  template <typename T>
  std::span<const T> as() const {
    return {static_cast<const T*>(data()), bytes_ / sizeof(T)};
  }

 private:
  struct Free {
    void operator()(void* p) const noexcept;
  };
  std::unique_ptr<void, Free> ptr_;
  size_t bytes_ = 0;
};

}  // namespace retort
