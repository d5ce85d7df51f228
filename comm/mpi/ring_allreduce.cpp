// Ring reduce-scatter + allgather with MPI_Sendrecv; the chunk arithmetic and the reduction
// kernels (fp32 sum with the average fused into the last step, bf16 sum).
#include "comm/mpi/ring_allreduce.h"

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
  const bool power_of_two = (ranks & (ranks - 1)) == 0;
  const float inverse = 1.0f / static_cast<float>(ranks), divisor = static_cast<float>(ranks);
  ring(comm, MPI_FLOAT, data, n, scratch, [&](float* own, const float* in, int count, bool last) {
    if (!last) {
      for (int i = 0; i < count; ++i) own[i] += in[i];
    } else if (power_of_two) {  // x * 2^-k and x / 2^k round the same exact value
      for (int i = 0; i < count; ++i) own[i] = (own[i] + in[i]) * inverse;
    } else {
      for (int i = 0; i < count; ++i) own[i] = (own[i] + in[i]) / divisor;
    }
  });
}

void ring_sum_bf16(MPI_Comm comm, bf16* data, int n, bf16* scratch) {
  ring(comm, MPI_UINT16_T, data, n, scratch, [](bf16* own, const bf16* in, int count, bool) {
    for (int i = 0; i < count; ++i) own[i] = float_to_bf16(bf16_to_float(own[i]) + bf16_to_float(in[i]));
  });
}

}  // namespace retort::comm
