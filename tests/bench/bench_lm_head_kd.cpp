// retort_bench lm_head_kd: the LM head + KD loss (lm_head_kd) chunk by chunk vs unchunked
// (materialised [N, V] logits + dlogits: the same code with one chunk), for dense, top-k + lse and
// sampled targets at 1 and 2 threads: median time (the two interleaved), peak extra compute
// memory, and bare GEMMs [N, V, d] and [chunk rows, V, d].
//   retort_bench lm_head_kd [--rows 2048] [--dim 512] [--vocab 32000] [--chunk-mb 30] [--k 32]
//                           [--n 16] [--threads 1,2]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/lm/lm_head_kd.h"
#include "core/model/cpu_compute.h"
#include "tests/bench/baselines.h"
#include "tests/bench/bench.h"
#include "tests/bench/step_workload.h"
#include "tests/support/numeric.h"

namespace {

using namespace retort;
using namespace retort::core;

// The CPU compute, counting live and peak bytes of what it allocates.
class CountingCompute final : public CpuCompute {
 public:
  void* allocate(size_t bytes) override {
    void* p = CpuCompute::allocate(bytes);
    std::lock_guard lock(mu_);
    sizes_[p] = bytes;
    live_ += bytes;
    peak_ = std::max(peak_, live_);
    return p;
  }
  void release(void* p) noexcept override {
    {
      std::lock_guard lock(mu_);
      auto it = sizes_.find(p);
      if (it != sizes_.end()) live_ -= it->second, sizes_.erase(it);
    }
    CpuCompute::release(p);
  }
  size_t live() const { return live_; }
  size_t peak() const { return peak_; }
  void reset_peak() { peak_ = live_; }

