// Evaluation of a model on a dataset (loss, accuracy, errors), and `retort eval --checkpoint F`.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "core/config/config.h"
#include "core/data/dataset.h"
#include "core/model/model.h"

namespace retort::core {

struct EvalResult {
  double loss = 0;       // mean cross-entropy
  double accuracy = 0;   // fraction correct
  int64_t errors = 0;    // misclassified samples
  int64_t count = 0;     // samples, or counted tokens when per_token
  bool per_token = false;  // a language model: loss is the mean NLL per token
  // {"test_loss", "test_accuracy", "test_errors", "test_samples"} (+ "test_perplexity" per token)
  nlohmann::json to_json() const;
};

// Forward passes in batches of `batch_size` (no dropout) over the whole host dataset, on the
// model's Compute (a CUDA model evaluates on its device).
EvalResult evaluate(Model& model, const Dataset& data, int64_t batch_size);

// Loads the weights file or checkpoint directory `path` (self-describing), the test set that
// config.data names (normalised with the statistics stored in the model spec) and evaluates.
// Language models (student.arch llama) are evaluate_lm_checkpoint's (core/lm/lm_compare.h).
EvalResult evaluate_checkpoint(const std::string& path, const Config& config);

}  // namespace retort::core
