// Fashion-MNIST loading, subset selection, normalisation and batch gathering with jitter.
#include "core/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/base/error.h"
#include "core/data/idx.h"
#include "kernels/dropout.h"

namespace retort::core {
namespace {

constexpr uint64_t kSubsetStream = 0x5ab5e7ull;
constexpr uint64_t kJitterSite = 0x717e4ull;

std::string find_file(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem + ".gz", stem}) {
    const std::string path = (std::filesystem::path(dir) / name).string();
    if (std::filesystem::exists(path)) return path;
  }
  RETORT_INPUT_ERROR("data.dir: neither " + stem + ".gz nor " + stem + " found in '" + dir + "'");
}

struct RawSplit {
  IdxArray images, labels;
};

RawSplit read_split(const std::string& dir, const std::string& prefix) {
  RawSplit s;
  const std::string img = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string lab = find_file(dir, prefix + "-labels-idx1-ubyte");
  s.images = read_idx(img, 3);
  s.labels = read_idx(lab, 1);
  if (s.images.dims[0] != s.labels.dims[0])
    RETORT_INPUT_ERROR(img + " has " + std::to_string(s.images.dims[0]) + " images but " + lab +
                       " has " + std::to_string(s.labels.dims[0]) + " labels");
  for (uint8_t l : s.labels.data)
    if (l >= 10) RETORT_INPUT_ERROR(lab + ": label " + std::to_string(l) + " is not in [0, 10)");
  return s;
}

Dataset make_dataset(const RawSplit& s, const std::vector<int64_t>& rows, double mean,
                     double stddev) {
  Dataset d;
  d.size = static_cast<int64_t>(rows.size());
  d.height = s.images.dims[1];
  d.width = s.images.dims[2];
  d.classes = 10;
  const int64_t f = d.features();
  d.x.resize(static_cast<size_t>(d.size * f));
  d.y.resize(static_cast<size_t>(d.size));
  const float scale = static_cast<float>(1.0 / (255.0 * stddev));
  const float shift = static_cast<float>(mean / stddev);
  for (int64_t i = 0; i < d.size; ++i) {
    const uint8_t* src = s.images.data.data() + rows[i] * f;
    float* dst = d.x.data() + i * f;
    for (int64_t j = 0; j < f; ++j) dst[j] = static_cast<float>(src[j]) * scale - shift;
    d.y[i] = s.labels.data[rows[i]];
  }
  d.background = -shift;
  return d;
}

std::vector<int64_t> all_rows(int64_t n) {
  std::vector<int64_t> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) r[i] = i;
  return r;
}

}  // namespace

void validate(const DataConfig& data) {
  if (data.dataset != "fashion_mnist" && data.dataset != "tokens" && data.dataset != "copy_task")
    RETORT_INPUT_ERROR("data.dataset must be fashion_mnist, tokens or copy_task, got '" + data.dataset + "'");
  if (!(data.train_fraction > 0 && data.train_fraction <= 1))
    RETORT_INPUT_ERROR("data.train_fraction must be in (0, 1]");
  if (data.jitter_px < 0 || data.jitter_px > 8) RETORT_INPUT_ERROR("data.jitter_px must be in [0, 8]");
}

std::vector<int64_t> subset_indices(int64_t n, double fraction, uint64_t seed) {
  std::vector<int64_t> perm = all_rows(n);
  const uint64_t key = kernels::mix64(seed ^ kSubsetStream);
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t h = kernels::mix64(key ^ static_cast<uint64_t>(i));
    const auto j = static_cast<int64_t>((static_cast<unsigned __int128>(h) * (i + 1)) >> 64);
    std::swap(perm[i], perm[j]);
  }
  const auto keep = std::max<int64_t>(1, std::llround(fraction * static_cast<double>(n)));
  perm.resize(static_cast<size_t>(std::min(keep, n)));
  std::sort(perm.begin(), perm.end());
  return perm;
}

DataSplits load_fashion_mnist(const DataConfig& data, uint64_t seed, const InputStats* fixed) {
  validate(data);
  const RawSplit train = read_split(data.dir, "train");
  const RawSplit test = read_split(data.dir, "t10k");
  if (train.images.dims[1] != test.images.dims[1] || train.images.dims[2] != test.images.dims[2])
    RETORT_INPUT_ERROR("data.dir '" + data.dir + "': train and test images differ in size");
  const std::vector<int64_t> rows =
      data.train_fraction < 1 ? subset_indices(train.images.dims[0], data.train_fraction, seed)
                              : all_rows(train.images.dims[0]);
  DataSplits out;
  if (fixed) {
    if (!(fixed->stddev > 0)) RETORT_INPUT_ERROR("input normalisation std must be > 0");
    out.mean = fixed->mean;
    out.stddev = fixed->stddev;
  } else if (data.normalize) {
    const int64_t f = train.images.dims[1] * train.images.dims[2];
    double sum = 0, sq = 0;
    for (int64_t r : rows) {
      const uint8_t* p = train.images.data.data() + r * f;
      for (int64_t j = 0; j < f; ++j) {
        const double v = p[j] / 255.0;
        sum += v;
        sq += v * v;
      }
    }
    const double count = static_cast<double>(rows.size()) * static_cast<double>(f);
    out.mean = sum / count;
    out.stddev = std::sqrt(std::max(sq / count - out.mean * out.mean, 1e-12));
  }
  out.train = make_dataset(train, rows, out.mean, out.stddev);
  out.test = make_dataset(test, all_rows(test.images.dims[0]), out.mean, out.stddev);
  return out;
}

void gather_batch(const Dataset& d, std::span<const int64_t> ids, float* x, int32_t* y,
                  int64_t jitter_px, uint64_t seed, uint64_t epoch) {
  const int64_t f = d.features();
  for (size_t i = 0; i < ids.size(); ++i) {
    const int64_t id = ids[i];
    RETORT_CHECK(id >= 0 && id < d.size, "sample id " + std::to_string(id) + " out of range");
    const float* src = d.x.data() + id * f;
    float* dst = x + static_cast<int64_t>(i) * f;
    y[i] = d.y[id];
    if (jitter_px == 0) {
      std::copy(src, src + f, dst);
      continue;
    }
    const uint64_t key = kernels::row_key(seed, epoch, static_cast<uint64_t>(id), kJitterSite);
    const int64_t span = 2 * jitter_px + 1;
    const int64_t dx = static_cast<int64_t>(kernels::uniform_u32(key, 0) % span) - jitter_px;
    const int64_t dy = static_cast<int64_t>(kernels::uniform_u32(key, 1) % span) - jitter_px;
    for (int64_t r = 0; r < d.height; ++r) {
      const int64_t sr = r - dy;
      for (int64_t c = 0; c < d.width; ++c) {
        const int64_t sc = c - dx;
        const bool inside = sr >= 0 && sr < d.height && sc >= 0 && sc < d.width;
        dst[r * d.width + c] = inside ? src[sr * d.width + sc] : d.background;
      }
    }
  }
}

}  // namespace retort::core
