// The channel factories: the backend is chosen once, from config.transport.
#include "comm/channel.h"

#include <fmt/format.h>

#include "comm/mpi/mpi_channel.h"
#include "core/base/error.h"
#ifdef RETORT_HAVE_CUDA
#include "comm/nccl/nccl_channel.h"
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
#ifdef RETORT_HAVE_CUDA
  if (config.transport == Transport::nccl) return make_nccl_teacher_channel(roles, config);
#endif
  return make_mpi_teacher_channel(roles, config);
}

std::unique_ptr<StudentChannel> make_student_channel(const Roles& roles, const ChannelConfig& config) {
  require_available(config.transport);
#ifdef RETORT_HAVE_CUDA
  if (config.transport == Transport::nccl) return make_nccl_student_channel(roles, config);
#endif
  return make_mpi_student_channel(roles, config);
}

}  // namespace retort::comm
