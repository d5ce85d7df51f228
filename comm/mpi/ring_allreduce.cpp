// The ring's exchanges (reduce-scatter then allgather) and what follows each: the fp32 reduction
// (the average fused into the last step), or the bf16 wire's conversions (comm/mpi/bf16_wire.h);
// blocking or deadline-bounded completion of each exchange.
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

constexpr int kReduceScatterTag = 1, kAllgatherTag = 2;

}  // namespace

RingAverage::RingAverage(MPI_Comm comm, float* data, int n, DType wire, float* scratch, bf16* send, bf16* recv)
    : comm_(comm), data_(data), n_(n), wire_(wire), scratch_(scratch),
      send_(send ? &send->bits : nullptr), recv_(recv ? &recv->bits : nullptr) {
  RETORT_MPI_CHECK(MPI_Comm_rank(comm, &rank_));
  RETORT_MPI_CHECK(MPI_Comm_size(comm, &ranks_));
  steps_ = 2 * (ranks_ - 1);
  if (ranks_ == 1 && wire_ == DType::bf16) {  // one rank's average is its data, rounded like every wire value
    bf16_wire().round(data_, send_, n_);
    bf16_wire().widen(send_, data_, n_, Average(1));
  }
}

// Exchange `step`: in reduce-scatter step s (< S − 1), rank r sends chunk r − s to rank r + 1 and
// receives chunk r − s − 1 from rank r − 1, which it folds into its own copy; afterwards rank r
// owns the reduced chunk r + 1. Allgather step s then passes chunk r + 1 − s on and receives chunk
// r − s.
RingAverage::StepChunks RingAverage::step_chunks(int step) const {
  const bool reduce_scatter = step < ranks_ - 1;
  const int s = reduce_scatter ? step : step - (ranks_ - 1);
  if (reduce_scatter) return {true, mod(rank_ - s, ranks_), mod(rank_ - s - 1, ranks_)};
  return {false, mod(rank_ + 1 - s, ranks_), mod(rank_ - s, ranks_)};
}

// fp32 sends from data and receives into scratch (reduce-scatter) or data (allgather); the bf16
// wire sends and receives its two staging buffers.
RingAverage::Exchange RingAverage::exchange(int step) const {
  const Chunks chunks{n_, ranks_};
  const StepChunks c = step_chunks(step);
  const int tag = c.reduce_scatter ? kReduceScatterTag : kAllgatherTag;
  if (wire_ == DType::bf16) return {send_, chunks.count(c.sent), recv_, chunks.count(c.received), tag};
  return {data_ + chunks.begin(c.sent), chunks.count(c.sent),
          c.reduce_scatter ? scratch_ : data_ + chunks.begin(c.received), chunks.count(c.received), tag};
}

void RingAverage::post(int step) {
  // The bf16 wire's first chunk is rounded to bf16 as it is staged for sending.
  if (step == 0 && wire_ == DType::bf16) {
    const Chunks chunks{n_, ranks_};
    bf16_wire().round(data_ + chunks.begin(rank_), send_, chunks.count(rank_));
  }
  const Exchange e = exchange(step);
  const MPI_Datatype type = wire_ == DType::bf16 ? MPI_UINT16_T : MPI_FLOAT;
  const int right = mod(rank_ + 1, ranks_), left = mod(rank_ - 1, ranks_);
  RETORT_MPI_CHECK(MPI_Irecv(e.recv, e.recv_count, type, left, e.tag, comm_, &requests_[0]));
  RETORT_MPI_CHECK(MPI_Isend(e.send, e.send_count, type, right, e.tag, comm_, &requests_[1]));
}

void RingAverage::finish(int step) {
  const Chunks chunks{n_, ranks_};
  const StepChunks c = step_chunks(step);
  const bool reduce_scatter = c.reduce_scatter;
  const Average average(ranks_);
  float* own = data_ + chunks.begin(c.received);
  const int count = chunks.count(c.received);
  const bool last_reduction = step == ranks_ - 2;
  if (wire_ == DType::bf16) {
    // A reduction rounds this rank's fp32 values, adds the incoming bf16 partial sum in fp32 and
    // writes the rounded sum over it (the last one also widens and divides it into data); an
    // allgather receive is widened and divided into data. Either way what arrived is what goes
    // out next, and it stays where it arrived (in this core's cache): the buffers swap roles.
    if (reduce_scatter) bf16_wire().fold(own, recv_, count, last_reduction ? &average : nullptr);
    else bf16_wire().widen(recv_, own, count, average);
    std::swap(send_, recv_);
    return;
  }
  if (!reduce_scatter) return;  // the allgather received into place
  if (!last_reduction) {
    for (int i = 0; i < count; ++i) own[i] += scratch_[i];
  } else if (average.power_of_two) {
    for (int i = 0; i < count; ++i) own[i] = (own[i] + scratch_[i]) * average.inverse;
  } else {
    for (int i = 0; i < count; ++i) own[i] = (own[i] + scratch_[i]) / average.divisor;
  }
}

bool RingAverage::run(const Clock::time_point* deadline) {
  for (; next_ < steps_; ++next_) {
    if (!posted_) {
      post(next_);
      posted_ = true;
    }
    if (deadline) {
      if (!poll_until([&] {
            int done = 0;
            RETORT_MPI_CHECK(MPI_Testall(2, requests_, &done, MPI_STATUSES_IGNORE));
            return done != 0;
          }, *deadline))
        return false;
    } else {
      RETORT_MPI_CHECK(MPI_Waitall(2, requests_, MPI_STATUSES_IGNORE));
    }
    posted_ = false;
    finish(next_);
  }
  return true;
}

}  // namespace retort::comm
