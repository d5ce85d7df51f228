// A Compute for CPU-only tests of the CUDA transformer path: separate "device" memory semantics
// (host_memory() false, so models upload and download as on a GPU) and the transformer ops run
// by the CUDA kernel sources (kernels/cuda/transformer_*.cuh) under the SIMT emulator, with the
// same argument mapping as CudaCompute; in batch-invariant mode (or per call) the linear forward
// is the CUDA kernel of kernels/cuda/linear_invariant.cuh; the other ops are the CPU kernels.
// Counts the ops it ran.
#pragma once
#include "tests/simt/simt.h"
// The emulator's built-ins must come first.
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/model/cpu_compute.h"
#include "kernels/cuda/linear_invariant.cuh"
#include "kernels/cuda/transformer_attention.cuh"
#include "kernels/cuda/transformer_pointwise.cuh"

namespace retort::core::test {

class EmulatedCudaCompute final : public CpuCompute {
 public:
  Device device() const override { return Device::cuda; }
  explicit EmulatedCudaCompute(bool batch_invariant = false) : CpuCompute(batch_invariant) {}
  std::string name() const override { return batch_invariant() ? "emulated-cuda (batch-invariant)" : "emulated-cuda"; }
  bool host_memory() const override { return false; }

  int transformer_ops = 0;   // transformer kernels run on the emulator
  int invariant_linears = 0;  // batch-invariant linear forwards run on the emulator

  void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t in,
                      int64_t out, bool per_call_invariant) override {
    if (!per_call_invariant && !batch_invariant()) return CpuCompute::linear_forward(x, w, b, y, rows, in, out, false);
    ++invariant_linears;
    kernels::gpu::enqueue_linear_invariant(x, w, b, y, rows, in, out, nullptr);
  }

  bool supports(ComputeOp) const override { return true; }
  void embedding_forward(const EmbeddingOp& op) override {
    check_ids(op);
    kernels::gpu::enqueue_embedding_forward(op.tokens, op.n, op.table, op.vocab, op.dim, op.out, nullptr);
  }
  void embedding_backward(const EmbeddingOp& op) override {
    check_ids(op);
    kernels::gpu::enqueue_embedding_backward(op.tokens, op.n, op.dout, op.vocab, op.dim, op.dtable, nullptr);
  }
  void rmsnorm_forward(const RmsNormOp& op) override {
    ++transformer_ops;
    kernels::gpu::enqueue_rmsnorm_forward(op.x, op.w, op.y, op.rstd, op.rows, op.dim, op.eps, nullptr);
  }
  void rmsnorm_backward(const RmsNormOp& op) override {
    ++transformer_ops;
    std::vector<float> partial(static_cast<size_t>(kernels::gpu::rmsnorm_backward_scratch(op.rows, op.dim)));
    kernels::gpu::enqueue_rmsnorm_backward(op.x, op.w, op.rstd, op.dy, op.dx, op.dw, partial.data(), op.rows, op.dim,
                                           nullptr);
  }
  void rope_forward(const RopeOp& op) override {
    ++transformer_ops;
    kernels::gpu::enqueue_rope(op.x, op.positions, op.params, 1.f, nullptr);
  }
  void rope_backward(const RopeOp& op) override {
    ++transformer_ops;
    kernels::gpu::enqueue_rope(op.x, op.positions, op.params, -1.f, nullptr);
  }
  void attention_forward(const AttentionOp& op) override {
    ++transformer_ops;
    kernels::gpu::enqueue_attention_forward(op.q, op.k, op.v, op.out, op.lse, op.shape, nullptr);
  }
  void attention_backward(const AttentionOp& op) override {
    ++transformer_ops;
    kernels::gpu::enqueue_attention_backward(op.q, op.k, op.v, op.out, op.lse, op.dout, op.dq, op.dk, op.dv, op.shape,
                                             nullptr);
  }
  void swiglu_forward(const SwigluOp& op) override {
    ++transformer_ops;
    kernels::gpu::enqueue_swiglu_forward(op.gate, op.up, op.out, 1, op.n, op.n, op.n, nullptr);
  }
  void swiglu_backward(const SwigluOp& op) override {
    ++transformer_ops;
    kernels::gpu::enqueue_swiglu_backward(op.gate, op.up, op.dout, op.dgate, op.dup, 1, op.n, op.n, op.n, nullptr);
  }
  void add_inplace(const AddOp& op) override {
    ++transformer_ops;
    kernels::gpu::enqueue_add_inplace(op.y, op.x, op.n, nullptr);
  }

 private:
  // The device id check and the error CudaCompute raises from it.
  void check_ids(const EmbeddingOp& op) {
    ++transformer_ops;
    unsigned long long bad = 0;
    kernels::gpu::enqueue_check_ids(op.tokens, op.n, op.vocab, &bad, nullptr);
    if (bad == 0) return;
    const int64_t position = op.n - static_cast<int64_t>(bad);
    RETORT_INPUT_ERROR("token id " + std::to_string(op.tokens[position]) + " at position " + std::to_string(position) +
                       " is outside the vocabulary [0, " + std::to_string(op.vocab) + ")");
  }
};

}  // namespace retort::core::test
