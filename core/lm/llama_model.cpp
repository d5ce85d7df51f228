// LlamaModel: the HF-named parameter layout, the activation workspace, weight loading and KV-cache
// decoding. The blocks' forward and backward are in lm_forward_blocks.cpp.
#include "core/lm/llama_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/base/error.h"
#include "kernels/dropout.h"

namespace retort::core {
namespace {

constexpr ComputeOp kNeededOps[] = {ComputeOp::embedding, ComputeOp::rmsnorm, ComputeOp::rope,
                                    ComputeOp::attention, ComputeOp::swiglu,  ComputeOp::add};

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// Hands out 64-byte aligned sub-ranges of one buffer: first counts the floats (base null), then
// the same calls on the allocated base give the pointers.
class Carver {
 public:
  explicit Carver(float* base) : base_(base) {}
  float* take(int64_t count) {
    float* p = base_ ? base_ + used_ : nullptr;
    used_ += (count + 15) / 16 * 16;
    return p;
  }
  int64_t used() const { return used_; }

 private:
  float* base_;
  int64_t used_ = 0;
};

}  // namespace

LlamaModel::LlamaModel(LlamaConfig config, std::shared_ptr<Compute> compute, double dropout)
    : Network(std::move(compute)), config_(config), dropout_(dropout) {
  validate(config_, "llama model");
  if (!(dropout_ >= 0 && dropout_ < 1))
    RETORT_INPUT_ERROR(fmt::format("llama model: dropout must be in [0, 1) (got {})", dropout_));
  for (ComputeOp op : kNeededOps)
    if (!compute_->supports(op))
      RETORT_INPUT_ERROR(fmt::format("llama model: compute '{}' (device {}) does not support the {} op", compute_->name(),
                                     device_name(compute_->device()), compute_op_name(op)));
  declare_layout();
  allocate_buffers();
  device_params_ = params_.device_for_writing();
  device_grads_ = grads_.device_for_writing();
}

void LlamaModel::declare_layout() {
  const LlamaConfig& c = config_;
  const int64_t d = c.dim, qd = c.n_heads * c.head_dim(), kvd = c.kv_dim(), f = c.ffn_dim;
  const ParamInit weight{ParamInit::Kind::normal, 0.02}, ones{ParamInit::Kind::ones, 0}, zeros{};
  auto add = [&](const std::string& name, std::vector<int64_t> shape, ParamInit init) {
    return layout_.tensor(layout_.add(name, std::move(shape), init)).offset;
  };
  embed_offset_ = add("model.embed_tokens.weight", {c.vocab_size, d}, weight);
  group_begin_.push_back(embed_offset_);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    LayerParams w{};
    w.input_norm = add(p + "input_layernorm.weight", {d}, ones);
    group_begin_.push_back(w.input_norm);
    w.wq = add(p + "self_attn.q_proj.weight", {qd, d}, weight);
    w.bq = c.qkv_bias ? add(p + "self_attn.q_proj.bias", {qd}, zeros) : -1;
    w.wk = add(p + "self_attn.k_proj.weight", {kvd, d}, weight);
    w.bk = c.qkv_bias ? add(p + "self_attn.k_proj.bias", {kvd}, zeros) : -1;
    w.wv = add(p + "self_attn.v_proj.weight", {kvd, d}, weight);
    w.bv = c.qkv_bias ? add(p + "self_attn.v_proj.bias", {kvd}, zeros) : -1;
    w.wo = add(p + "self_attn.o_proj.weight", {d, qd}, weight);
    w.post_norm = add(p + "post_attention_layernorm.weight", {d}, ones);
    w.gate = add(p + "mlp.gate_proj.weight", {f, d}, weight);
    w.up = add(p + "mlp.up_proj.weight", {f, d}, weight);
    w.down = add(p + "mlp.down_proj.weight", {d, f}, weight);
    layers_.push_back(w);
  }
  norm_offset_ = add("model.norm.weight", {d}, ones);
  group_begin_.push_back(norm_offset_);
  head_offset_ = embed_offset_;
  if (!c.tie_embeddings) {
    head_offset_ = add("lm_head.weight", {c.vocab_size, d}, weight);
    group_begin_.push_back(head_offset_);
  }
}

