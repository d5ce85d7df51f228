// Batched evaluation with the softmax cross-entropy kernel, on the model's Compute (language
// models: core/lm/lm_compare.h).
#include "core/train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/base/error.h"
#include "core/checkpoint/checkpoint.h"

namespace retort::core {

nlohmann::json EvalResult::to_json() const {
  nlohmann::json j = {{"test_loss", loss}, {"test_accuracy", accuracy}, {"test_errors", errors},
                      {"test_samples", count}};
  if (per_token) j["test_perplexity"] = std::exp(loss);
  return j;
}

EvalResult evaluate(Model& model, const Dataset& data, int64_t batch_size) {
  if (data.features() != model.in_features() || data.classes != model.classes())
    RETORT_INPUT_ERROR("model expects " + std::to_string(model.in_features()) + " features and " +
                       std::to_string(model.classes()) + " classes, the dataset has " +
                       std::to_string(data.features()) + " and " + std::to_string(data.classes));
  if (batch_size <= 0) RETORT_INPUT_ERROR("train.eval_batch_size must be > 0");
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t first = 0; first < data.size; first += batch_size) {
    const int64_t rows = std::min(batch_size, data.size - first);
    BatchContext ctx;
    ctx.rows = rows;
    const float* logits = model.forward(data.x.data() + first * data.features(), ctx);
    const auto x = model.compute().softmax_xent(logits, data.y.data() + first, nullptr, rows, model.classes(), 1.f);
    loss_sum += x.loss_sum;
    correct += x.correct;
  }
  r.count = data.size;
  r.errors = data.size - correct;
  r.loss = loss_sum / static_cast<double>(std::max<int64_t>(data.size, 1));
  r.accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(data.size, 1));
  return r;
}

EvalResult evaluate_checkpoint(const std::string& path, const Config& config) {
  if (config.student.arch == "llama")
    RETORT_INPUT_ERROR("student.arch llama: a language model is evaluated by evaluate_lm_checkpoint (core/lm/lm_compare.h)");
  auto model = load_model(path);
  // Normalise exactly as in training (the statistics ride in the model spec).
  const InputStats stats{model->spec().input_mean, model->spec().input_std};
  const DataSplits data = load_fashion_mnist(config.data, static_cast<uint64_t>(config.run.seed), &stats);
  return evaluate(*model, data.test, config.train.eval_batch_size);
}

}  // namespace retort::core
