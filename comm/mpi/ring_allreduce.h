// A ring all-reduce over MPI point-to-point for one bucket (the MPI reducer's algorithm):
// reduce-scatter then allgather, S − 1 MPI_Sendrecv steps each, chunk i of the bucket summed in
// the fixed order rank i, i+1, … (deterministic, identical on every rank). The fp32 version
// divides by S inside its last reduction step, so the average costs no extra pass.
#pragma once
#include <mpi.h>

#include "core/base/dtype.h"

namespace retort::comm {

// data[0, n) becomes the average over the ranks of `comm` of everyone's data[0, n): the fp32
// sum in ring order, then one division by S (a multiplication by 1/S when S is a power of two,
// which rounds identically). `scratch` holds at least ceil(n / S) floats. MPI errors throw.
void ring_average(MPI_Comm comm, float* data, int n, float* scratch);

// data[0, n) becomes the sum over the ranks of `comm`, each addition done in fp32 and rounded to
// bf16. `scratch` holds at least ceil(n / S) values. MPI errors throw.
void ring_sum_bf16(MPI_Comm comm, bf16* data, int n, bf16* scratch);

}  // namespace retort::comm
