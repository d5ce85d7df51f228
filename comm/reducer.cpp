// The reducer factory: the backend is chosen once, from the job's transport.
#include "comm/reducer.h"

#include <fmt/format.h>

#include "core/base/error.h"
#ifdef RETORT_HAVE_CUDA
#include "comm/nccl/nccl_reducer.h"
#endif

namespace retort::comm {

std::unique_ptr<GradReducer> make_reducer(const Roles& roles, Transport transport, float* grads, size_t count,
                                          const ReducerConfig& config) {
  if (!roles.is_student()) RETORT_RUNTIME_ERROR(fmt::format("rank {} is not a student: no gradient reducer", roles.rank()));
  if (!transport_available(transport))
    RETORT_INPUT_ERROR(fmt::format("transport '{}' is not available in this build", transport_name(transport)));
#ifdef RETORT_HAVE_CUDA
  if (transport == Transport::nccl) return make_nccl_reducer(roles.students(), grads, count, config);
#endif
  return make_mpi_reducer(roles.students(), grads, count, config);
}

}  // namespace retort::comm
