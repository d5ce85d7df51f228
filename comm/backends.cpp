// The backend factories: each picks the transport's part and hands it to the protocol written once.
#include "comm/backends.h"

#include <fmt/format.h>

#include "comm/bucket_reducer.h"
#include "comm/channel_protocol.h"
#include "comm/mpi/mpi_slots.h"
#include "comm/mpi/reduce_thread.h"
#include "core/base/error.h"
#ifdef RETORT_HAVE_CUDA
#include "comm/nccl/nccl_reducer.h"
#include "comm/nccl/nccl_slots.h"
#endif

namespace retort::comm {
namespace {

void require_available(Transport t) {
  if (!transport_available(t))
    RETORT_INPUT_ERROR(fmt::format("transport '{}' is not available in this build", transport_name(t)));
}

}  // namespace

std::unique_ptr<TeacherChannel> make_teacher_channel(const Roles& roles, const ChannelConfig& config) {
  require_available(config.transport);
  validate_channel_config(config);
#ifdef RETORT_HAVE_CUDA
  if (config.transport == Transport::nccl)
    return make_protocol_teacher_channel(roles, config, make_nccl_send_slots(roles, config), " (nccl)");
#endif
  return make_protocol_teacher_channel(roles, config, make_mpi_send_slots(), "");
}

std::unique_ptr<StudentChannel> make_student_channel(const Roles& roles, const ChannelConfig& config) {
  require_available(config.transport);
  validate_channel_config(config);
#ifdef RETORT_HAVE_CUDA
  if (config.transport == Transport::nccl)
    return make_protocol_student_channel(roles, config, make_nccl_recv_slots(roles, config), " (nccl)");
#endif
  return make_protocol_student_channel(roles, config, make_mpi_recv_slots(config), "");
}

std::unique_ptr<GradReducer> make_reducer(Group ranks, Transport transport, float* grads, size_t count,
                                          const ReducerConfig& config) {
  require_available(transport);
  validate_reducer_config(config);
  BucketPlan plan(count, config.bucket_bytes);
  std::unique_ptr<BucketReduction> reduction;
#ifdef RETORT_HAVE_CUDA
  if (transport == Transport::nccl) reduction = make_nccl_reduction(ranks.mpi(), grads, plan.ranges(), config);
#endif
  if (!reduction) reduction = std::make_unique<ReduceThread>(ranks.mpi(), grads, plan.ranges(), config.wire);
  return make_bucket_reducer(std::move(plan), config, std::move(reduction));
}

std::unique_ptr<GradReducer> make_reducer(const Roles& roles, Transport transport, float* grads, size_t count,
                                          const ReducerConfig& config) {
  if (!roles.is_student()) RETORT_RUNTIME_ERROR(fmt::format("rank {} is not a student: no gradient reducer", roles.rank()));
  return make_reducer(roles.students(), transport, grads, count, config);
}

}  // namespace retort::comm
