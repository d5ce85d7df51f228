// LinearLayer: parameter declaration and dispatch through the Compute (linear, max-norm).
#include "core/model/linear_layer.h"

#include <cmath>


namespace retort::core {

LinearLayer::LinearLayer(std::string name, int64_t in, int64_t out, WeightInit init,
                         double max_norm)
    : name_(std::move(name)), in_(in), out_(out), init_(init), max_norm_(max_norm) {}

void LinearLayer::declare(ParamLayout& layout) {
  ParamInit w_init;
  if (init_ == WeightInit::kaiming) {
    w_init = {ParamInit::Kind::normal, std::sqrt(2.0 / static_cast<double>(in_))};
  } else {
    w_init = {ParamInit::Kind::uniform, std::sqrt(6.0 / static_cast<double>(in_ + out_))};
  }
  weight_index_ = layout.add(name_ + ".weight", {out_, in_}, w_init);
  bias_index_ = layout.add(name_ + ".bias", {out_}, ParamInit{});
}

void LinearLayer::bind(const ParamLayout& layout, float* params, float* grads, Compute& compute) {
  Layer::bind(layout, params, grads, compute);
  w_ = params + layout.tensor(weight_index_).offset;
  b_ = params + layout.tensor(bias_index_).offset;
  dw_ = grads + layout.tensor(weight_index_).offset;
  db_ = grads + layout.tensor(bias_index_).offset;
}

void LinearLayer::forward(const float* x, float* y, const BatchContext& ctx) {
  compute().linear_forward(x, w_, b_, y, ctx.rows, in_, out_, ctx.batch_invariant);
}

void LinearLayer::backward(const float* x, const float*, const float* dy, float* dx,
                           const BatchContext& ctx) {
  compute().linear_backward(x, w_, dy, dx, dw_, db_, ctx.rows, in_, out_);
}

void LinearLayer::apply_constraints() {
  if (max_norm_ > 0) compute().max_norm_rows(w_, out_, in_, static_cast<float>(max_norm_));
}

}  // namespace retort::core
