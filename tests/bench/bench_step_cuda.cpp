// retort_bench step_cuda: samples/s of one full supervised training step of an MLP on one CUDA
// device (host batch upload, forward, softmax-CE, backward, SGD+Nesterov, max-norm), its GEMM
// GFLOP/s, and in the same run bare cuBLAS SGEMMs of the same shapes (the ceiling).
// Args: [--batch N] [--hidden A,B,...]; default: the teacher MLP 784-1200-1200-10 at batch 128.
// Without a CUDA device (or build) it prints why and exits 77.
#include <cstdio>
#include <string>
#include <vector>

#include "tests/bench/bench.h"
#include "tests/bench/step_workload.h"

#ifdef RETORT_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/base/cuda_check.h"
#include "core/model/cuda_compute.h"
#include "core/model/model.h"
#include "core/optim/optimizer.h"
#include "kernels/cuda/cublas_check.h"
#include "kernels/engine_cuda.h"

namespace {

using namespace retort::core;

using retort::bench::GemmShape;

double bare_cublas_seconds(const std::vector<GemmShape>& shapes, int repeats) {
  cudaStream_t stream = nullptr;
  RETORT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  double t = 0;
  {
    retort::kernels::CublasHandle cublas(stream);
    const auto h = static_cast<cublasHandle_t>(cublas.get());
    std::vector<float*> a, b, c;
    for (const auto& s : shapes) {
      float *pa = nullptr, *pb = nullptr, *pc = nullptr;
      RETORT_CUDA_CHECK(cudaMalloc(&pa, s.m * s.k * sizeof(float)));
      RETORT_CUDA_CHECK(cudaMalloc(&pb, s.k * s.n * sizeof(float)));
      RETORT_CUDA_CHECK(cudaMalloc(&pc, s.m * s.n * sizeof(float)));
      RETORT_CUDA_CHECK(cudaMemset(pa, 0, s.m * s.k * sizeof(float)));
      RETORT_CUDA_CHECK(cudaMemset(pb, 0, s.k * s.n * sizeof(float)));
      a.push_back(pa), b.push_back(pb), c.push_back(pc);
    }
    const float one = 1.f, zero = 0.f;
    t = retort::bench::time_median(repeats, [&] {
      for (size_t i = 0; i < shapes.size(); ++i) {
        const auto& s = shapes[i];
        RETORT_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(s.m), static_cast<int>(s.n),
                                        static_cast<int>(s.k), &one, a[i], static_cast<int>(s.m), b[i],
                                        static_cast<int>(s.k), &zero, c[i], static_cast<int>(s.m)));
      }
      RETORT_CUDA_CHECK(cudaStreamSynchronize(stream));
    });
    for (size_t i = 0; i < shapes.size(); ++i) cudaFree(a[i]), cudaFree(b[i]), cudaFree(c[i]);
  }
  RETORT_CUDA_CHECK(cudaStreamDestroy(stream));
  return t;
}

int bench_step_cuda(const retort::bench::Args& args) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "step_cuda: skipped: no GPU\n");
    return 77;
  }
  auto w = retort::bench::make_step_workload(args);
  const int64_t batch = w.batch;
  const auto compute = make_cuda_compute(0);
  Model model(w.spec, compute);
  model.initialize(1);
  Optimizer opt(OptimConfig{}, model.num_params(), compute);
  uint64_t epoch = 0;
  const double step_s = retort::bench::time_median(w.repeats, [&] {
    BatchContext ctx{batch, true, w.ids.data(), 1, epoch++};
    const float* logits = model.forward(w.x.data(), ctx);
    compute->softmax_xent(logits, w.labels.data(), model.dlogits(), batch, 10, 1.f / static_cast<float>(batch));
    model.backward(model.dlogits(), ctx);
    opt.step(model.device_params(), model.device_grads(), 0.01);
    model.apply_constraints();
    compute->synchronize();
  });

  const double flops = w.gemm_flops();
  const double bare_s = bare_cublas_seconds(w.gemms(), w.repeats);
  retort::bench::emit({{"bench", "step_cuda"},
                       {"device", compute->name()},
                       {"model", fmt::format("{}", fmt::join(w.widths, "-"))},
                       {"params", model.num_params()},
                       {"batch", batch},
                       {"step_ms", step_s * 1e3},
                       {"samples_per_s", static_cast<double>(batch) / step_s},
                       {"step_gemm_gflops", flops / step_s / 1e9},
                       {"bare_cublas_gemm_ms", bare_s * 1e3},
                       {"bare_cublas_gemm_gflops", flops / bare_s / 1e9},
                       {"fraction_of_bare_gemm", bare_s / step_s}});
  return 0;
}

}  // namespace

RETORT_BENCH("step_cuda", "samples/s of a full MLP training step on CUDA vs bare cuBLAS GEMMs of the same shapes",
             bench_step_cuda);

#else

RETORT_BENCH("step_cuda", "samples/s of a full MLP training step on CUDA (this build has no CUDA)",
             [](const retort::bench::Args&) {
               std::fprintf(stderr, "step_cuda: skipped: built without CUDA\n");
               return 77;
             });

#endif
