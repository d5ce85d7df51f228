// The teacher->student logits channel: a teacher sends encoded logits for (student, step), a
// student receives them in step order. Non-blocking underneath with a credit bound (a teacher
// never has more than `lookahead` unconsumed messages per student), an end-of-stream message,
// and a deadline on every blocking wait. Transports: MPI (host buffers) and NCCL (device buffers),
// under one protocol (comm/channel_protocol.h); comm/backends.h makes the channels.
#pragma once
#include <cstdint>
#include <memory>

#include "comm/roles.h"
#include "comm/transport.h"
#include "comm/wire.h"

namespace retort::comm {

struct ChannelConfig {
  Transport transport = Transport::mpi;
  int lookahead = 2;                // max unconsumed messages per (teacher, student), >= 1
  size_t max_payload_bytes = 0;     // largest payload a student must accept (> 0)
  double timeout_s = 300;           // deadline of every blocking wait
  int64_t first_step = 0;           // the first step of this run (> 0 when resuming)
  // Student side: what every data message must carry (shapes, kind, temperature, tokenizer...).
  PayloadExpect expect;
  // NCCL only: the compute stream (cudaStream_t) that consumes received logits; recv makes it
  // wait on the event of that message only.
  void* compute_stream = nullptr;
};

// Counters the trainer reports (queue depth, max in flight).
struct ChannelStats {
  int64_t messages = 0;       // data messages sent (teacher) or received (student)
  int64_t bytes = 0;          // header + payload bytes of those
  int in_flight = 0;          // teacher: unacknowledged messages now (sum over students);
                              // student: received but not yet consumed messages now
  int max_in_flight = 0;      // teacher: max unacknowledged per student ever seen
  double wait_seconds = 0;    // time blocked in send (no credit) or recv (no message)
};

// Teacher side. Payload pointers are host memory (MPI) or device memory (NCCL).
class TeacherChannel {
 public:
  virtual ~TeacherChannel() = default;
  // Sends `payload` for (student index, step). Blocks (with the deadline) only while this
  // teacher already has `lookahead` unconsumed messages for that student. The payload may be
  // reused as soon as send returns.
  virtual void send(int student, int64_t step, const LogitsPayload& payload) = 0;
  // Makes MPI/NCCL progress without blocking (call it between compute steps).
  virtual void progress() = 0;
  // Sends end-of-stream to every served student and waits (with the deadline) until all sent
  // messages are consumed or drained. Call once, at the end.
  virtual void finish() = 0;
  virtual ChannelStats stats() const = 0;
};

// Student side.
class StudentChannel {
 public:
  virtual ~StudentChannel() = default;
  // The logits of `step` (steps are requested consecutively from config.first_step). The view
  // stays valid until the next recv/close. An end_of_stream() view means the serving teacher
  // finished. Throws a runtime error naming the peer rank and step on timeout or bad message.
  virtual TeacherView recv(int64_t step) = 0;
  virtual void progress() = 0;
  // Drains every teacher of this student up to its end-of-stream (acknowledging what it
  // discards) so teachers can finish. Call once, at the end.
  virtual void close() = 0;
  virtual ChannelStats stats() const = 0;
};

}  // namespace retort::comm
