// Two-rank CUDA data parallelism (run under mpirun -np 2): each rank trains the teacher-shaped
// MLP on its half of every global batch on its own GPU, gradients averaged by the NCCL reducer
// through core::DataParallel. After 3 steps both ranks hold the same parameters (bitwise) and
// they match one CPU model trained on the whole batches (|got − ref| <= 2e-5 + 1e-3·|ref|).
// Exits 77 (skipped) without 2 visible GPUs: NCCL refuses two ranks on one device.
#include <cuda_runtime.h>
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "comm/world.h"
#include "core/base/error.h"
#include "core/model/cuda_compute.h"
#include "core/model/model.h"
#include "core/optim/optimizer.h"
#include "core/train/data_parallel.h"
#include "core/train/device.h"

using namespace retort::core;

namespace {

constexpr int64_t kGlobalBatch = 32, kIn = 784, kClasses = 10;
constexpr int kSteps = 3;

struct Batch {
  std::vector<float> x;
  std::vector<int32_t> y;
  std::vector<uint64_t> ids;
};

Batch global_batch(int step) {
  std::mt19937 g(static_cast<uint32_t>(200 + step));
  std::normal_distribution<float> n;
  Batch b;
  for (int64_t i = 0; i < kGlobalBatch * kIn; ++i) b.x.push_back(n(g));
  for (int64_t r = 0; r < kGlobalBatch; ++r) {
    b.y.push_back(static_cast<int32_t>(g() % kClasses));
    b.ids.push_back(static_cast<uint64_t>(step * kGlobalBatch + r));
  }
  return b;
}

// One step on rows [first, first + rows) of the global batch; grad_scale as StudentTrainer's.
void step(Model& m, Optimizer& opt, DataParallel* dp, const Batch& b, int64_t first, int64_t rows, int ranks) {
  const BatchContext ctx{rows, true, b.ids.data() + first, 5, 0};
  const float* z = m.forward(b.x.data() + first * kIn, ctx);
  m.compute().softmax_xent(z, b.y.data() + first, m.dlogits(), rows, kClasses,
                           static_cast<float>(ranks) / static_cast<float>(kGlobalBatch));
  m.backward(m.dlogits(), ctx, dp ? dp->hook() : GradReadyHook{});
  if (dp) dp->finish();
  if (!opt.step(m.device_params(), m.device_grads(), 0.05).applied) RETORT_RUNTIME_ERROR("step not applied");
  m.apply_constraints();
}

int run(retort::comm::World& world) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  if (world.size() != 2) RETORT_INPUT_ERROR("run under mpirun -np 2");
  if (devices < 2) {
    if (world.rank() == 0) std::printf("skipped: the 2-rank CUDA data-parallel test needs 2 GPUs (%d visible)\n", devices);
    return 77;
  }
  ModelSpec spec;
  spec.config.hidden = {128, 128};
  spec.config.input_dropout = 0.2;
  spec.config.dropout = 0.5;
  spec.config.max_norm = 1.0;
  spec.in_features = kIn;
  spec.classes = kClasses;
  const int device = local_device_index(retort::comm::Group(MPI_COMM_WORLD).node_local_rank(), devices, world.rank());
  Model dev(spec, make_cuda_compute(device));
  dev.initialize(5);
  OptimConfig oc;
  Optimizer dev_opt(oc, dev.num_params(), dev.compute_ptr());
  DataParallel dp(MPI_COMM_WORLD, dev, CommConfig{}, 60);
  Model cpu(spec);
  cpu.initialize(5);
  Optimizer cpu_opt(oc, cpu.num_params());
  const int64_t half = kGlobalBatch / 2;
  for (int s = 0; s < kSteps; ++s) {
    const Batch b = global_batch(s);
    step(dev, dev_opt, &dp, b, world.rank() * half, half, 2);
    step(cpu, cpu_opt, nullptr, b, 0, kGlobalBatch, 1);
  }
  const auto mine = std::as_const(dev).params();
  std::vector<float> other(mine.size());
  MPI_Sendrecv(mine.data(), static_cast<int>(mine.size()), MPI_FLOAT, 1 - world.rank(), 0, other.data(),
               static_cast<int>(other.size()), MPI_FLOAT, 1 - world.rank(), 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  int64_t differ = 0, far = 0;
  const auto ref = std::as_const(cpu).params();
  for (size_t i = 0; i < mine.size(); ++i) {
    differ += mine[i] != other[i];
    far += std::abs(double(mine[i]) - ref[i]) > 2e-5 + 1e-3 * std::abs(double(ref[i]));
  }
  std::printf("rank %d (GPU %d): %lld parameters differ from the other rank, %lld outside the CPU tolerance\n",
              world.rank(), device, static_cast<long long>(differ), static_cast<long long>(far));
  return differ == 0 && far == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  retort::comm::World world(&argc, &argv);
  try {
    return run(world);
  } catch (const retort::Error& e) {
    std::fprintf(stderr, "rank %d: %s\n", world.rank(), e.what());
    world.abort(1);
  }
}