 private:
  std::mutex mu_;
  std::unordered_map<void*, size_t> sizes_;
  size_t live_ = 0, peak_ = 0;
};

// One path: x, w, dx, dw live in its own counting compute before the first call; the peak extra
// is what the head and the objective allocate on top during that first (cold) call.
class HeadPath {
 public:
  HeadPath(const std::vector<float>& x, const std::vector<float>& w, int64_t rows, int64_t dim, int64_t vocab,
           const LmTargets& targets, const std::vector<int32_t>& labels, size_t budget)
      : compute_(std::make_shared<CountingCompute>()),
        x_(compute_, x.size()), w_(compute_, w.size()), dx_(compute_, x.size()), dw_(compute_, w.size()),
        head_(compute_, budget), targets_(targets), labels_(labels), rows_(rows), dim_(dim), vocab_(vocab) {
    std::copy(x.begin(), x.end(), x_.data());
    std::copy(w.begin(), w.end(), w_.data());
    params_.temperature = targets.temperature;
    scale_ = 1.f / static_cast<float>(counted_tokens(labels.data(), rows, params_.ignore_index));
    const size_t before = compute_->live();
    compute_->reset_peak();
    call();
    peak_extra = compute_->peak() - before;
  }
  int64_t chunk_rows() const { return std::min(head_.chunk_rows(vocab_), rows_); }
  double call() {  // seconds of one call
    const auto t0 = std::chrono::steady_clock::now();
    std::fill(dw_.data(), dw_.data() + dw_.size(), 0.f);
    loss = lm_head_kd(head_, {x_.data(), w_.data(), rows_, dim_, vocab_, dx_.data(), dw_.data()}, targets_,
                      labels_.data(), params_, scale_)
               .loss_sum;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  size_t peak_extra = 0;
  double loss = 0;

 private:
  std::shared_ptr<CountingCompute> compute_;
  ComputeBuffer x_, w_, dx_, dw_;
  ChunkedHead head_;
  const LmTargets& targets_;
  const std::vector<int32_t>& labels_;
  int64_t rows_, dim_, vocab_;
  kernels::KdLossParams params_;
  float scale_ = 1;
};

int bench_lm_head_kd(const retort::bench::Args& args) {
  int64_t rows = 2048, dim = 512, vocab = 32000, k = 32, n = 16;
  double chunk_mb = 30;  // 245 rows at V = 32000: GEMMs as fast as unchunked, >= 8x less memory
  std::vector<int64_t> threads = {1, 2};
  if (args.quick) rows = 64, dim = 32, vocab = 1000, chunk_mb = 0.05;
  for (size_t i = 0; i + 1 < args.rest.size(); ++i) {
    const std::string& key = args.rest[i];
    const std::string& v = args.rest[i + 1];
    if (key == "--rows") rows = std::stoll(v);
    if (key == "--dim") dim = std::stoll(v);
    if (key == "--vocab") vocab = std::stoll(v);
    if (key == "--chunk-mb") chunk_mb = std::stod(v);
    if (key == "--k") k = std::stoll(v);
    if (key == "--n") n = std::stoll(v);
    if (key == "--threads") threads = retort::bench::parse_int_list(v);
  }
  const int repeats = args.quick ? 1 : args.repeats;
  const auto x = retort::test::random_normal(static_cast<size_t>(rows * dim), 1, 1.f);
  const auto w = retort::test::random_normal(static_cast<size_t>(vocab * dim), 2, 0.05f);
  const auto xt = retort::test::random_normal(static_cast<size_t>(rows * dim), 3, 1.f);
  const auto wt = retort::test::random_normal(static_cast<size_t>(vocab * dim), 4, 0.08f);
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  std::vector<int64_t> sample_ids(static_cast<size_t>(rows));
  std::vector<int32_t> positions(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    labels[i] = static_cast<int32_t>((i * 7919 + 13) % vocab);
    sample_ids[i] = i / 512, positions[i] = static_cast<int32_t>(i % 512);
  }
  const size_t budget = static_cast<size_t>(chunk_mb * (1 << 20));
  const size_t whole = static_cast<size_t>(rows * vocab) * sizeof(float);
  const double flops = 6.0 * static_cast<double>(rows) * static_cast<double>(dim) * static_cast<double>(vocab);

  struct KindSpec {
    TargetKind kind;
    int32_t k;
  };
  for (int64_t t : threads) {
    omp_set_num_threads(static_cast<int>(t));
    const double bare_gflops = retort::bench::blas_gemm_gflops(rows, vocab, dim, true, 3);
    // The same bare GEMM at one chunk's rows: how much of the chunked time is BLAS shape efficiency.
    const int64_t chunk_rows = std::min(ChunkedHead(cpu_compute(), budget).chunk_rows(vocab), rows);
    const double bare_chunk_gflops = retort::bench::blas_gemm_gflops(chunk_rows, vocab, dim, true, 3);
    for (const KindSpec ks : {KindSpec{TargetKind::dense, 0}, KindSpec{TargetKind::topk, static_cast<int32_t>(k)},
                              KindSpec{TargetKind::sampled, static_cast<int32_t>(n)}}) {
      ChunkedHead teacher(cpu_compute(), budget);
      const auto e0 = std::chrono::steady_clock::now();
      const LmTargets targets = encode_targets(teacher, xt.data(), wt.data(), rows, dim, vocab,
                                               {ks.kind, ks.k, DType::f32, 1.f, 5, sample_ids.data(), positions.data()});
      const double encode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
      HeadPath chunked(x, w, rows, dim, vocab, targets, labels, budget);
      HeadPath unchunked(x, w, rows, dim, vocab, targets, labels, whole);
      // Interleaved (order alternating per repeat) so the machine's load drifts over both alike.
      std::vector<double> chunked_s, unchunked_s;
      for (int i = 0; i < repeats; ++i) {
        if (i % 2) unchunked_s.push_back(unchunked.call());
        chunked_s.push_back(chunked.call());
        if (!(i % 2)) unchunked_s.push_back(unchunked.call());
      }
      const double chunked_med = retort::bench::median(chunked_s), unchunked_med = retort::bench::median(unchunked_s);
      // kd_objective's host staging for sampled targets ([chunk, n + 1] floats): sized, not counted above.
      const double staging_bytes =
          ks.kind == TargetKind::sampled ? static_cast<double>(chunked.chunk_rows() * (ks.k + 1) * 4) : 0.0;
      retort::bench::emit(
          {{"bench", "lm_head_kd"},
           {"kind", target_kind_name(ks.kind)},
           {"k_or_n", ks.k},
           {"rows", rows},
           {"dim", dim},
           {"vocab", vocab},
           {"threads", omp_get_max_threads()},
           {"chunk_rows", chunked.chunk_rows()},
           {"repeats", repeats},
           {"chunked_ms", chunked_med * 1e3},
           {"unchunked_ms", unchunked_med * 1e3},
           {"unchunked_over_chunked_time", unchunked_med / chunked_med},
           {"chunked_peak_extra_mib", static_cast<double>(chunked.peak_extra) / (1 << 20)},
           {"unchunked_peak_extra_mib", static_cast<double>(unchunked.peak_extra) / (1 << 20)},
           {"memory_ratio", static_cast<double>(unchunked.peak_extra) / static_cast<double>(chunked.peak_extra)},
           {"chunked_host_staging_kib", staging_bytes / 1024},
           {"chunked_gemm_gflops", flops / chunked_med / 1e9},
           {"bare_blas_gemm_gflops", bare_gflops},
           {"bare_blas_chunk_gemm_gflops", bare_chunk_gflops},
           {"loss_rel_diff", std::abs(chunked.loss - unchunked.loss) / std::abs(unchunked.loss)},
           {"target_bytes_per_token", static_cast<double>(targets.payload_bytes()) / static_cast<double>(rows)},
           {"encode_ms", encode_s * 1e3}});
    }
  }
  return 0;
}

}  // namespace

RETORT_BENCH("lm_head_kd",
             "LM head + KD loss chunked vs unchunked (dense, top-k, sampled targets): time, peak extra memory",
             bench_lm_head_kd);
