// retort_bench lm_step: tokens/s of one Llama training step on one rank (forward, chunked head +
// cross-entropy, backward, AdamW) at 1 and 2 OpenMP threads; the same GEMM shapes and transposes
// done by bare cblas_sgemm (the BLAS the linear kernels use) in the same run; peak RSS per token;
// and where the step's time goes, op by op (a timing Compute around the CPU one).
// Args: [--layers 4] [--dim 256] [--heads 4] [--kv-heads 4] [--ffn 688] [--vocab 4096] [--seq 128]
//       [--batch 8] [--threads 1,2]
#include <omp.h>

#include <cblas.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/lm/llama_model.h"
#include "core/lm/lm_head_loss.h"
#include "core/model/cpu_compute.h"
#include "core/optim/optimizer.h"
#include "tests/bench/bench.h"
#include "tests/bench/step_workload.h"

namespace {

using namespace retort::core;
using retort::bench::GemmShape;

// The CPU Compute, timing each op family (synchronous on the CPU, so wall time is op time).
class TimingCompute final : public CpuCompute {
 public:
  std::map<std::string, double> seconds;
  void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t in, int64_t out,
                      bool bi) override {
    timed("gemm", [&] { CpuCompute::linear_forward(x, w, b, y, rows, in, out, bi); });
  }
  void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t rows,
                       int64_t in, int64_t out) override {
    timed("gemm", [&] { CpuCompute::linear_backward(x, w, dy, dx, dw, db, rows, in, out); });
  }
  void embedding_forward(const EmbeddingOp& op) override { timed("embedding", [&] { CpuCompute::embedding_forward(op); }); }
  void embedding_backward(const EmbeddingOp& op) override { timed("embedding", [&] { CpuCompute::embedding_backward(op); }); }
  void rmsnorm_forward(const RmsNormOp& op) override { timed("rmsnorm", [&] { CpuCompute::rmsnorm_forward(op); }); }
  void rmsnorm_backward(const RmsNormOp& op) override { timed("rmsnorm", [&] { CpuCompute::rmsnorm_backward(op); }); }
  void rope_forward(const RopeOp& op) override { timed("rope", [&] { CpuCompute::rope_forward(op); }); }
  void rope_backward(const RopeOp& op) override { timed("rope", [&] { CpuCompute::rope_backward(op); }); }
  void attention_forward(const AttentionOp& op) override { timed("attention_fwd", [&] { CpuCompute::attention_forward(op); }); }
  void attention_backward(const AttentionOp& op) override { timed("attention_bwd", [&] { CpuCompute::attention_backward(op); }); }
  void swiglu_forward(const SwigluOp& op) override { timed("swiglu", [&] { CpuCompute::swiglu_forward(op); }); }
  void swiglu_backward(const SwigluOp& op) override { timed("swiglu", [&] { CpuCompute::swiglu_backward(op); }); }
  void add_inplace(const AddOp& op) override { timed("add", [&] { CpuCompute::add_inplace(op); }); }
  void zero(void* p, size_t bytes) override { timed("zero", [&] { CpuCompute::zero(p, bytes); }); }
  void copy(void* dst, const void* src, size_t bytes) override { timed("copy", [&] { CpuCompute::copy(dst, src, bytes); }); }
  retort::kernels::TokenXentResult token_xent(const float* z, const int32_t* y, int32_t ignore, float* dz,
                                              int64_t rows, int64_t vocab, float scale, double* nll) override {
    retort::kernels::TokenXentResult r;
    timed("token_xent", [&] { r = CpuCompute::token_xent(z, y, ignore, dz, rows, vocab, scale, nll); });
    return r;
  }
  double sum_squares(const float* g, int64_t n) override {
    double r = 0;
    timed("adamw", [&] { r = CpuCompute::sum_squares(g, n); });
    return r;
  }
  void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float b1, float b2, float eps,
                    float wd, int64_t t, float scale) override {
    timed("adamw", [&] { CpuCompute::adamw_update(p, g, m, v, n, lr, b1, b2, eps, wd, t, scale); });
  }

 private:
  template <typename F>
  void timed(const char* op, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    seconds[op] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

// The GEMMs of one training step: per linear layer y = x·Wᵀ, dW = dyᵀ·x, dx = dy·W (every
// linear's input needs a gradient: the first ones feed the embedding), the head likewise.
std::vector<GemmShape> step_gemms(const LlamaConfig& c, int64_t rows) {
  const int64_t d = c.dim, qd = c.n_heads * c.head_dim(), kvd = c.kv_dim(), f = c.ffn_dim;
  std::vector<std::pair<int64_t, int64_t>> linears;  // (in, out)
  for (int64_t l = 0; l < c.n_layers; ++l)
    linears.insert(linears.end(), {{d, qd}, {d, kvd}, {d, kvd}, {qd, d}, {d, f}, {d, f}, {f, d}});
  linears.push_back({d, c.vocab_size});
  std::vector<GemmShape> g;
  for (const auto& [in, out] : linears) {
    g.push_back({rows, out, in, false, true});
    g.push_back({out, in, rows, true, false});
    g.push_back({rows, in, out});
  }
  return g;
}

double bare_blas_seconds(const std::vector<GemmShape>& shapes, int repeats) {
  std::vector<std::vector<float>> a, b, c;
  for (const auto& s : shapes) {
    a.emplace_back(static_cast<size_t>(s.m * s.k), 0.5f);
    b.emplace_back(static_cast<size_t>(s.k * s.n), 0.25f);
    c.emplace_back(static_cast<size_t>(s.m * s.n), 0.f);
  }
  const double t = retort::bench::time_median(repeats, [&] {
    for (size_t i = 0; i < shapes.size(); ++i) {
      const GemmShape& s = shapes[i];
      const int m = static_cast<int>(s.m), n = static_cast<int>(s.n), k = static_cast<int>(s.k);
      cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans, s.trans_b ? CblasTrans : CblasNoTrans, m, n,
                  k, 1.f, a[i].data(), s.trans_a ? m : k, b[i].data(), s.trans_b ? k : n, 0.f, c[i].data(), n);
    }
  });
  volatile float sink = c[0][0];
  (void)sink;
  return t;
}

