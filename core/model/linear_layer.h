// Fully connected layer y = x·Wᵀ + b with W [out, in] in the flat buffer ("<name>.weight",
// "<name>.bias") and an optional max-norm constraint on the rows of W.
#pragma once
#include "core/model/layer.h"

namespace retort::core {

enum class WeightInit : uint8_t { kaiming, xavier };

class LinearLayer final : public Layer {
 public:
  LinearLayer(std::string name, int64_t in, int64_t out, WeightInit init, double max_norm);
  std::string kind() const override { return "linear"; }
  int64_t in_features() const override { return in_; }
  int64_t out_features() const override { return out_; }
  bool has_params() const override { return true; }
  void declare(ParamLayout& layout) override;
  void bind(const ParamLayout& layout, float* params, float* grads, Compute& compute) override;
  void forward(const float* x, float* y, const BatchContext& ctx) override;
  void backward(const float* x, const float* y, const float* dy, float* dx,
                const BatchContext& ctx) override;
  void apply_constraints() override;

 private:
  std::string name_;
  int64_t in_, out_;
  WeightInit init_;
  double max_norm_;
  size_t weight_index_ = 0, bias_index_ = 0;
  float* w_ = nullptr;
  float* b_ = nullptr;
  float* dw_ = nullptr;
  float* db_ = nullptr;
};

}  // namespace retort::core
