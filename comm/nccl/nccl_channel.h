// The NCCL backend of the logits channel (CUDA builds only); callers use make_*_channel.
// Headers and credits travel over MPI (pair communicators), payloads over NCCL between GPUs.
// Creating either side is collective over the whole world (one NCCL communicator of all ranks),
// so every teacher and student creates its channel at the same point of startup.
#pragma once
#ifdef RETORT_HAVE_CUDA
#include <memory>

#include "comm/channel.h"

namespace retort::comm {

std::unique_ptr<TeacherChannel> make_nccl_teacher_channel(const Roles& roles, const ChannelConfig& config);
std::unique_ptr<StudentChannel> make_nccl_student_channel(const Roles& roles, const ChannelConfig& config);

}  // namespace retort::comm
#endif
