// An in-memory classification dataset (Fashion-MNIST): float features normalised with the
// training set's mean/std, int labels, a seeded train_fraction subset, and batch gathering
// with optional ±jitter_px shift augmentation keyed by (seed, epoch, sample id).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/config/config.h"

namespace retort::core {

struct Dataset {
  int64_t size = 0;
  int64_t height = 0, width = 0;     // features = height * width
  int64_t classes = 0;
  std::vector<float> x;              // [size, height*width], normalised
  std::vector<int32_t> y;            // [size]
  float background = 0;              // the normalised value of a zero pixel (jitter fill)
  int64_t features() const { return height * width; }
};

struct DataSplits {
  Dataset train, test;
  double mean = 0, stddev = 1;       // of the training subset's pixels in [0, 1]
};

// Throws an input error naming the data.* key that is invalid.
void validate(const DataConfig& data);

// Input statistics to normalise with instead of the training subset's (e.g. a teacher's or an
// evaluated checkpoint's, from its ModelSpec).
struct InputStats {
  double mean = 0, stddev = 1;
};

// Loads `<dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`, takes the seeded training
// subset and normalises both splits with its statistics (when data.normalize), or with `fixed`
// when given.
DataSplits load_fashion_mnist(const DataConfig& data, uint64_t seed, const InputStats* fixed = nullptr);

// The first `round(fraction·n)` of a seeded permutation of [0, n), sorted ascending.
std::vector<int64_t> subset_indices(int64_t n, double fraction, uint64_t seed);

// Copies rows `ids` of `d` into x[ids.size(), features] and y[ids.size()]. With jitter_px > 0
// every image is shifted by (dx, dy) in [-jitter_px, jitter_px]², drawn from
// (seed, epoch, sample id); uncovered pixels take the background value.
void gather_batch(const Dataset& d, std::span<const int64_t> ids, float* x, int32_t* y,
                  int64_t jitter_px = 0, uint64_t seed = 0, uint64_t epoch = 0);

}  // namespace retort::core