nlohmann::json LlamaModel::spec_json() const {
  return {{"arch", "llama"}, {"llama", to_json(config_)}, {"dropout", dropout_}};
}

void LlamaModel::ensure_workspace(int64_t rows, bool training) {
  const int64_t slots = training ? config_.n_layers : 1;
  const int64_t residuals = training ? config_.n_layers + 1 : 2;
  const bool grads_missing = training && grad_scratch_.size() == 0;
  if (rows <= capacity_rows_ && slots <= slots_ && residuals <= residuals_ && !grads_missing) return;
  capacity_rows_ = std::max(rows, capacity_rows_);
  slots_ = std::max(slots, slots_);
  residuals_ = std::max(residuals, residuals_);
  const int64_t n = capacity_rows_, d = config_.dim, qd = config_.n_heads * config_.head_dim();
  const int64_t kvd = config_.kv_dim(), f = config_.ffn_dim, h = config_.n_heads;

  auto carve_activations = [&](Carver& cv) {
    residual_ptrs_.clear();
    for (int64_t r = 0; r < residuals_; ++r) residual_ptrs_.push_back(cv.take(n * d));
    slot_acts_.clear();
    for (int64_t s = 0; s < slots_; ++s) {
      LayerActs a{};
      a.rstd1 = cv.take(n);
      a.q = cv.take(n * qd);
      a.k = cv.take(n * kvd);
      a.v = cv.take(n * kvd);
      a.att = cv.take(n * qd);
      a.lse = cv.take(n * h);
      a.x_mid = cv.take(n * d);
      a.rstd2 = cv.take(n);
      a.gate = cv.take(n * f);
      a.up = cv.take(n * f);
      slot_acts_.push_back(a);
    }
    normed_ = cv.take(n * d);
    act_ = cv.take(n * f);
    rstd_final_ = cv.take(n);
    hidden_ = cv.take(n * d);
  };
  Carver count(nullptr);
  carve_activations(count);
  activations_ = ComputeBuffer();  // release before allocating the larger one
  activations_ = ComputeBuffer(compute_, static_cast<size_t>(count.used()));
  Carver place(activations_.data());
  carve_activations(place);

  if (training || grad_scratch_.size() > 0) {
    auto carve_grads = [&](Carver& cv) {
      Grads& g = grads_scratch_;
      g.dhidden = cv.take(n * d);
      g.dres = cv.take(n * d);
      g.dn = cv.take(n * d);
      g.dn2 = cv.take(n * d);
      g.dbranch = cv.take(n * d);
      g.dact = cv.take(n * f);
      g.dgate = cv.take(n * f);
      g.dup = cv.take(n * f);
      g.dq = cv.take(n * qd);
      g.dk = cv.take(n * kvd);
      g.dv = cv.take(n * kvd);
      g.datt = cv.take(n * qd);
    };
    Carver gcount(nullptr);
    carve_grads(gcount);
    grad_scratch_ = ComputeBuffer();
    grad_scratch_ = ComputeBuffer(compute_, static_cast<size_t>(gcount.used()));
    Carver gplace(grad_scratch_.data());
    carve_grads(gplace);
  }
  // Token ids then positions, int32 each, in compute memory.
  token_ids_ = ComputeBuffer(compute_, static_cast<size_t>(2 * n));
  saved_for_backward_ = false;
}

const int32_t* LlamaModel::upload_tokens(const int32_t* tokens, int64_t rows, const int32_t* host_positions) {
  for (int64_t i = 0; i < rows; ++i)
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size)
      RETORT_INPUT_ERROR(fmt::format("llama model: token id {} at row {} is outside the vocabulary [0, {})", tokens[i],
                                     i, config_.vocab_size));
  auto* ids = reinterpret_cast<int32_t*>(token_ids_.data());
  compute_->upload(ids, tokens, static_cast<size_t>(rows) * sizeof(int32_t));
  compute_->upload(ids + capacity_rows_, host_positions, static_cast<size_t>(rows) * sizeof(int32_t));
  return ids;
}

float* LlamaModel::residual(int64_t index) {
  return residual_ptrs_[static_cast<size_t>(index % residuals_)];
}

LlamaModel::LayerActs LlamaModel::acts(int64_t layer) { return slot_acts_[static_cast<size_t>(layer % slots_)]; }

