// LmTask: token windows -> LlamaModel -> the objective's chunked head + loss -> backward.
#include "core/train/lm_task.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/data/copy_task.h"
#include "core/data/sequence_dataset.h"
#include "core/data/token_shards.h"
#include "core/lm/lm_import.h"
#include "core/lm/tokenizer_export.h"

namespace retort::core {
namespace {

constexpr int32_t kIgnore = -100;
constexpr int64_t kCopyTaskEvalWindows = 512;

TokenWindows copy_split(const Config& c, uint64_t split, int64_t count) {
  auto task = std::make_shared<CopyTask>(static_cast<uint64_t>(c.run.seed), split, c.student.vocab_size,
                                         c.data.seq_len, count);
  return {task->num_windows(), task->first_counted_target(), c.student.vocab_size,
          [task](std::span<const int64_t> ids, int32_t* out) { task->gather(ids, out); }};
}

TokenWindows shard_split(const Config& c, const char* split, int64_t limit) {
  auto data = std::make_shared<SequenceDataset>(c.data.dir, split, c.data.seq_len);
  const int64_t count = limit > 0 ? std::min(limit, data->num_windows()) : data->num_windows();
  return {count, 0, data->vocab_size(), [data](std::span<const int64_t> ids, int32_t* out) { data->gather(ids, out); }};
}

}  // namespace

TokenSplits load_token_splits(const Config& c) {
  if (c.data.dataset == "copy_task") {
    if (c.student.vocab_size == 0) RETORT_INPUT_ERROR("data.dataset copy_task needs student.vocab_size (>= 3)");
    const int64_t eval = c.data.eval_windows > 0 ? c.data.eval_windows : kCopyTaskEvalWindows;
    return {copy_split(c, 0, c.data.copy_train_size), copy_split(c, 1, eval)};
  }
  if (c.data.dataset == "tokens") return {shard_split(c, "train", 0), shard_split(c, "val", c.data.eval_windows)};
  RETORT_INPUT_ERROR("student.arch llama needs data.dataset tokens or copy_task, got '" + c.data.dataset + "'");
}

LlamaConfig student_llama_config(const Config& c, int64_t data_vocab) {
  const ModelConfig& s = c.student;
  LlamaConfig l;
  l.vocab_size = s.vocab_size > 0 ? s.vocab_size : data_vocab;
  if (l.vocab_size < data_vocab)
    RETORT_INPUT_ERROR(fmt::format("student.vocab_size {} is smaller than the data's vocabulary {}", l.vocab_size,
                                   data_vocab));
  l.dim = s.dim;
  l.n_layers = s.n_layers;
  l.n_heads = s.n_heads;
  l.n_kv_heads = s.n_kv_heads > 0 ? s.n_kv_heads : s.n_heads;
  l.ffn_dim = s.ffn_dim > 0 ? s.ffn_dim : (8 * s.dim / 3 + 15) / 16 * 16;
  l.max_seq_len = s.max_seq_len > 0 ? s.max_seq_len : c.data.seq_len;
  l.rope_theta = s.rope_theta;
  l.norm_eps = s.norm_eps;
  l.tie_embeddings = s.tie_embeddings;
  l.qkv_bias = s.qkv_bias;
  validate(l, "student");
  if (l.max_seq_len < c.data.seq_len)
    RETORT_INPUT_ERROR(fmt::format("student.max_seq_len {} is shorter than data.seq_len {}", l.max_seq_len,
                                   c.data.seq_len));
  return l;
}

LmTask::LmTask(const Config& config, std::shared_ptr<Compute> compute)
    : cfg_(config),
      seed_(static_cast<uint64_t>(config.run.seed)),
      data_(load_token_splits(config)),
      seq_len_(config.data.seq_len),
      head_(compute, static_cast<size_t>(config.train.head_chunk_mb * (1 << 20))) {
  LlamaConfig shape;
  if (config.student.init_from.empty()) {
    shape = student_llama_config(config, data_.train.vocab);
  } else {
    // The shape is the file's; its weights wait here for initialize().
    init_ = import_lm(config.student.init_from);
    shape = init_->config;
    if (shape.vocab_size < data_.train.vocab)
      RETORT_INPUT_ERROR(fmt::format("student.init_from {}: vocabulary {} is smaller than the data's {}",
                                     config.student.init_from, shape.vocab_size, data_.train.vocab));
    if (shape.max_seq_len < seq_len_)
      RETORT_INPUT_ERROR(fmt::format("student.init_from {}: max_seq_len {} is shorter than data.seq_len {}",
                                     config.student.init_from, shape.max_seq_len, seq_len_));
  }
  if (data_.val.vocab > shape.vocab_size)
    RETORT_INPUT_ERROR(fmt::format("the validation split's vocabulary {} exceeds the model's {}", data_.val.vocab,
                                   shape.vocab_size));
  std::string data_hash, data_tokenizer;
  if (config.data.dataset == "tokens") {
    // Ids mean something only under the tokenizer that made them: the data, the initial weights
    // and the checkpoints this run writes must agree on it.
    const TokenShardManifest manifest = read_token_manifest(config.data.dir);
    data_hash = fmt::format("{:016x}", manifest.tokenizer_hash);
    data_tokenizer = manifest.tokenizer;
    if (init_) {
      const std::string model_hash = model_tokenizer_hash(config.student.init_from, *init_);
      if (!model_hash.empty() && model_hash != data_hash)
        RETORT_INPUT_ERROR(fmt::format("student.init_from {} uses tokenizer {}, but data.dir {} was tokenized with {}",
                                       config.student.init_from, model_hash, config.data.dir, data_hash));
    }
  }
  model_ = std::make_unique<LlamaModel>(shape, std::move(compute), config.student.dropout);
  if (!data_hash.empty()) {
    model_->file_metadata()["retort.tokenizer_hash"] = data_hash;
    model_->file_metadata()["retort.tokenizer"] = data_tokenizer;
  }
}

void LmTask::initialize(uint64_t seed) {
  if (cfg_.student.init_from.empty()) {
    model_->initialize(seed);
    return;
  }
  RETORT_CHECK(init_.has_value(), "initialize() from student.init_from runs once");
  model_->load_tensors(init_->tensors, cfg_.student.init_from);
  const std::string kind = init_->kind;
  init_.reset();  // the weights now live in the model
  log::info("student initialised from {} ({}, {} parameters)", cfg_.student.init_from, kind,
            model_->num_params());
}

void LmTask::split_windows(const TokenWindows& split, int64_t rows) {
  const int64_t T = seq_len_;
  inputs_.resize(static_cast<size_t>(rows * T));
  labels_.resize(static_cast<size_t>(rows * T));
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* w = windows_.data() + r * (T + 1);
    for (int64_t t = 0; t < T; ++t) {
      inputs_[r * T + t] = w[t];
      labels_[r * T + t] = t >= split.first_counted ? w[t + 1] : kIgnore;
    }
  }
}

