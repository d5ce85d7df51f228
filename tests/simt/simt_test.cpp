// Tests of the SIMT emulator itself: barriers, shuffles, votes, shared memory, launch geometry,
// deadlock detection and error propagation (what kernel tests rely on).
#include <catch2/catch.hpp>

#include <numeric>
#include <vector>

#include "core/base/error.h"
#include "kernels/cuda/device_utils.cuh"
#include "tests/simt/simt.h"

namespace gpu = retort::kernels::gpu;

namespace {

__global__ void rotate_through_shared(const int* in, int* out) {
  __shared__ int tile[1024];
  const unsigned t = threadIdx.x, n = blockDim.x;
  tile[t] = in[t];
  __syncthreads();
  out[t] = tile[(t + 1) % n];
}

__global__ void block_sum_everywhere(const float* in, float* out) {
  __shared__ float scratch[32];
  const float s = gpu::block_allreduce(in[threadIdx.x], gpu::SumOp{}, 0.0f, scratch);
  out[threadIdx.x] = s;
}

__global__ void warp_scan_and_moves(int* scan, int* down, int* bcast) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  int v = lane + 1;
  for (int d = 1; d < 32; d <<= 1) {
    const int up = __shfl_up_sync(0xffffffffu, v, d);
    if (lane >= d) v += up;
  }
  scan[threadIdx.x] = v;
  down[threadIdx.x] = __shfl_down_sync(0xffffffffu, static_cast<int>(threadIdx.x), 3);
  bcast[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x) * 10, 5);
}

__global__ void votes(unsigned* ballot, int* any, int* all) {
  const int pred = threadIdx.x % 3 == 0;
  ballot[threadIdx.x] = __ballot_sync(0xffffffffu, pred);
  any[threadIdx.x] = __any_sync(0xffffffffu, pred);
  all[threadIdx.x] = __all_sync(0xffffffffu, threadIdx.x < 1000);
}

__global__ void geometry(int64_t n_per_block, int* out) {
  RETORT_DYNAMIC_SMEM(int, dyn);
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned block = blockIdx.x + gridDim.x * blockIdx.y;
  dyn[t] = static_cast<int>(block * 1000 + t);
  __syncthreads();
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  out[block * n_per_block + t] = dyn[threads - 1 - t];
}

__global__ void mismatched_barriers() {
  if (threadIdx.x == 0) {
    __syncwarp();
  } else {
    __syncthreads();
  }
}

__global__ void throws_in_thread_7() {
  if (threadIdx.x == 7) RETORT_RUNTIME_ERROR("thread 7 failed");
  __syncthreads();
}

}  // namespace

TEST_CASE("simt: __syncthreads orders shared-memory writes before reads (1024 threads)", "[simt]") {
  std::vector<int> in(1024), out(1024, -1);
  std::iota(in.begin(), in.end(), 100);
  gpu::launch(rotate_through_shared, dim3(1), dim3(1024), 0, nullptr, in.data(), out.data());
  for (int t = 0; t < 1024; ++t) REQUIRE(out[t] == in[(t + 1) % 1024]);
}

TEST_CASE("simt: block_allreduce gives every thread the block sum", "[simt]") {
  for (unsigned threads : {32u, 96u, 1024u}) {
    std::vector<float> in(threads), out(threads, -1.0f);
    for (unsigned i = 0; i < threads; ++i) in[i] = static_cast<float>(i % 7);  // exact in fp32
    const float expected = std::accumulate(in.begin(), in.end(), 0.0f);
    gpu::launch(block_sum_everywhere, dim3(1), dim3(threads), 0, nullptr, in.data(), out.data());
    for (unsigned i = 0; i < threads; ++i) REQUIRE(out[i] == expected);
  }
}

TEST_CASE("simt: shuffles scan, shift and broadcast within each warp; partial warps", "[simt]") {
  const unsigned threads = 40;  // one full warp and a partial warp of 8 lanes
  std::vector<int> scan(threads), down(threads), bcast(threads);
  gpu::launch(warp_scan_and_moves, dim3(1), dim3(threads), 0, nullptr, scan.data(), down.data(), bcast.data());
  for (unsigned t = 0; t < threads; ++t) {
    const int lane = static_cast<int>(t % 32), warp_base = static_cast<int>(t / 32 * 32);
    const int lanes_in_warp = t < 32 ? 32 : 8;
    CHECK(scan[t] == (lane + 1) * (lane + 2) / 2);
    // Source lane beyond the warp (or not present in a partial warp): own value.
    CHECK(down[t] == (lane + 3 < lanes_in_warp ? static_cast<int>(t) + 3 : static_cast<int>(t)));
    CHECK(bcast[t] == (warp_base + 5) * 10);
  }
}

TEST_CASE("simt: ballot, any and all", "[simt]") {
  std::vector<unsigned> ballot(64);
  std::vector<int> any(64), all(64);
  gpu::launch(votes, dim3(1), dim3(64), 0, nullptr, ballot.data(), any.data(), all.data());
  for (unsigned t = 0; t < 64; ++t) {
    unsigned warp_expected = 0;
    for (unsigned lane = 0; lane < 32; ++lane)
      if ((t / 32 * 32 + lane) % 3 == 0) warp_expected |= 1u << lane;
    CHECK(ballot[t] == warp_expected);
    CHECK(any[t] == 1);
    CHECK(all[t] == 1);
  }
}

TEST_CASE("simt: grid/block geometry, 3-D blocks and dynamic shared memory", "[simt]") {
  const dim3 grid(3, 2), block(4, 3, 2);
  const int64_t per_block = 24;
  std::vector<int> out(6 * per_block, -1);
  gpu::launch(geometry, grid, block, per_block * sizeof(int), nullptr, 24, out.data());  // int -> int64_t
  for (int b = 0; b < 6; ++b)
    for (int t = 0; t < 24; ++t) REQUIRE(out[b * per_block + t] == b * 1000 + (23 - t));
}

TEST_CASE("simt: threads waiting at different barriers are reported as a deadlock", "[simt]") {
  REQUIRE_THROWS_WITH(gpu::launch(mismatched_barriers, dim3(1), dim3(64), 0, nullptr),
                      Catch::Contains("deadlock"));
  // The emulator is usable again afterwards.
  std::vector<int> in(32, 1), out(32, 0);
  gpu::launch(rotate_through_shared, dim3(1), dim3(32), 0, nullptr, in.data(), out.data());
  REQUIRE(out[0] == 1);
}

TEST_CASE("simt: an exception in one thread reaches the caller; bad geometry is refused", "[simt]") {
  REQUIRE_THROWS_WITH(gpu::launch(throws_in_thread_7, dim3(2), dim3(32), 0, nullptr),
                      Catch::Contains("thread 7 failed"));
  REQUIRE_THROWS_WITH(gpu::launch(mismatched_barriers, dim3(1), dim3(1025), 0, nullptr),
                      Catch::Contains("1025"));
}