kernels::AttentionShape LlamaModel::training_shape(const LmBatch& b) const {
  const int64_t hd = config_.head_dim();
  return {b.batch,       b.seq_len, b.seq_len, 0, config_.n_heads, config_.n_kv_heads, hd, config_.n_heads * hd,
          config_.kv_dim(), config_.n_heads * hd,
          static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)))};
}

const uint64_t* LlamaModel::dropout_keys(const LmBatch& b, int64_t site) {
  RETORT_CHECK(b.sample_ids != nullptr, "llama dropout in training needs sample ids");
  keys_.resize(static_cast<size_t>(b.batch * b.seq_len));
  for (int64_t s = 0; s < b.batch; ++s) {
    const uint64_t row_key = kernels::row_key(b.seed, b.epoch, b.sample_ids[s], static_cast<uint64_t>(site));
    for (int64_t t = 0; t < b.seq_len; ++t)
      keys_[static_cast<size_t>(s * b.seq_len + t)] = kernels::mix64(row_key ^ kernels::mix64(static_cast<uint64_t>(t)));
  }
  return keys_.data();
}

const float* LlamaModel::forward(const int32_t* tokens, const LmBatch& b) {
  RETORT_CHECK(b.batch > 0 && b.seq_len > 0, "llama forward needs at least one token");
  if (b.seq_len > config_.max_seq_len)
    RETORT_INPUT_ERROR(fmt::format("llama model: sequence length {} exceeds max_seq_len {}", b.seq_len,
                                   config_.max_seq_len));
  const int64_t rows = b.batch * b.seq_len, d = config_.dim;
  ensure_workspace(rows, b.training);
  host_positions_.resize(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) host_positions_[static_cast<size_t>(r)] = static_cast<int32_t>(r % b.seq_len);
  const int32_t* ids = upload_tokens(tokens, rows, host_positions_.data());
  const int32_t* positions = ids + capacity_rows_;
  params_.device_for_reading();  // a newer host copy (initialisation, a load) goes up first

  compute_->embedding_forward({.tokens = ids, .n = rows, .vocab = config_.vocab_size, .dim = d,
                               .table = device_params_ + embed_offset_, .out = residual(0)});
  const kernels::AttentionShape shape = training_shape(b);
  const bool with_dropout = b.training && dropout_ > 0;
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    const LayerActs a = acts(l);
    block_forward(l, {residual(l), residual(l + 1), positions, a.k, a.v, a.k, a.v, shape},
                  with_dropout ? &b : nullptr);
  }
  compute_->rmsnorm_forward({.x = residual(config_.n_layers), .w = device_params_ + norm_offset_, .y = hidden_,
                             .rstd = rstd_final_, .rows = rows, .dim = d, .eps = static_cast<float>(config_.norm_eps)});
  last_rows_ = rows;
  saved_for_backward_ = b.training;
  backward_begun_ = false;
  return hidden_;
}

float* LlamaModel::dhidden() {
  RETORT_CHECK(saved_for_backward_, "dhidden() needs a training forward first");
  return grads_scratch_.dhidden;
}

void LlamaModel::begin_backward() {
  RETORT_CHECK(saved_for_backward_, "begin_backward() needs a training forward first");
  compute_->zero(grads_.device_for_writing(), grads_.size() * sizeof(float));
  backward_begun_ = true;
}

void LlamaModel::report(const GradReadyHook& ready, size_t group) const {
  if (!ready) return;
  const int64_t end = group + 1 < group_begin_.size() ? group_begin_[group + 1] : layout_.total();
  ready(group_begin_[group], end - group_begin_[group]);
}