double gemm_flops(const std::vector<GemmShape>& shapes) {
  double f = 0;
  for (const auto& s : shapes) f += 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
  return f;
}

// The process's peak resident set (VmHWM) since the last reset_peak_rss(); -1 when unknown.
int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return -1;
}
// Resets the peak to the current resident set (Linux clear_refs 5); false when refused.
bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  return static_cast<bool>(clear << "5" << std::flush);
}

struct Step {
  LlamaModel& model;
  Optimizer& opt;
  ChunkedHead& head;
  const std::vector<int32_t>& tokens;
  const std::vector<int32_t>& labels;
  const std::vector<uint64_t>& ids;
  int64_t batch, seq_len;
  uint64_t epoch = 0;

  void operator()() {
    const LlamaConfig& c = model.config();
    const LmBatch b{batch, seq_len, true, ids.data(), 1, epoch++};
    const float* hidden = model.forward(tokens.data(), b);
    model.begin_backward();
    const HeadInputs in{hidden, model.head_weight(), batch * seq_len, c.dim, c.vocab_size, model.dhidden(),
                        model.head_grad()};
    lm_head_cross_entropy(head, in, {labels.data(), -100, 1.f / static_cast<float>(batch * seq_len), nullptr});
    model.backward(model.dhidden(), b);
    opt.step(model.device_params(), model.device_grads(), 1e-3);
  }
};

