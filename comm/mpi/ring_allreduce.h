// A ring all-reduce over MPI point-to-point for one bucket (the MPI reducer's algorithm):
// reduce-scatter then allgather, S − 1 MPI_Sendrecv steps each, chunk i of the bucket summed in
// the fixed order rank i, i+1, … (deterministic, identical on every rank). The division by S is
// fused into the last reduction step, and the bf16 wire's conversions into the reduce and copy
// steps, so neither costs an extra pass over the bucket.
#pragma once
#include <mpi.h>

#include "core/base/dtype.h"

namespace retort::comm {

// data[0, n) becomes the average over the ranks of `comm` of everyone's data[0, n): the fp32
// sum in ring order, then one division by S (a multiplication by 1/S when S is a power of two,
// which rounds identically). `scratch` holds at least ceil(n / S) floats. MPI errors throw.
void ring_average(MPI_Comm comm, float* data, int n, float* scratch);

// The same average with bf16 on the wire: every rank's values are rounded to bf16, each addition
// is done in fp32 and rounded to bf16, and the bf16 sum is widened and divided by S into data.
// Conversions happen chunk by chunk inside the ring (the first send, each reduction, each
// allgather receive). `send` and `recv` each hold at least ceil(n / S) values. MPI errors throw.
void ring_average_bf16(MPI_Comm comm, float* data, int n, bf16* send, bf16* recv);

}  // namespace retort::comm