void LlamaModel::backward(const float* dhidden, const LmBatch& b, const GradReadyHook& ready) {
  RETORT_CHECK(saved_for_backward_ && b.batch * b.seq_len == last_rows_, "llama backward without its training forward");
  RETORT_CHECK(backward_begun_, "llama backward without begin_backward (the head gradient would be lost)");
  const int64_t rows = last_rows_, d = config_.dim;
  const int32_t* ids = reinterpret_cast<const int32_t*>(token_ids_.data());
  const size_t norm_group = static_cast<size_t>(config_.n_layers) + 1;
  if (!config_.tie_embeddings) report(ready, norm_group + 1);  // lm_head: the objective wrote it

  const Grads& g = grads_scratch_;
  compute_->rmsnorm_backward({.x = residual(config_.n_layers), .w = device_params_ + norm_offset_, .rstd = rstd_final_,
                              .dy = dhidden, .dx = g.dres, .dw = device_grads_ + norm_offset_, .rows = rows, .dim = d});
  report(ready, norm_group);
  for (int64_t l = config_.n_layers; l-- > 0;) {
    block_backward(l, b);
    report(ready, static_cast<size_t>(l) + 1);
  }
  compute_->embedding_backward({.tokens = ids, .n = rows, .vocab = config_.vocab_size, .dim = d, .dout = g.dres,
                                .dtable = device_grads_ + embed_offset_});
  report(ready, 0);
  backward_begun_ = false;
}

void LlamaModel::load_tensors(const std::map<std::string, std::vector<float>>& by_name, const std::string& what) {
  for (const ParamTensor& t : layout_.tensors()) {
    auto it = by_name.find(t.name);
    if (it == by_name.end())
      RETORT_INPUT_ERROR(fmt::format("{}: tensor '{}' {} is missing", what, t.name, shape_text(t.shape)));
    if (static_cast<int64_t>(it->second.size()) != t.numel)
      RETORT_INPUT_ERROR(fmt::format("{}: tensor '{}' has {} elements, the model expects {} = {}", what, t.name,
                                     it->second.size(), shape_text(t.shape), t.numel));
  }
  for (const auto& [name, values] : by_name) {
    const auto& ts = layout_.tensors();
    if (std::none_of(ts.begin(), ts.end(), [&](const ParamTensor& t) { return t.name == name; }))
      RETORT_INPUT_ERROR(fmt::format("{}: tensor '{}' is not a parameter of this llama model", what, name));
  }
  std::span<float> host = params();
  for (const ParamTensor& t : layout_.tensors()) {
    const std::vector<float>& v = by_name.at(t.name);
    std::copy(v.begin(), v.end(), host.begin() + t.offset);
  }
}

void LlamaModel::decode(const int32_t* tokens, int64_t n, KvCache& cache, float* logits_out) {
  RETORT_CHECK(n > 0, "decode needs at least one token");
  RETORT_CHECK(cache.layers() == config_.n_layers && cache.kv_dim() == config_.kv_dim(), "KV cache of another model");
  const int64_t start = cache.length(), d = config_.dim, kvd = config_.kv_dim();
  if (start + n > cache.capacity())
    RETORT_INPUT_ERROR(fmt::format("llama decode: {} positions exceed the KV cache capacity {}", start + n,
                                   cache.capacity()));
  ensure_workspace(n, false);
  host_positions_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) host_positions_[static_cast<size_t>(i)] = static_cast<int32_t>(start + i);
  const int32_t* ids = upload_tokens(tokens, n, host_positions_.data());
  params_.device_for_reading();

  compute_->embedding_forward({.tokens = ids, .n = n, .vocab = config_.vocab_size, .dim = d,
                               .table = device_params_ + embed_offset_, .out = residual(0)});
  const int64_t hd = config_.head_dim(), qd = config_.n_heads * hd;
  const kernels::AttentionShape shape{1,   n,   start + n, start, config_.n_heads, config_.n_kv_heads, hd, qd, kvd, qd,
                                      static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)))};
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    float* k = cache.keys(l);
    float* v = cache.values(l);
    block_forward(l, {residual(l), residual(l + 1), ids + capacity_rows_, k + start * kvd, v + start * kvd, k, v, shape},
                  nullptr);
  }
  cache.advance(n);
  if (decode_logits_.size() == 0) decode_logits_ = ComputeBuffer(compute_, static_cast<size_t>(config_.vocab_size));
  compute_->rmsnorm_forward({.x = residual(config_.n_layers) + (n - 1) * d, .w = device_params_ + norm_offset_,
                             .y = hidden_, .rows = 1, .dim = d, .eps = static_cast<float>(config_.norm_eps)});
  compute_->linear_forward(hidden_, head_weight(), nullptr, decode_logits_.data(), 1, d, config_.vocab_size, false);
  compute_->download(logits_out, decode_logits_.data(), static_cast<size_t>(config_.vocab_size) * sizeof(float));
  saved_for_backward_ = false;
}

}  // namespace retort::core
