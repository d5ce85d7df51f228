// What a logits channel's transport does, under the one protocol (comm/channel_protocol.h):
// move one message through a numbered slot of a teacher<->student link. MPI slots are host
// buffers (header + payload in one MPI message); NCCL slots are device buffers (the header over
// MPI, the payload by ncclSend/ncclRecv). Credits, acks, step order, draining and deadlines are
// the protocol's. Internal to comm/.
#pragma once
#include <mpi.h>

#include <cstdint>

#include "comm/wire.h"

namespace retort::comm {

// Message tags on a pair communicator (rank 0 = teacher, rank 1 = student).
inline constexpr int kTagData = 1;  // teacher -> student: one message (NCCL: its header)
inline constexpr int kTagAck = 2;   // student -> teacher: int64 count of messages consumed so far

// A teacher's slots: `slots` per student link, links numbered in the order they were added.
class SendSlots {
 public:
  virtual ~SendSlots() = default;
  // The next link: to the student at rank 1 of the pair communicator `pair` (world rank
  // `student_rank`), with `slots` slots.
  virtual void add_link(MPI_Comm pair, int student_rank, int slots) = 0;
  // Writes the data message of `payload` for (step, student) into an idle slot and starts sending
  // it; `payload` may be reused when this returns. Its size was checked against the channel's.
  virtual void send(int link, int slot, const LogitsPayload& payload, int64_t step, int32_t student) = 0;
  // Starts sending the header-only message `end_of_stream` from an idle slot.
  virtual void send_end(int link, int slot, const WireHeader& end_of_stream) = 0;
  // True once the slot's last send completed (the slot may be written again). Never blocks.
  virtual bool idle(int link, int slot) = 0;
  // Every send completed and was consumed: destruction may free everything (no error path).
  virtual void finished() = 0;
};

// A student's slots: `slots` per teacher link, each receiving one message at a time.
class RecvSlots {
 public:
  virtual ~RecvSlots() = default;
  // The next link: from the teacher at rank 0 of `pair` (world rank `teacher_rank`).
  virtual void add_link(MPI_Comm pair, int teacher_rank, int slots) = 0;
  // Posts the slot's receive of the link's next message (the slot is free).
  virtual void post(int link, int slot) = 0;
  // True once the posted message arrived (NCCL: its header, validated against `expect`, and the
  // payload's receive queued). Never blocks.
  virtual bool arrived(int link, int slot, const WireExpect& expect) = 0;
  // The arrived message, validated against `expect`; valid until release (NCCL: the compute
  // stream waits for the payload).
  virtual TeacherView open(int link, int slot, const WireExpect& expect) = 0;
  // The consumer is done with the slot's message (NCCL: once the compute stream is).
  virtual void release(int link, int slot) = 0;
  // Retires the slot's posted receive, for which no message will come (at close).
  virtual void cancel(int link, int slot) = 0;
  // Every link drained: destruction may free everything (no error path).
  virtual void closed() = 0;
};

}  // namespace retort::comm
