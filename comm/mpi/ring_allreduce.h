// A ring all-reduce over MPI point-to-point for one bucket (the MPI reducer's algorithm):
// reduce-scatter then allgather, S − 1 exchanges each (MPI_Irecv + MPI_Isend with the ring
// neighbours), chunk i of the bucket summed in the fixed order rank i, i+1, … (deterministic,
// identical on every rank). The division by S is fused into the last reduction step, and the bf16
// wire's conversions into the reduce and copy steps, so neither costs an extra pass over the bucket.
// It runs one exchange at a time, so a run stopped by a deadline can be resumed later, on another thread.
#pragma once
#include <mpi.h>

#include "comm/mpi/request_wait.h"
#include "core/base/dtype.h"

namespace retort::comm {

// data[0, n) becomes the average over the ranks of `comm` of everyone's data[0, n).
// fp32 wire: the fp32 sum in ring order, then one division by S (a multiplication by 1/S when S
// is a power of two, which rounds identically); `scratch` holds at least ceil(n / S) floats.
// bf16 wire: every rank's values are rounded to bf16, each addition is done in fp32 and rounded to
// bf16, and the bf16 sum is widened and divided by S into data, chunk by chunk inside the ring (the
// first send, each reduction, each allgather receive); `send` and `recv` each hold at least
// ceil(n / S) values. MPI may write data and the buffers until the run is finished.
class RingAverage {
 public:
  RingAverage(MPI_Comm comm, float* data, int n, DType wire, float* scratch, bf16* send, bf16* recv);

  // Runs the exchanges left. Without a deadline it blocks in MPI (MPI_Waitall) and returns true.
  // With one it polls (request_wait.h's back-off) and returns false if the deadline passes with an
  // exchange in flight; a later run() (any thread, one at a time) goes on from there. MPI errors throw.
  bool run(const Clock::time_point* deadline);

 private:
  struct Exchange {
    const void* send;
    int send_count;
    void* recv;
    int recv_count;
    int tag;
  };
  struct StepChunks {
    bool reduce_scatter;
    int sent, received;  // chunk indices
  };
  StepChunks step_chunks(int step) const;
  Exchange exchange(int step) const;
  void post(int step);
  void finish(int step);  // after exchange `step` arrived: reduce, fold or widen what it brought

  MPI_Comm comm_;
  float* data_;
  int n_;
  DType wire_;
  int rank_ = 0, ranks_ = 1;
  float* scratch_;
  uint16_t* send_;  // bf16 wire: the chunk going out next and the one coming in (they swap roles)
  uint16_t* recv_;
  int steps_;       // 2 (S − 1) exchanges
  int next_ = 0;    // the exchange to post or to wait for
  bool posted_ = false;
  MPI_Request requests_[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
};

}  // namespace retort::comm
