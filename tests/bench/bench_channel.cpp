// retort_bench channel: logits messages per second and GB/s through the MPI channel (rank 0 a
// teacher, every other rank a student) for dense and top-k payloads in fp32 and bf16, next to
// a raw MPI_Isend/MPI_Recv stream of the same bytes. Run under mpirun -np N (N >= 2).
// Args: [rows vocab k] (default 64 32000 64).
#include <mpi.h>

#include <chrono>
#include <string>
#include <vector>

#include "comm/backends.h"
#include "comm/world.h"
#include "core/base/error.h"
#include "tests/bench/bench.h"

namespace retort::bench {
namespace {

// Seconds (slowest student) to stream `steps` messages of `payload` to every student.
double channel_seconds(const comm::Roles& roles, const comm::LogitsPayload& payload, int steps, size_t max_bytes) {
  comm::ChannelConfig config;
  config.lookahead = 4;
  config.max_payload_bytes = max_bytes;
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = std::chrono::steady_clock::now();
  if (roles.is_teacher()) {
    auto channel = comm::make_teacher_channel(roles, config);
    for (int step = 0; step < steps; ++step)
      for (int s : roles.table().students_of(roles.index()))
        if (roles.table().teacher_for(s, step) == roles.index()) channel->send(s, step, payload);
    channel->finish();
  } else {
    auto channel = comm::make_student_channel(roles, config);
    for (int step = 0; step < steps; ++step) channel->recv(step);
    channel->close();
  }
  double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), slowest = 0;
  MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

// The same stream as raw MPI: rank 0 MPI_Isends `steps` buffers of `bytes` to every other rank.
double raw_seconds(size_t bytes, int steps) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  std::vector<std::byte> buffer(bytes);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = std::chrono::steady_clock::now();
  if (rank == 0) {
    std::vector<MPI_Request> requests;
    for (int step = 0; step < steps; ++step)
      for (int peer = 1; peer < ranks; ++peer) {
        requests.emplace_back();
        MPI_Isend(buffer.data(), static_cast<int>(bytes), MPI_BYTE, peer, 0, MPI_COMM_WORLD, &requests.back());
      }
    MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
  } else {
    for (int step = 0; step < steps; ++step)
      MPI_Recv(buffer.data(), static_cast<int>(bytes), MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), slowest = 0;
  MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

int run(const Args& args) {
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  if (ranks < 2) RETORT_INPUT_ERROR("retort_bench channel needs mpirun -np 2 or more");
  int64_t rows = 64, vocab = 32000, k = 64;
  if (args.rest.size() == 3) {
    rows = std::stoll(args.rest[0]);
    vocab = std::stoll(args.rest[1]);
    k = std::stoll(args.rest[2]);
  }
  if (args.quick) vocab = 1000;
  const int steps = args.quick ? 5 : 50;
  comm::RolesConfig rc;
  rc.teachers = 1;
  rc.students = ranks - 1;
  comm::World world(nullptr, nullptr);
  comm::Roles roles(world, rc);
  std::vector<float> values(static_cast<size_t>(rows * vocab), 0.25f), lse(static_cast<size_t>(rows), 3.0f);
  std::vector<uint32_t> indices(static_cast<size_t>(rows * k), 7u);
  const size_t max_bytes = comm::payload_layout(comm::PayloadKind::dense, DType::f32, rows, vocab, 0).bytes;
  for (comm::PayloadKind kind : {comm::PayloadKind::dense, comm::PayloadKind::topk})
    for (DType dtype : {DType::f32, DType::bf16}) {
      const comm::LogitsPayload payload{kind, dtype, rows, vocab, kind == comm::PayloadKind::topk ? k : 0,
                                        values.data(), indices.data(), lse.data()};
      const size_t message = comm::encoded_size(payload);
      std::vector<double> seconds, raw;
      for (int r = 0; r < std::max(3, args.repeats / 4); ++r) {
        seconds.push_back(channel_seconds(roles, payload, steps, max_bytes));
        raw.push_back(raw_seconds(message, steps));
      }
      const double s = median(seconds), rs = median(raw);
      const double total = static_cast<double>(message) * steps * (ranks - 1);
      emit({{"bench", "channel"}, {"kind", comm::payload_kind_name(kind)}, {"dtype", dtype_name(dtype)},
            {"rows", rows}, {"vocab", vocab}, {"k", kind == comm::PayloadKind::topk ? k : 0},
            {"message_bytes", message}, {"students", ranks - 1}, {"messages", steps * (ranks - 1)},
            {"median_s", s}, {"messages_per_s", steps * (ranks - 1) / s}, {"gbps", total / s / 1e9},
            {"raw_mpi_gbps", total / rs / 1e9}});
    }
  return 0;
}

}  // namespace

RETORT_BENCH("channel", "logits channel messages/s and GB/s, dense vs top-k (run under mpirun -np >= 2)", run);

}  // namespace retort::bench
