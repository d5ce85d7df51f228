// Which backend moves bytes between ranks: MPI over host buffers or NCCL over device buffers.
// Chosen once when the job starts (config `transport: mpi|nccl`).
#pragma once
#include <string_view>

namespace retort::comm {

enum class Transport { mpi, nccl };
const char* transport_name(Transport t);      // "mpi" | "nccl"
Transport parse_transport(std::string_view);  // inverse; throws an input error
// True when this build can run `t` (nccl needs a CUDA build).
bool transport_available(Transport t);

}  // namespace retort::comm