int bench_lm_step(const retort::bench::Args& args) {
  LlamaConfig c;
  c.n_layers = 4;
  c.dim = 256;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.ffn_dim = 688;
  c.vocab_size = 4096;
  c.max_seq_len = 128;
  int64_t batch = 8, seq_len = 128;
  std::vector<int64_t> threads = {1, 2};
  if (args.quick) {
    c.n_layers = 1, c.dim = 64, c.ffn_dim = 128, c.vocab_size = 256;
    batch = 2, seq_len = 32;
  }
  for (size_t i = 0; i + 1 < args.rest.size(); ++i) {
    const std::string& k = args.rest[i];
    const std::string& v = args.rest[i + 1];
    if (k == "--layers") c.n_layers = std::stoll(v);
    if (k == "--dim") c.dim = std::stoll(v);
    if (k == "--heads") c.n_heads = std::stoll(v);
    if (k == "--kv-heads") c.n_kv_heads = std::stoll(v);
    if (k == "--ffn") c.ffn_dim = std::stoll(v);
    if (k == "--vocab") c.vocab_size = std::stoll(v);
    if (k == "--seq") seq_len = std::stoll(v);
    if (k == "--batch") batch = std::stoll(v);
    if (k == "--threads") threads = retort::bench::parse_int_list(v);
  }
  if (args.quick) c.n_kv_heads = std::min(c.n_kv_heads, c.n_heads);
  c.max_seq_len = std::max(c.max_seq_len, seq_len);
  validate(c, "retort_bench lm_step");
  const int repeats = args.quick ? 2 : args.repeats;

  const int64_t rows = batch * seq_len;
  std::vector<int32_t> tokens(static_cast<size_t>(rows)), labels(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    tokens[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919) % c.vocab_size);
    labels[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919 + 13) % c.vocab_size);
  }
  std::vector<uint64_t> ids(static_cast<size_t>(batch));
  for (int64_t s = 0; s < batch; ++s) ids[static_cast<size_t>(s)] = static_cast<uint64_t>(s);
  OptimConfig oc;
  oc.name = "adamw";
  const std::vector<GemmShape> gemms = step_gemms(c, rows);
  const double flops = gemm_flops(gemms);

  for (int64_t t : threads) {
    omp_set_num_threads(static_cast<int>(t));
    auto timing = std::make_shared<TimingCompute>();
    for (const bool with_timing : {false, true}) {
      std::shared_ptr<Compute> compute = with_timing ? std::shared_ptr<Compute>(timing) : cpu_compute();
      const bool peak_reset = reset_peak_rss();  // the peak below is this model's step, not earlier runs
      LlamaModel model(c, compute);
      model.initialize(1);
      Optimizer opt(oc, model.num_params(), compute);
      ChunkedHead head(compute);
      Step step{model, opt, head, tokens, labels, ids, batch, seq_len};
      if (!with_timing) {
        const double step_s = retort::bench::time_median(repeats, step);
        const int64_t rss = peak_reset ? peak_rss_bytes() : -1;
        const double bare_s = bare_blas_seconds(gemms, repeats);
        retort::bench::emit({{"bench", "lm_step"},
                             {"layers", c.n_layers},
                             {"dim", c.dim},
                             {"heads", c.n_heads},
                             {"kv_heads", c.n_kv_heads},
                             {"ffn", c.ffn_dim},
                             {"vocab", c.vocab_size},
                             {"batch", batch},
                             {"seq_len", seq_len},
                             {"params", model.num_params()},
                             {"threads", omp_get_max_threads()},
                             {"head_chunk_rows", head.chunk_rows(c.vocab_size)},
                             {"step_ms", step_s * 1e3},
                             {"tokens_per_s", static_cast<double>(rows) / step_s},
                             {"step_gemm_gflops", flops / step_s / 1e9},
                             {"bare_blas_gemm_ms", bare_s * 1e3},
                             {"bare_blas_gemm_gflops", flops / bare_s / 1e9},
                             {"fraction_of_bare_gemm", bare_s / step_s},
                             {"model_state_mib", 4.0 * 4 * static_cast<double>(model.num_params()) / (1 << 20)},
                             {"peak_rss_mib", rss < 0 ? nlohmann::json() : nlohmann::json(static_cast<double>(rss) / (1 << 20))},
                             {"peak_rss_bytes_per_token",
                              rss < 0 ? nlohmann::json() : nlohmann::json(static_cast<double>(rss) / static_cast<double>(rows))}});
      } else {
        step();  // warm-up, not counted
        timing->seconds.clear();
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < repeats; ++i) step();
        const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        nlohmann::json ms;
        double in_ops = 0;
        for (const auto& [op, s] : timing->seconds) {
          ms[op] = s / repeats * 1e3;
          in_ops += s;
        }
        ms["other"] = (total - in_ops) / repeats * 1e3;
        retort::bench::emit({{"bench", "lm_step_breakdown"},
                             {"threads", omp_get_max_threads()},
                             {"step_ms", total / repeats * 1e3},
                             {"ms_per_step", ms}});
      }
    }
  }
  return 0;
}

}  // namespace

RETORT_BENCH("lm_step", "tokens/s of a Llama training step (forward, chunked CE, backward, AdamW) vs bare BLAS GEMMs",
             bench_lm_step);
