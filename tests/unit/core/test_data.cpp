// IDX reader (raw, gzip, corrupt and truncated files), dataset loading, subsets and jitter.
#include <catch2/catch.hpp>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/base/error.h"
#include "core/data/dataset.h"
#include "core/data/idx.h"

using namespace retort::core;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const std::string& tag) {
  const fs::path d = fs::temp_directory_path() / ("retort_data_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
std::vector<uint8_t> idx_bytes(std::vector<uint32_t> dims, size_t extra_or_missing = 0, bool missing = false) {
  std::vector<uint8_t> b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
    n *= d;
  }
  n = missing ? n - extra_or_missing : n + extra_or_missing;
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i * 7));
  return b;
}
void write_raw(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
}
void write_gz(const fs::path& p, const std::vector<uint8_t>& b) {
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
  gzclose(f);
}
}  // namespace

TEST_CASE("IDX files are read raw or gzip-compressed", "[data][idx]") {
  const fs::path d = temp_dir("ok");
  const auto bytes = idx_bytes({3, 4, 5});
  write_raw(d / "a.idx", bytes);
  write_gz(d / "a.idx.gz", bytes);
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    const IdxArray a = read_idx((d / name).string(), 3);
    REQUIRE(a.dims == std::vector<int64_t>{3, 4, 5});
    REQUIRE(a.data.size() == 60);
    REQUIRE(a.data[59] == static_cast<uint8_t>(59 * 7));
  }
  fs::remove_all(d);
}

TEST_CASE("bad IDX files give clear errors naming the file", "[data][idx]") {
  const fs::path d = temp_dir("bad");
  auto expect = [&](const std::vector<uint8_t>& b, bool gz, int rank, const std::string& what) {
    const fs::path p = d / (gz ? "f.gz" : "f.idx");
    gz ? write_gz(p, b) : write_raw(p, b);
    try {
      read_idx(p.string(), rank);
      FAIL("no error for " << what);
    } catch (const retort::Error& e) {
      INFO(e.message());
      REQUIRE(e.kind() == retort::ErrorKind::input);
      REQUIRE_THAT(e.message(), Catch::Contains(p.string()) && Catch::Contains(what));
    }
  };
  expect(idx_bytes({10}, 3, true), false, 1, "truncated");
  expect(idx_bytes({10}, 3, true), true, 1, "truncated");
  expect(idx_bytes({10}, 2, false), false, 1, "trailing");
  expect(idx_bytes({2, 2}), false, 3, "dimensions");
  auto bad_magic = idx_bytes({4});
  bad_magic[0] = 1;
  expect(bad_magic, false, 1, "magic");
  auto bad_type = idx_bytes({4});
  bad_type[2] = 0x0d;
  expect(bad_type, false, 1, "unsigned byte");
  expect({0, 0}, false, 1, "truncated IDX header");
  // A gzip stream cut short: the decompressor must report it, not return short data silently.
  write_gz(d / "full.gz", idx_bytes({4000}));
  std::ifstream in(d / "full.gz", std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), {});
  gz.resize(gz.size() / 2);
  write_raw(d / "cut.gz", gz);
  REQUIRE_THROWS_WITH(read_idx((d / "cut.gz").string(), 1), Catch::Contains("cut.gz"));
  REQUIRE_THROWS_WITH(read_idx((d / "missing.idx").string(), 1), Catch::Contains("cannot open"));
  fs::remove_all(d);
}

TEST_CASE("subsets are seeded, sorted, of the requested size", "[data]") {
  const auto a = subset_indices(1000, 0.1, 5), b = subset_indices(1000, 0.1, 5), c = subset_indices(1000, 0.1, 6);
  REQUIRE(a.size() == 100);
  REQUIRE(a == b);
  REQUIRE(a != c);
  REQUIRE(std::is_sorted(a.begin(), a.end()));
  REQUIRE(std::adjacent_find(a.begin(), a.end()) == a.end());
  REQUIRE(subset_indices(10, 1.0, 1).size() == 10);
}

TEST_CASE("Fashion-MNIST loads and is normalised with training statistics", "[data][fashion]") {
  DataConfig dc;
  dc.train_fraction = 0.1;
  const DataSplits s = load_fashion_mnist(dc, 1);
  REQUIRE(s.train.size == 6000);
  REQUIRE(s.test.size == 10000);
  REQUIRE(s.train.features() == 784);
  double sum = 0, sq = 0;
  for (float v : s.train.x) sum += v, sq += double(v) * v;
  const double n = static_cast<double>(s.train.x.size());
  REQUIRE(std::abs(sum / n) < 1e-4);
  REQUIRE(std::abs(sq / n - 1) < 1e-3);
  for (int32_t y : s.train.y) REQUIRE((y >= 0 && y < 10));
  dc.dir = "/nonexistent";
  REQUIRE_THROWS_WITH(load_fashion_mnist(dc, 1), Catch::Contains("data.dir"));
  dc = DataConfig{};
  dc.train_fraction = 0;
  REQUIRE_THROWS_WITH(load_fashion_mnist(dc, 1), Catch::Contains("data.train_fraction"));
}

TEST_CASE("gather_batch copies rows and jitter shifts by at most jitter_px", "[data]") {
  Dataset d;
  d.size = 3;
  d.height = 5;
  d.width = 6;
  d.classes = 10;
  d.background = -1.f;
  for (int i = 0; i < 3 * 30; ++i) d.x.push_back(static_cast<float>(i));
  d.y = {4, 5, 6};
  const std::vector<int64_t> ids = {2, 0};
  std::vector<float> x(60);
  std::vector<int32_t> y(2);
  gather_batch(d, ids, x.data(), y.data());
  REQUIRE(y == std::vector<int32_t>{6, 4});
  REQUIRE(x[0] == 60.f);
  REQUIRE(x[30] == 0.f);
  int shifted = 0;
  for (uint64_t epoch = 0; epoch < 20; ++epoch) {
    gather_batch(d, ids, x.data(), y.data(), 2, 9, epoch);
    // Find the shift that explains image 0 (source row id 2) and check every pixel against it.
    bool explained = false;
    for (int dy = -2; dy <= 2 && !explained; ++dy)
      for (int dx = -2; dx <= 2 && !explained; ++dx) {
        bool ok = true;
        for (int r = 0; r < 5; ++r)
          for (int c = 0; c < 6; ++c) {
            const int sr = r - dy, sc = c - dx;
            const float want = (sr >= 0 && sr < 5 && sc >= 0 && sc < 6) ? 60.f + sr * 6 + sc : -1.f;
            ok = ok && x[r * 6 + c] == want;
          }
        if (ok) explained = true, shifted += (dx != 0 || dy != 0);
      }
    REQUIRE(explained);
  }
  REQUIRE(shifted > 10);  // 20 draws of a 5x5 grid: almost all are real shifts
}
