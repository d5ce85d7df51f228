// The Llama-family transformer of the engine (llm.c style): embedding, n_layers blocks
// (RMSNorm, attention with RoPE and grouped KV heads, SwiGLU MLP, residuals), final RMSNorm,
// over one flat parameter buffer laid out with Hugging Face's tensor names and shapes. The
// objective owns the head matmul (core/lm/lm_head_loss.h); this class owns everything else.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/lm/kv_cache.h"
#include "core/lm/llama_config.h"
#include "core/model/network.h"

namespace retort::core {

// One batch of token sequences, positions 0..seq_len-1 each. Dropout (training only) is keyed
// by (seed, epoch, sample_ids[sequence], position, site).
struct LmBatch {
  int64_t batch = 0, seq_len = 0;
  bool training = false;
  const uint64_t* sample_ids = nullptr;  // [batch]; required when training with dropout
  uint64_t seed = 0, epoch = 0;
};

class LlamaModel : public Network {
 public:
  // Weights init normal(0, 0.02), norm gains 1, biases 0 (Network::initialize). dropout p is
  // applied to the attention and MLP outputs before each residual add. Throws an input error
  // when the config is not a model or `compute` lacks an op the model needs.
  LlamaModel(LlamaConfig config, std::shared_ptr<Compute> compute = cpu_compute(), double dropout = 0);
  const LlamaConfig& config() const { return config_; }
  double dropout() const { return dropout_; }
  std::string arch() const override { return "llama"; }
  nlohmann::json spec_json() const override;  // {"arch":"llama","llama":to_json(config),"dropout":p}

  // tokens[batch*seq_len] host -> final-normed hidden [batch*seq_len, dim] in compute memory,
  // valid until the next forward; activations are kept for backward when b.training.
  const float* forward(const int32_t* tokens, const LmBatch& b);
  // [batch*seq_len, dim] buffer of the last training forward, for the objective to write.
  float* dhidden();
  // [vocab, dim] in compute memory: lm_head.weight, or the embedding when tied (valid after a forward).
  const float* head_weight() const { return device_params_ + head_offset_; }
  // Where the objective accumulates dW_head (zeroed by begin_backward).
  float* head_grad() { return device_grads_ + head_offset_; }
  // Zeroes the gradient buffer; call after forward, before the objective writes head_grad.
  void begin_backward();
  // After forward(training), begin_backward and the objective: gradients of every parameter.
  // `ready` gets finished ranges in decreasing offset order, tiling [0, num_params()): lm_head
  // (untied), the final norm, the layers from last to first, then the embedding, which (tied)
  // also holds the head's gradient and so is reported last.
  void backward(const float* dhidden, const LmBatch& b, const GradReadyHook& ready = {});

  // Copies weights in by HF name: every tensor of the layout must be present with its element
  // count; a missing, extra or wrongly sized tensor is an input error naming `what` and it.
  void load_tensors(const std::map<std::string, std::vector<float>>& by_name, const std::string& what);

  // Generation (batch 1): appends tokens[n] at positions cache.length().. to the cache and
  // writes the logits of the last one to logits_out[vocab] (host).
  void decode(const int32_t* tokens, int64_t n, KvCache& cache, float* logits_out);

 private:
  struct LayerParams {  // element offsets into the flat buffers; bias -1 when absent
    int64_t input_norm, wq, bq, wk, bk, wv, bv, wo, post_norm, gate, up, down;
  };
  struct LayerActs {  // one layer's saved activations (a slot of the workspace); the normed
                      // inputs and the SwiGLU output are recomputed in backward instead
    float *rstd1, *q, *k, *v, *att, *lse, *x_mid, *rstd2, *gate, *up;
  };
  struct Grads {  // backward scratch, [rows, width] each
    float *dhidden, *dres, *dn, *dn2, *dbranch, *dact, *dgate, *dup, *dq, *dk, *dv, *datt;
  };
  struct BlockIo {  // where one block reads and writes in a forward
    const float* x_in;
    float* x_out;
    const int32_t* positions;
    float *k_dst, *v_dst;              // this call's rotated keys / values rows
    const float *k_all, *v_all;        // what attention reads (k_dst/v_dst, or the KV cache)
    kernels::AttentionShape shape;
  };

  void declare_layout();
  void ensure_workspace(int64_t rows, bool training);
  const int32_t* upload_tokens(const int32_t* tokens, int64_t rows, const int32_t* host_positions);
  float* residual(int64_t index);  // stream entering layer `index` (index n_layers: the last output)
  LayerActs acts(int64_t layer);
  kernels::AttentionShape training_shape(const LmBatch& b) const;
  const uint64_t* dropout_keys(const LmBatch& b, int64_t site);
  void block_forward(int64_t layer, const BlockIo& io, const LmBatch* dropout_batch);
  void block_backward(int64_t layer, const LmBatch& b);
  void report(const GradReadyHook& ready, size_t group) const;

  LlamaConfig config_;
  double dropout_;
  int64_t embed_offset_ = 0, norm_offset_ = 0, head_offset_ = 0;
  std::vector<LayerParams> layers_;
  std::vector<int64_t> group_begin_;  // hook ranges: embedding, layers..., final norm, [lm_head]
  const float* device_params_ = nullptr;
  float* device_grads_ = nullptr;

  // Workspace: capacity in token rows; `slots` layers of saved activations (n_layers when
  // training, 1 otherwise) and `residuals` residual-stream buffers (n_layers + 1, or 2).
  int64_t capacity_rows_ = 0, slots_ = 0, residuals_ = 0;
  ComputeBuffer activations_, grad_scratch_, token_ids_, decode_logits_;
  std::vector<float*> residual_ptrs_;
  std::vector<LayerActs> slot_acts_;
  float* normed_ = nullptr;  // [rows, dim]: a block's rmsnorm output (either norm), scratch
  float* act_ = nullptr;     // [rows, ffn_dim]: a block's SwiGLU output, scratch
  float* rstd_final_ = nullptr;
  float* hidden_ = nullptr;
  Grads grads_scratch_{};
  std::vector<int32_t> host_positions_;
  std::vector<uint64_t> keys_;
  // The last forward: its rows, whether it kept activations, whether begin_backward followed.
  int64_t last_rows_ = 0;
  bool saved_for_backward_ = false, backward_begun_ = false;
};

}  // namespace retort::core
