// The MPI backend of the logits channel (host buffers over the teacher<->student pair
// communicators). Internal: callers use make_teacher_channel / make_student_channel.
#pragma once
#include <memory>

#include "comm/channel.h"

namespace retort::comm {

// Message tags on a pair communicator (rank 0 = teacher, rank 1 = student).
inline constexpr int kTagData = 1;  // teacher -> student: one encoded message
inline constexpr int kTagAck = 2;   // student -> teacher: int64 count of messages consumed so far

std::unique_ptr<TeacherChannel> make_mpi_teacher_channel(const Roles& roles, const ChannelConfig& config);
std::unique_ptr<StudentChannel> make_mpi_student_channel(const Roles& roles, const ChannelConfig& config);

// Throws an input error on an invalid config (lookahead < 1, max_payload_bytes 0, timeout <= 0).
void validate_channel_config(const ChannelConfig& config);

}  // namespace retort::comm
