// ActivationLayer and DropoutLayer: dispatch through the Compute (dropout keys stay on the host).
#include "core/model/elementwise_layers.h"

#include <vector>

#include "core/base/error.h"
#include "kernels/dropout.h"

namespace retort::core {

std::string ActivationLayer::kind() const {
  return act_ == kernels::Activation::relu ? "relu" : "gelu";
}

void ActivationLayer::forward(const float* x, float* y, const BatchContext& ctx) {
  compute().activation_forward(act_, x, y, ctx.rows * features_);
}

void ActivationLayer::backward(const float* x, const float* y, const float* dy, float* dx,
                               const BatchContext& ctx) {
  if (dx) compute().activation_backward(act_, x, y, dy, dx, ctx.rows * features_);
}

DropoutLayer::DropoutLayer(double p, int64_t features, uint64_t site)
    : p_(p), features_(features), site_(site) {
  if (!(p >= 0 && p < 1)) RETORT_INPUT_ERROR("dropout probability must be in [0, 1)");
}

const uint64_t* DropoutLayer::row_keys(const BatchContext& ctx) {
  RETORT_CHECK(ctx.sample_ids != nullptr, "dropout in training needs sample ids");
  keys_.resize(static_cast<size_t>(ctx.rows));
  for (int64_t r = 0; r < ctx.rows; ++r)
    keys_[r] = kernels::row_key(ctx.seed, ctx.epoch, ctx.sample_ids[r], site_);
  return keys_.data();
}

void DropoutLayer::forward(const float* x, float* y, const BatchContext& ctx) {
  if (!ctx.training || p_ == 0) {
    compute().copy(y, x, static_cast<size_t>(ctx.rows * features_) * sizeof(float));
    return;
  }
  compute().dropout_forward(x, y, row_keys(ctx), ctx.rows, features_, p_);
}

void DropoutLayer::backward(const float*, const float*, const float* dy, float* dx,
                            const BatchContext& ctx) {
  if (!dx) return;
  if (!ctx.training || p_ == 0) {
    compute().copy(dx, dy, static_cast<size_t>(ctx.rows * features_) * sizeof(float));
    return;
  }
  compute().dropout_backward(dy, dx, row_keys(ctx), ctx.rows, features_, p_);
}

}  // namespace retort::core
