// Parameter-free elementwise layers: an activation (relu | gelu) and inverted dropout whose
// mask is keyed by (seed, epoch, sample id, site) — identity when not training.
#pragma once
#include <vector>

#include "core/model/layer.h"
#include "kernels/activation.h"

namespace retort::core {

class ActivationLayer final : public Layer {
 public:
  ActivationLayer(kernels::Activation act, int64_t features) : act_(act), features_(features) {}
  std::string kind() const override;
  int64_t in_features() const override { return features_; }
  int64_t out_features() const override { return features_; }
  void forward(const float* x, float* y, const BatchContext& ctx) override;
  void backward(const float* x, const float* y, const float* dy, float* dx,
                const BatchContext& ctx) override;

 private:
  kernels::Activation act_;
  int64_t features_;
};

class DropoutLayer final : public Layer {
 public:
  // site: a number unique to this layer inside the model (part of the randomness key).
  DropoutLayer(double p, int64_t features, uint64_t site);
  std::string kind() const override { return "dropout"; }
  int64_t in_features() const override { return features_; }
  int64_t out_features() const override { return features_; }
  void forward(const float* x, float* y, const BatchContext& ctx) override;
  void backward(const float* x, const float* y, const float* dy, float* dx,
                const BatchContext& ctx) override;

 private:
  const uint64_t* row_keys(const BatchContext& ctx);
  double p_;
  int64_t features_;
  uint64_t site_;
  std::vector<uint64_t> keys_;
};

}  // namespace retort::core
