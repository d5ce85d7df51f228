// ParamLayout: offsets of parameter tensors in the flat buffer and seeded initialisation.
#include "core/model/param_layout.h"

#include <algorithm>
#include <cmath>

#include "core/base/error.h"
#include "kernels/dropout.h"

namespace retort::core {
namespace {
constexpr int64_t kAlign = 16;

// Uniform in (0, 1) from a 64-bit hash (53 mantissa bits, never 0).
double unit_open(uint64_t h) { return (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53; }
}  // namespace

size_t ParamLayout::add(std::string name, std::vector<int64_t> shape, ParamInit init) {
  for (const auto& t : tensors_)
    RETORT_CHECK(t.name != name, "duplicate parameter tensor name '" + name + "'");
  int64_t numel = 1;
  for (int64_t d : shape) {
    RETORT_CHECK(d > 0, "parameter '" + name + "' has a non-positive dimension");
    numel *= d;
  }
  const int64_t offset = (total_ + kAlign - 1) / kAlign * kAlign;
  tensors_.push_back(ParamTensor{std::move(name), std::move(shape), offset, numel, init});
  total_ = offset + numel;
  return tensors_.size() - 1;
}

void ParamLayout::initialize(std::span<float> params, uint64_t seed) const {
  RETORT_CHECK(static_cast<int64_t>(params.size()) >= total_, "parameter buffer too small");
  std::fill(params.begin(), params.end(), 0.f);
  for (size_t t = 0; t < tensors_.size(); ++t) {
    const ParamTensor& p = tensors_[t];
    float* dst = params.data() + p.offset;
    const uint64_t key = kernels::mix64(kernels::mix64(seed ^ 0x1417ull) + t);
    switch (p.init.kind) {
      case ParamInit::Kind::zeros: break;
      case ParamInit::Kind::ones: std::fill(dst, dst + p.numel, 1.f); break;
      case ParamInit::Kind::uniform:
        for (int64_t i = 0; i < p.numel; ++i) {
          const double u = unit_open(kernels::mix64(key ^ static_cast<uint64_t>(i)));
          dst[i] = static_cast<float>((2 * u - 1) * p.init.scale);
        }
        break;
      case ParamInit::Kind::normal:
        for (int64_t i = 0; i < p.numel; ++i) {  // Box-Muller on two independent draws
          const uint64_t h = kernels::mix64(key ^ static_cast<uint64_t>(i));
          const double u1 = unit_open(h), u2 = unit_open(kernels::mix64(h));
          const double z = std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
          dst[i] = static_cast<float>(z * p.init.scale);
        }
        break;
    }
  }
}

}  // namespace retort::core
