// Ring reduce-scatter + allgather with MPI_Sendrecv; the chunk arithmetic and the fp32 reduction
// (the average fused into the last step); the bf16 wire's conversions (comm/mpi/bf16_wire.h)
// are fused into the ring's steps.
#include "comm/mpi/ring_allreduce.h"

#include "comm/mpi/bf16_wire.h"

#include <cstdint>
#include <utility>

#include "comm/mpi_check.h"

namespace retort::comm {
namespace {

// Chunk c of a bucket of n elements split over S ranks: the first n % S chunks are one longer.
struct Chunks {
  int n, ranks;
  int count(int c) const { return n / ranks + (c < n % ranks ? 1 : 0); }
  int begin(int c) const { return c * (n / ranks) + (c < n % ranks ? c : n % ranks); }
};

int mod(int a, int m) { return ((a % m) + m) % m; }

// The ring over `data` (elements of `type`): in reduce-scatter step s, rank r sends chunk r − s
// to rank r + 1 and receives chunk r − s − 1 from rank r − 1, which it folds into its own copy
// with reduce(own, incoming, count, last_step); afterwards rank r owns the reduced chunk r + 1.
// The allgather then passes the reduced chunks around the ring into place.
template <typename T, typename Reduce>
void ring(MPI_Comm comm, MPI_Datatype type, T* data, int n, T* scratch, const Reduce& reduce) {
  int rank = 0, ranks = 1;
  RETORT_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  RETORT_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  if (ranks == 1) return;  // the sum and the average of one rank's data are the data
  const Chunks chunks{n, ranks};
  const int right = mod(rank + 1, ranks), left = mod(rank - 1, ranks);
  constexpr int reduce_scatter_tag = 1, allgather_tag = 2;
  for (int step = 0; step < ranks - 1; ++step) {
    const int send = mod(rank - step, ranks), recv = mod(rank - step - 1, ranks);
    RETORT_MPI_CHECK(MPI_Sendrecv(data + chunks.begin(send), chunks.count(send), type, right, reduce_scatter_tag,
                                  scratch, chunks.count(recv), type, left, reduce_scatter_tag, comm, MPI_STATUS_IGNORE));
    reduce(data + chunks.begin(recv), scratch, chunks.count(recv), step == ranks - 2);
  }
  for (int step = 0; step < ranks - 1; ++step) {
    const int send = mod(rank + 1 - step, ranks), recv = mod(rank - step, ranks);
    RETORT_MPI_CHECK(MPI_Sendrecv(data + chunks.begin(send), chunks.count(send), type, right, allgather_tag,
                                  data + chunks.begin(recv), chunks.count(recv), type, left, allgather_tag, comm,
                                  MPI_STATUS_IGNORE));
  }
}

}  // namespace

void ring_average(MPI_Comm comm, float* data, int n, float* scratch) {
  int ranks = 1;
  RETORT_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  const Average average(ranks);
  ring(comm, MPI_FLOAT, data, n, scratch, [&](float* own, const float* in, int count, bool last) {
    if (!last) {
      for (int i = 0; i < count; ++i) own[i] += in[i];
    } else if (average.power_of_two) {
      for (int i = 0; i < count; ++i) own[i] = (own[i] + in[i]) * average.inverse;
    } else {
      for (int i = 0; i < count; ++i) own[i] = (own[i] + in[i]) / average.divisor;
    }
  });
}

void ring_average_bf16(MPI_Comm comm, float* data, int n, bf16* send_buffer, bf16* recv_buffer) {
  int rank = 0, ranks = 1;
  RETORT_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  RETORT_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  const Bf16WireKernels& wire = bf16_wire();
  if (ranks == 1) {  // the average of one rank is its data, rounded to bf16 like every wire value
    wire.round(data, &send_buffer->bits, n);
    wire.widen(&send_buffer->bits, data, n, Average(1));
    return;
  }
  const Chunks chunks{n, ranks};
  const Average average(ranks);
  const int right = mod(rank + 1, ranks), left = mod(rank - 1, ranks);
  constexpr int reduce_scatter_tag = 1, allgather_tag = 2;
  // Plain 16-bit views of the wire buffers, as the conversion loops take them.
  uint16_t* send = &send_buffer->bits;
  uint16_t* recv = &recv_buffer->bits;

  // Reduce-scatter: the first chunk is rounded to bf16 as it is staged for sending; every
  // reduction rounds its own fp32 values, adds the incoming bf16 partial sum in fp32 and writes
  // the rounded sum over it, to be sent in the next step. The last one also widens and divides
  // the finished chunk into data.
  wire.round(data + chunks.begin(rank), send, chunks.count(rank));
  for (int step = 0; step < ranks - 1; ++step) {
    const int sent = mod(rank - step, ranks), received = mod(rank - step - 1, ranks);
    const int count = chunks.count(received);
    RETORT_MPI_CHECK(MPI_Sendrecv(send, chunks.count(sent), MPI_UINT16_T, right, reduce_scatter_tag, recv, count,
                                  MPI_UINT16_T, left, reduce_scatter_tag, comm, MPI_STATUS_IGNORE));
    wire.fold(data + chunks.begin(received), recv, count, step == ranks - 2 ? &average : nullptr);
    // The sum stays where it arrived (those lines are in this core's cache; the send buffer's
    // were just read by the neighbour) and is what goes out next: the buffers swap roles.
    std::swap(send, recv);
  }
  // Allgather: each received bf16 sum is widened and divided into data, and is what this rank
  // forwards in the next step (the two buffers swap roles).
  for (int step = 0; step < ranks - 1; ++step) {
    const int sent = mod(rank + 1 - step, ranks), received = mod(rank - step, ranks);
    const int count = chunks.count(received);
    RETORT_MPI_CHECK(MPI_Sendrecv(send, chunks.count(sent), MPI_UINT16_T, right, allgather_tag, recv, count,
                                  MPI_UINT16_T, left, allgather_tag, comm, MPI_STATUS_IGNORE));
    wire.widen(recv, data + chunks.begin(received), count, average);
    std::swap(send, recv);
  }
}

}  // namespace retort::comm
