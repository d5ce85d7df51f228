// ModelSpec validation and JSON round trip.
#include "core/model/model_spec.h"

#include <algorithm>
#include <cmath>

#include "core/base/error.h"
#include "core/base/json_int.h"

namespace retort::core {

void validate(const ModelSpec& spec, const std::string& what) {
  const ModelConfig& m = spec.config;
  if (m.arch != "mlp") RETORT_INPUT_ERROR(what + ": unknown model arch '" + m.arch + "' (mlp)");
  if (m.activation != "relu" && m.activation != "gelu")
    RETORT_INPUT_ERROR(what + ": activation must be relu or gelu, got '" + m.activation + "'");
  if (m.init != "kaiming" && m.init != "xavier")
    RETORT_INPUT_ERROR(what + ": init must be kaiming or xavier, got '" + m.init + "'");
  for (int64_t h : m.hidden)
    if (h <= 0) RETORT_INPUT_ERROR(what + ": hidden sizes must be positive");
  if (!(m.dropout >= 0 && m.dropout < 1) || !(m.input_dropout >= 0 && m.input_dropout < 1))
    RETORT_INPUT_ERROR(what + ": dropout and input_dropout must be in [0, 1)");
  if (!(m.max_norm >= 0)) RETORT_INPUT_ERROR(what + ": max_norm must be >= 0");
  if (!(spec.input_std > 0) || !std::isfinite(spec.input_mean))
    RETORT_INPUT_ERROR(what + ": input normalisation needs a finite mean and std > 0");
  if (spec.in_features <= 0 || spec.classes <= 1)
    RETORT_INPUT_ERROR(what + ": model needs in_features > 0 and classes > 1");
  if (m.hidden.size() > 1024) RETORT_INPUT_ERROR(what + ": more than 1024 hidden layers are not supported");
  if (spec.in_features > kMaxLayerWidth || spec.classes > kMaxLayerWidth ||
      std::any_of(m.hidden.begin(), m.hidden.end(), [](int64_t h) { return h > kMaxLayerWidth; }))
    RETORT_INPUT_ERROR(what + ": a layer wider than " + std::to_string(kMaxLayerWidth) + " is not supported");
  if (parameter_count(spec) > kMaxParameters)
    RETORT_INPUT_ERROR(what + ": " + std::to_string(parameter_count(spec)) + " parameters exceed the limit of " +
                       std::to_string(kMaxParameters));
}

int64_t parameter_count(const ModelSpec& spec) {
  int64_t count = 0, in = spec.in_features;
  for (int64_t h : spec.config.hidden) {
    count += in * h + h;
    in = h;
  }
  return count + in * spec.classes + spec.classes;
}

nlohmann::json to_json(const ModelSpec& spec) {
  const ModelConfig& m = spec.config;
  return {{"arch", m.arch},           {"hidden", m.hidden},
          {"activation", m.activation}, {"dropout", m.dropout},
          {"input_dropout", m.input_dropout}, {"max_norm", m.max_norm},
          {"init", m.init},           {"in_features", spec.in_features},
          {"classes", spec.classes},  {"input_mean", spec.input_mean},
          {"input_std", spec.input_std}};
}

ModelSpec model_spec_from_json(const nlohmann::json& j, const std::string& what) {
  ModelSpec spec;
  try {
    ModelConfig& m = spec.config;
    m.arch = j.at("arch").get<std::string>();
    m.hidden = json_int64_list(j.at("hidden"));
    m.activation = j.at("activation").get<std::string>();
    m.dropout = j.at("dropout").get<double>();
    m.input_dropout = j.at("input_dropout").get<double>();
    m.max_norm = j.at("max_norm").get<double>();
    m.init = j.at("init").get<std::string>();
    spec.in_features = json_int64(j.at("in_features"));
    spec.classes = json_int64(j.at("classes"));
    spec.input_mean = j.at("input_mean").get<double>();
    spec.input_std = j.at("input_std").get<double>();
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(what + ": bad model spec: " + e.what());
  }
  validate(spec, what);
  return spec;
}

}  // namespace retort::core
