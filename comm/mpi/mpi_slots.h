// The MPI slot transport of the logits channel (comm/slot_transport.h): host buffers, each
// message (header + payload) one MPI message on the pair communicator. Internal to comm/.
#pragma once
#include <memory>

#include "comm/channel.h"
#include "comm/slot_transport.h"

namespace retort::comm {

std::unique_ptr<SendSlots> make_mpi_send_slots();
// Receive slots hold a header and config.max_payload_bytes.
std::unique_ptr<RecvSlots> make_mpi_recv_slots(const ChannelConfig& config);

}  // namespace retort::comm
