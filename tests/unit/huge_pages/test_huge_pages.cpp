// HugePageBuffer: 2 MiB-aligned zero-filled memory of the asked size, movable, and (where THP is
// not off) backed by huge pages according to /proc/self/smaps.
#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "core/base/huge_pages.h"

using retort::HugePageBuffer;

namespace {

// AnonHugePages (kB) of the smaps entry whose range contains p; -1 when no entry does.
long anon_huge_kb(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= addr && addr < hi;
      continue;
    }
    if (inside && line.rfind("AnonHugePages:", 0) == 0) return std::stol(line.substr(14));
  }
  return -1;
}

std::string thp_setting() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  std::getline(f, s);
  return s;
}

}  // namespace

TEST_CASE("an empty HugePageBuffer holds nothing") {
  HugePageBuffer b;
  CHECK(b.data() == nullptr);
  CHECK(b.bytes() == 0);
  HugePageBuffer zero(0);
  CHECK(zero.data() == nullptr);
  CHECK(zero.bytes() == 0);
}

TEST_CASE("HugePageBuffer is 2 MiB aligned, zero-filled, writable over its whole size") {
  const size_t bytes = (size_t{5} << 20) + 3;
  HugePageBuffer b(bytes);
  REQUIRE(b.data() != nullptr);
  CHECK(b.bytes() == bytes);
  CHECK(reinterpret_cast<uintptr_t>(b.data()) % HugePageBuffer::kHugePage == 0);
  auto u8 = b.as<uint8_t>();
  REQUIRE(u8.size() == bytes);
  size_t nonzero = 0;
  for (uint8_t v : u8) nonzero += v != 0;
  CHECK(nonzero == 0);
  for (size_t i = 0; i < bytes; ++i) u8[i] = static_cast<uint8_t>(i * 7 + 1);
  size_t wrong = 0;
  for (size_t i = 0; i < bytes; ++i) wrong += u8[i] != static_cast<uint8_t>(i * 7 + 1);
  CHECK(wrong == 0);
  CHECK(b.as<float>().size() == bytes / sizeof(float));
}

TEST_CASE("HugePageBuffer moves its memory and leaves the source empty") {
  HugePageBuffer a(size_t{3} << 20);
  a.as<int32_t>()[12345] = 42;
  void* p = a.data();
  HugePageBuffer b(std::move(a));
  CHECK(a.data() == nullptr);
  CHECK(a.bytes() == 0);
  CHECK(b.data() == p);
  CHECK(b.as<int32_t>()[12345] == 42);
  HugePageBuffer c(size_t{1} << 20);
  c = std::move(b);
  CHECK(b.data() == nullptr);
  CHECK(c.data() == p);
  CHECK(c.bytes() == (size_t{3} << 20));
  CHECK(c.as<int32_t>()[12345] == 42);
}

TEST_CASE("HugePageBuffer gets huge pages unless THP is off") {
  const std::string setting = thp_setting();
  INFO("transparent_hugepage/enabled: " << setting);
  HugePageBuffer b(size_t{8} << 20);
  const long kb = anon_huge_kb(b.data());
  INFO("AnonHugePages of the mapping: " << kb << " kB, advised " << b.advised());
  REQUIRE(kb >= 0);  // the mapping is listed
  if (setting.empty() || setting.find("[never]") != std::string::npos) {
    CHECK(kb == 0);  // no THP on this machine: ordinary pages, still usable (checked above)
  } else {
    CHECK(b.advised());
    CHECK(kb >= 2048);  // at least one of its four 2 MiB pages is a huge page
  }
}
