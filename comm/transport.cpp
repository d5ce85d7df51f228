// Transport names and availability.
#include "comm/transport.h"

#include <string>

#include "core/base/error.h"

namespace retort::comm {

const char* transport_name(Transport t) { return t == Transport::mpi ? "mpi" : "nccl"; }

Transport parse_transport(std::string_view name) {
  if (name == "mpi") return Transport::mpi;
  if (name == "nccl") return Transport::nccl;
  RETORT_INPUT_ERROR("unknown transport '" + std::string(name) + "' (expected mpi or nccl)");
}

bool transport_available(Transport t) {
#ifdef RETORT_HAVE_CUDA
  (void)t;
  return true;
#else
  return t == Transport::mpi;
#endif
}

}  // namespace retort::comm
