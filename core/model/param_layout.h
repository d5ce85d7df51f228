// Where every parameter tensor lives inside a model's one flat fp32 buffer (and, at the same
// offsets, inside the flat gradient and optimizer-state buffers), and how it is initialised.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace retort::core {

// Deterministic initialisation of one tensor: zeros, ones (norm gains), normal(0, scale) or
// uniform(-scale, scale).
struct ParamInit {
  enum class Kind : uint8_t { zeros, ones, normal, uniform } kind = Kind::zeros;
  double scale = 0;
};

struct ParamTensor {
  std::string name;             // e.g. "fc1.weight" (PyTorch-style, used in safetensors)
  std::vector<int64_t> shape;   // row-major
  int64_t offset = 0;           // in elements, inside the flat buffer
  int64_t numel = 0;
  ParamInit init;
};

class ParamLayout {
 public:
  // Appends a tensor after the previous ones (offsets aligned to 16 floats = 64 bytes) and
  // returns its index. Names must be unique.
  size_t add(std::string name, std::vector<int64_t> shape, ParamInit init);
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const ParamTensor& tensor(size_t index) const { return tensors_.at(index); }
  int64_t total() const { return total_; }  // elements of the flat buffer (with padding)

  // Fills params[total()] from the seed: element i of tensor t draws from a counter-based hash
  // of (seed, t, i), so the result depends on nothing else. Padding is zero.
  void initialize(std::span<float> params, uint64_t seed) const;

 private:
  std::vector<ParamTensor> tensors_;
  int64_t total_ = 0;
};

}  // namespace retort::core
