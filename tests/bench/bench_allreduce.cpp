// retort_bench allreduce: the bucketed gradient reducer (mark everything ready, wait) against a
// raw MPI_Allreduce of the same bytes, timed alternately in the same run. Run under mpirun.
// Args: [--bucket-mb M] (default: one bucket per size) [bytes...] (default 1 KB .. 64 MB).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "comm/backends.h"
#include "comm/mpi/bf16_wire.h"
#include "tests/bench/bench.h"

namespace retort::bench {
namespace {

// Seconds of the slowest rank for one call of fn (after a barrier).
double slowest_seconds(const std::function<void()>& fn) {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), slowest = 0;
  MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

// Medians of `a` and `b` timed alternately (so both see the same machine noise), after
// kWarmups calls of each (as nccl-tests' default -w 5: first-touch of the buffers, the shared-
// memory transport's first use; one warm-up left the first 1 MB record of a fresh job 20 % low).
constexpr int kWarmups = 5;
std::pair<double, double> paired_medians(int repeats, const std::function<void()>& a, const std::function<void()>& b) {
  for (int i = 0; i < kWarmups; ++i) {
    a();
    b();
  }
  std::vector<double> ta, tb;
  for (int i = 0; i < repeats; ++i) {
    ta.push_back(slowest_seconds(a));
    tb.push_back(slowest_seconds(b));
  }
  return {median(ta), median(tb)};
}

int run(const Args& args) {
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  size_t bucket_bytes = 0;
  std::vector<size_t> sizes;
  for (size_t i = 0; i < args.rest.size(); ++i) {
    if (args.rest[i] == "--bucket-mb" && i + 1 < args.rest.size()) bucket_bytes = std::stoull(args.rest[++i]) << 20;
    else sizes.push_back(std::stoull(args.rest[i]));
  }
  if (sizes.empty())
    sizes = args.quick ? std::vector<size_t>{1 << 10, 1 << 20}
                       : std::vector<size_t>{1 << 10, 64 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20};
  for (size_t bytes : sizes) {
    const size_t count = std::max<size_t>(1, bytes / 4);
    std::vector<float> grads(count, 1.0f), raw(count, 1.0f);
    const int repeats = std::max(3, bytes >= (16u << 20) ? args.repeats / 2 : args.repeats);
    const auto raw_allreduce = [&] {
      MPI_Allreduce(MPI_IN_PLACE, raw.data(), static_cast<int>(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    };
    for (DType wire : {DType::f32, DType::bf16}) {
      comm::ReducerConfig config;
      config.bucket_bytes = bucket_bytes ? bucket_bytes : count * 4;
      config.wire = wire;
      auto reducer = comm::make_reducer(MPI_COMM_WORLD, comm::Transport::mpi, grads.data(), count, config);
      const auto [s, raw_s] = paired_medians(
          repeats,
          [&] {
            reducer->mark_ready(0, count);
            reducer->wait();
          },
          raw_allreduce);
      const double bus = 2.0 * (ranks - 1) / ranks * static_cast<double>(count * 4);
      emit({{"bench", "allreduce"}, {"bytes", count * 4}, {"ranks", ranks}, {"wire", dtype_name(wire)},
            {"bucket_bytes", config.bucket_bytes}, {"buckets", reducer->bucket_count()}, {"median_s", s},
            {"busbw_gbps", bus / s / 1e9}, {"raw_median_s", raw_s}, {"raw_busbw_gbps", bus / raw_s / 1e9},
            {"reducer_over_raw", raw_s / s},
            {"bf16_kernels", wire == DType::bf16 ? comm::bf16_wire().name : "none"}});
    }
  }
  return 0;
}

}  // namespace

RETORT_BENCH("allreduce", "bucketed gradient reducer vs raw MPI_Allreduce (run under mpirun -np >= 2)", run);

}  // namespace retort::bench
