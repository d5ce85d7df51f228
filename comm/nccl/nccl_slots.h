// The NCCL slot transport of the logits channel (CUDA builds only; comm/slot_transport.h):
// device buffers; a message's header goes over MPI on the pair communicator, its payload by
// ncclSend/ncclRecv on the channel's stream, and never visits the host. Creating either side is
// collective over the whole world (one NCCL communicator of all ranks), so every teacher and
// student creates its channel at the same point of startup. Internal to comm/.
#pragma once
#ifdef RETORT_HAVE_CUDA
#include <memory>

#include "comm/channel.h"
#include "comm/slot_transport.h"

namespace retort::comm {

// Slots hold config.max_payload_bytes; config.compute_stream produces (teacher) or consumes
// (student) the payloads.
std::unique_ptr<SendSlots> make_nccl_send_slots(const Roles& roles, const ChannelConfig& config);
std::unique_ptr<RecvSlots> make_nccl_recv_slots(const Roles& roles, const ChannelConfig& config);

}  // namespace retort::comm
#endif
