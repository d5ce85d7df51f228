// A model's full description: the config's model section plus the data shape. Stored as JSON
// in every checkpoint so a teacher file is self-describing.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "core/config/config.h"

namespace retort::core {

struct ModelSpec {
  ModelConfig config;
  int64_t in_features = 0;
  int64_t classes = 0;
  // The input normalisation the model was trained with: x = (pixel/255 − input_mean)/input_std.
  // Evaluation and teachers must feed inputs normalised the same way.
  double input_mean = 0;
  double input_std = 1;
};

// Throws an input error naming `what` (e.g. the config key or file) when the spec is invalid.
void validate(const ModelSpec& spec, const std::string& what);
nlohmann::json to_json(const ModelSpec& spec);
// Parses and validates; `what` names the source in error messages.
ModelSpec model_spec_from_json(const nlohmann::json& j, const std::string& what);

}  // namespace retort::core
