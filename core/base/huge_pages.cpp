// HugePageBuffer: an anonymous mapping trimmed to a 2 MiB-aligned run of whole 2 MiB pages and
// advised MADV_HUGEPAGE before its first touch, so the kernel can back it with huge pages.
#include "core/base/huge_pages.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "core/base/error.h"

namespace retort {

HugePageBuffer::HugePageBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  mapped_ = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  // Map one huge page more than needed, then unmap the unaligned head and the tail.
  void* raw = mmap(nullptr, mapped_ + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    RETORT_RUNTIME_ERROR("out of host memory mapping " + std::to_string(bytes) + " bytes: " + std::strerror(errno));
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t end = aligned + mapped_, raw_end = start + mapped_ + kHugePage;
  if (raw_end > end) munmap(reinterpret_cast<void*>(end), raw_end - end);
  ptr_ = reinterpret_cast<void*>(aligned);
  advised_ = madvise(ptr_, mapped_, MADV_HUGEPAGE) == 0;
  // Touch every page now, after the advice, so the pages (huge where granted) are faulted in
  // here rather than inside the first kernel call that streams through the buffer.
  std::memset(ptr_, 0, mapped_);
}

HugePageBuffer::~HugePageBuffer() { release(); }

HugePageBuffer::HugePageBuffer(HugePageBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      mapped_(std::exchange(other.mapped_, 0)),
      advised_(std::exchange(other.advised_, false)) {}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& other) noexcept {
  if (this != &other) {
    release();
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    advised_ = std::exchange(other.advised_, false);
  }
  return *this;
}

void HugePageBuffer::release() noexcept {
  if (ptr_) munmap(ptr_, mapped_);
  ptr_ = nullptr;
  bytes_ = mapped_ = 0;
  advised_ = false;
}

}  // namespace retort
