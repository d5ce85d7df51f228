// NCCL backends on real GPUs (CUDA builds): the reducer's average against a float64 reference
// (fp32 and bf16 wire) and bitwise channel round trips of every format. One GPU per rank is
// needed; with fewer it exits 77, which CTest reports as skipped (never as passed).
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "comm/backends.h"
#include "comm/channel.h"
#include "comm/roles.h"
#include "comm/world.h"
#include "core/base/cuda_check.h"
#include "core/base/error.h"

using namespace retort;
using namespace retort::comm;

namespace {

int failures = 0;
void expect(bool ok, const char* what, int rank) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: FAILED: %s\n", rank, what);
    ++failures;
  }
}

float integer_grad(int rank, size_t i) { return static_cast<float>((rank + 1) * (static_cast<int>(i * 7919 % 17) - 8)); }

void check_reducer(const World& world, DType wire) {
  RolesConfig rc;
  rc.teachers = 0;
  rc.students = world.size();
  Roles roles(world, rc);
  const size_t count = (1u << 20) + 3;
  std::vector<float> host(count);
  for (size_t i = 0; i < count; ++i) host[i] = integer_grad(world.rank(), i);
  float* device = nullptr;
  cudaStream_t stream;
  RETORT_CUDA_CHECK(cudaStreamCreate(&stream));
  RETORT_CUDA_CHECK(cudaMalloc(&device, count * 4));
  RETORT_CUDA_CHECK(cudaMemcpy(device, host.data(), count * 4, cudaMemcpyHostToDevice));
  ReducerConfig config;
  config.bucket_bytes = 256 * 1024 + 4;
  config.wire = wire;
  config.compute_stream = stream;
  auto reducer = make_reducer(roles, Transport::nccl, device, count, config);
  for (size_t end = count; end > 0;) {
    const size_t n = std::min<size_t>(end, 100003);
    reducer->mark_ready(end - n, n);
    end -= n;
  }
  reducer->wait();
  RETORT_CUDA_CHECK(cudaMemcpyAsync(host.data(), device, count * 4, cudaMemcpyDeviceToHost, stream));
  RETORT_CUDA_CHECK(cudaStreamSynchronize(stream));
  size_t mismatches = 0;
  for (size_t i = 0; i < count; ++i) {
    double sum = 0;
    for (int r = 0; r < world.size(); ++r) sum += integer_grad(r, i);
    mismatches += host[i] != static_cast<float>(sum / world.size());
  }
  expect(mismatches == 0, wire == DType::bf16 ? "nccl reducer (bf16 wire) equals the mean" : "nccl reducer equals the mean",
         world.rank());
  reducer.reset();
  cudaFree(device);
  cudaStreamDestroy(stream);
}

// Seeded random bytes of a payload for (student, step).
std::vector<std::byte> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> b(n);
  for (auto& x : b) x = static_cast<std::byte>(rng() % 251);
  return b;
}