ObjectiveResult LmTask::forward_loss(Objective& objective, const StepBatch& batch, float grad_scale) {
  const int64_t rows = batch.rows;
  windows_.resize(static_cast<size_t>(rows * (seq_len_ + 1)));
  data_.train.gather(batch.ids, windows_.data());
  split_windows(data_.train, rows);
  ids_u64_.resize(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) ids_u64_[i] = static_cast<uint64_t>(batch.ids[i]);
  batch_ = LmBatch{rows, seq_len_, true, ids_u64_.data(), seed_, static_cast<uint64_t>(batch.epoch)};
  const float* hidden = model_->forward(inputs_.data(), batch_);
  model_->begin_backward();
  const LlamaConfig& c = model_->config();
  const LmHeadBatch head{&head_,
                         HeadInputs{hidden, model_->head_weight(), rows * seq_len_, c.dim, c.vocab_size,
                                    model_->dhidden(), model_->head_grad()},
                         labels_.data(), kIgnore};
  StepBatch labelled = batch;
  labelled.labels = labels_.data();
  return objective.compute_lm(labelled, head, grad_scale);
}

void LmTask::backward(const GradReadyHook& ready) { model_->backward(model_->dhidden(), batch_, ready); }

EvalResult LmTask::evaluate(int64_t batch_size) {
  const TokenWindows& val = data_.val;
  const int64_t step = std::max<int64_t>(1, std::min<int64_t>(batch_size, cfg_.train.batch_size));
  const LlamaConfig& c = model_->config();
  double loss_sum = 0;
  int64_t tokens = 0, correct = 0;
  std::vector<int64_t> ids;
  for (int64_t first = 0; first < val.count; first += step) {
    const int64_t rows = std::min(step, val.count - first);
    ids.resize(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) ids[i] = first + i;
    windows_.resize(static_cast<size_t>(rows * (seq_len_ + 1)));
    val.gather(ids, windows_.data());
    split_windows(val, rows);
    const float* hidden = model_->forward(inputs_.data(), LmBatch{rows, seq_len_, false});
    const HeadLossSums s = lm_head_cross_entropy(
        head_, HeadInputs{hidden, model_->head_weight(), rows * seq_len_, c.dim, c.vocab_size, nullptr, nullptr},
        CrossEntropyTargets{labels_.data(), kIgnore, 1.f});
    loss_sum += s.loss_sum;
    tokens += s.tokens;
    correct += s.correct;
  }
  EvalResult r;
  r.per_token = true;
  r.count = tokens;
  r.errors = tokens - correct;
  r.loss = loss_sum / static_cast<double>(std::max<int64_t>(tokens, 1));
  r.accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(tokens, 1));
  return r;
}

}  // namespace retort::core
