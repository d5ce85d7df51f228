// The logits channel where its payloads live in a Compute's memory (the NCCL transport, whose
// slots are device buffers): a teacher whose targets are encoded on the host has them uploaded
// before each send, and a student that needs host targets gets the received payload downloaded.
#pragma once
#include <memory>

#include "comm/channel.h"
#include "core/model/compute.h"

namespace retort::core {

// Wraps `channel` (whose payload pointers must be `compute` memory): send() uploads the host
// payload's sections into a reusable `compute` buffer (at the wire layout's offsets) and sends
// that. The upload is ordered on the compute's stream, before the channel's copy of the payload.
std::unique_ptr<comm::TeacherChannel> upload_payloads(std::shared_ptr<Compute> compute,
                                                      std::unique_ptr<comm::TeacherChannel> channel);

// Wraps `channel` (whose received views point into `compute` memory): recv() downloads the
// message's sections into a reusable host buffer and returns a view of them.
std::unique_ptr<comm::StudentChannel> download_payloads(std::shared_ptr<Compute> compute,
                                                        std::unique_ptr<comm::StudentChannel> channel);

}  // namespace retort::core