void check_channel(const World& world) {
  RolesConfig rc;
  rc.teachers = 1;
  rc.students = world.size() - 1;
  Roles roles(world, rc);
  cudaStream_t stream;
  RETORT_CUDA_CHECK(cudaStreamCreate(&stream));
  ChannelConfig config;
  config.transport = Transport::nccl;
  config.lookahead = 2;
  config.max_payload_bytes = 8 * 128 * 4 + 64;
  config.timeout_s = 60;
  config.compute_stream = stream;
  const int rows = 8, vocab = 128, k = 16, steps = 8;
  // Device buffers big enough for every section.
  std::byte *values = nullptr, *indices = nullptr, *lse = nullptr;
  RETORT_CUDA_CHECK(cudaMalloc(&values, rows * vocab * 4));
  RETORT_CUDA_CHECK(cudaMalloc(&indices, rows * k * 4));
  RETORT_CUDA_CHECK(cudaMalloc(&lse, rows * 4));
  auto payload_of = [&](int64_t step) {
    const PayloadKind kind = step % 2 ? PayloadKind::topk : PayloadKind::dense;
    const DType dtype = step % 4 < 2 ? DType::f32 : DType::bf16;
    return LogitsPayload{kind, dtype, rows, vocab, kind == PayloadKind::topk ? k : 0, values,
                         reinterpret_cast<const uint32_t*>(indices), reinterpret_cast<const float*>(lse)};
  };
  if (roles.is_teacher()) {
    auto channel = make_teacher_channel(roles, config);
    for (int64_t step = 0; step < steps; ++step)
      for (int s : roles.table().students_of(0)) {
        const auto v = random_bytes(rows * vocab * 4, step * 100 + s), ix = random_bytes(rows * k * 4, step * 100 + s + 1),
                   l = random_bytes(rows * 4, step * 100 + s + 2);
        RETORT_CUDA_CHECK(cudaMemcpyAsync(values, v.data(), v.size(), cudaMemcpyHostToDevice, stream));
        RETORT_CUDA_CHECK(cudaMemcpyAsync(indices, ix.data(), ix.size(), cudaMemcpyHostToDevice, stream));
        RETORT_CUDA_CHECK(cudaMemcpyAsync(lse, l.data(), l.size(), cudaMemcpyHostToDevice, stream));
        channel->send(s, step, payload_of(step));
        RETORT_CUDA_CHECK(cudaStreamSynchronize(stream));  // host vectors die here
      }
    channel->finish();
  } else {
    auto channel = make_student_channel(roles, config);
    const int s = roles.index();
    for (int64_t step = 0; step < steps; ++step) {
      const TeacherView view = channel->recv(step);
      const LogitsPayload p = payload_of(step);
      const size_t n = static_cast<size_t>(rows) * (p.k ? p.k : vocab);
      std::vector<std::byte> got(n * dtype_size(p.dtype));
      RETORT_CUDA_CHECK(cudaMemcpyAsync(got.data(), view.values, got.size(), cudaMemcpyDeviceToHost, stream));
      std::vector<std::byte> got_ix(p.k ? n * 4 : 0), got_l(p.k ? rows * 4 : 0);
      if (p.k) {
        RETORT_CUDA_CHECK(cudaMemcpyAsync(got_ix.data(), view.indices, got_ix.size(), cudaMemcpyDeviceToHost, stream));
        RETORT_CUDA_CHECK(cudaMemcpyAsync(got_l.data(), view.lse, got_l.size(), cudaMemcpyDeviceToHost, stream));
      }
      RETORT_CUDA_CHECK(cudaStreamSynchronize(stream));
      const auto v = random_bytes(rows * vocab * 4, step * 100 + s);
      bool same = view.kind() == p.kind && view.dtype() == p.dtype && std::memcmp(got.data(), v.data(), got.size()) == 0;
      if (p.k) {
        same = same && std::memcmp(got_ix.data(), random_bytes(rows * k * 4, step * 100 + s + 1).data(), got_ix.size()) == 0;
        same = same && std::memcmp(got_l.data(), random_bytes(rows * 4, step * 100 + s + 2).data(), got_l.size()) == 0;
      }
      expect(same, "nccl channel message equals what the teacher sent", world.rank());
    }
    channel->close();
  }
  cudaFree(values);
  cudaFree(indices);
  cudaFree(lse);
  cudaStreamDestroy(stream);
}

}  // namespace

int main(int argc, char** argv) {
  World world(&argc, &argv);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  if (devices < world.local_size()) {
    if (world.rank() == 0)
      std::printf("skipped: %d ranks on this node need %d GPUs, found %d\n", world.local_size(), world.local_size(), devices);
    return 77;
  }
  try {
    check_reducer(world, DType::f32);
    check_reducer(world, DType::bf16);
    if (world.size() >= 2) check_channel(world);
  } catch (const Error& e) {
    std::fprintf(stderr, "rank %d: error: %s\n", world.rank(), e.what());
    world.abort(e.exit_code());
  }
  if (failures) world.abort(1);
  if (world.rank() == 0) std::printf("nccl checks passed on %d ranks\n", world.size());
  return 0;
}
