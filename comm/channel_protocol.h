// The logits channel's protocol, written once for every transport: per-link credits (at most
// `lookahead` unconsumed messages, acknowledged over MPI as a consumed count), step order,
// end-of-stream and the drain at close, a deadline on every wait, and the messages naming rank,
// peer and step. A SendSlots / RecvSlots (comm/slot_transport.h) moves the messages. Internal to
// comm/: callers use make_teacher_channel / make_student_channel (comm/backends.h).
#pragma once
#include <memory>

#include "comm/channel.h"
#include "comm/slot_transport.h"

namespace retort::comm {

// Throws an input error on an invalid config (lookahead < 1, max_payload_bytes 0 or past MPI's
// 2 GiB message limit, timeout <= 0).
void validate_channel_config(const ChannelConfig& config);

// `name` is the transport as error messages name it ("" for MPI, " (nccl)").
std::unique_ptr<TeacherChannel> make_protocol_teacher_channel(const Roles& roles, const ChannelConfig& config,
                                                              std::unique_ptr<SendSlots> slots, const char* name);
std::unique_ptr<StudentChannel> make_protocol_student_channel(const Roles& roles, const ChannelConfig& config,
                                                              std::unique_ptr<RecvSlots> slots, const char* name);

}  // namespace retort::comm
