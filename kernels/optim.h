// Fused optimizer updates over a flat parameter buffer, and the deterministic sum of squares
// used for global-norm clipping. grad_scale multiplies every gradient first (clipping factor).
#pragma once
#include <cstdint>

namespace retort::kernels {

// SGD (PyTorch semantics, dampening 0): g' = s·g + wd·p; m = μ·m + g';
// d = nesterov ? g' + μ·m : m (d = g' when μ = 0); p -= lr·d.
void sgd_update(float* p, const float* g, float* m, int64_t n, float lr, float momentum,
                float weight_decay, bool nesterov, float grad_scale);

// AdamW (decoupled decay): p -= lr·wd·p; m = β1·m + (1-β1)·g'; v = β2·v + (1-β2)·g'²;
// p -= lr · (m/(1-β1^t)) / (sqrt(v/(1-β2^t)) + eps), with g' = s·g and t >= 1 the step count.
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int64_t t, float grad_scale);

// Σ g[i]² in float64, summed in fixed 4096-element chunks then in chunk order, so the result
// is the same for every thread count.
double sum_squares(const float* g, int64_t n);

}  // namespace retort::kernels
