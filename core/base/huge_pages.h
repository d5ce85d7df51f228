// Owning host memory on 2 MiB transparent huge pages where the kernel grants them (THP in
// `madvise` mode gives large buffers 4 KiB pages unless asked): for the big streaming buffers
// that the CPU kd_loss reads and writes (logits chunks, teacher targets, dz).
#pragma once
#include <cstddef>
#include <span>

namespace retort {

class HugePageBuffer {
 public:
  static constexpr size_t kHugePage = size_t{2} << 20;

  HugePageBuffer() = default;
  // Zero-filled; `bytes` rounded up to whole 2 MiB pages, 2 MiB aligned, madvise(MADV_HUGEPAGE).
  explicit HugePageBuffer(size_t bytes);
  ~HugePageBuffer();
  HugePageBuffer(HugePageBuffer&& other) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;

  size_t bytes() const { return bytes_; }
  void* data() { return ptr_; }
  const void* data() const { return ptr_; }
  // Whether the kernel accepted the huge-page advice (false where THP is off or unsupported;
  // the memory is then ordinary 4 KiB pages and still valid).
  bool advised() const { return advised_; }
  template <typename T>
  std::span<T> as() {
    return {static_cast<T*>(ptr_), bytes_ / sizeof(T)};
  }

 private:
  void release() noexcept;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  size_t mapped_ = 0;
  bool advised_ = false;
};

}  // namespace retort
