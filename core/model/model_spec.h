// A model's full description: the config's model section plus the data shape. Stored as JSON
// in every checkpoint so a teacher file is self-describing.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "core/config/config.h"

namespace retort::core {

// Sane limits checked by validate, before anything is allocated from a spec.
inline constexpr int64_t kMaxLayerWidth = int64_t{1} << 24;
inline constexpr int64_t kMaxParameters = int64_t{1} << 32;

struct ModelSpec {
  ModelConfig config;
  int64_t in_features = 0;
  int64_t classes = 0;
  // The input normalisation the model was trained with: x = (pixel/255 − input_mean)/input_std.
  // Evaluation and teachers must feed inputs normalised the same way.
  double input_mean = 0;
  double input_std = 1;
};

// Throws an input error naming `what` (e.g. the config key or file) when the spec is invalid,
// including widths or a parameter count beyond kMaxLayerWidth / kMaxParameters.
void validate(const ModelSpec& spec, const std::string& what);
nlohmann::json to_json(const ModelSpec& spec);
// Weights and biases of the MLP the spec describes (no alignment padding); spec must be valid.
int64_t parameter_count(const ModelSpec& spec);
// Parses and validates; `what` names the source in error messages.
ModelSpec model_spec_from_json(const nlohmann::json& j, const std::string& what);

}  // namespace retort::core
