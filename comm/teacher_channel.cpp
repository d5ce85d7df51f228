// Teacher side of the logits channel protocol: per-student links with `lookahead` slots used
// round-robin, a credit per unconsumed message (acks are the student's consumed count, over
// MPI), end-of-stream in place of the next served step, and the wait for every ack at finish.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "comm/channel_protocol.h"
#include "comm/mpi/request_wait.h"
#include "comm/mpi_check.h"

namespace retort::comm {
namespace {

// Everything a teacher tracks for one student it serves.
struct StudentLink {
  int index = 0;  // the link's number in the slot transport
  int student = 0;
  int student_rank = 0;
  MPI_Comm comm = MPI_COMM_NULL;
  int64_t sent = 0;             // messages sent (data + end-of-stream)
  int64_t acked = 0;            // messages the student reported consumed
  int64_t next_step = -1;       // the next step this student may be sent (-1: any)
  int64_t ack_value = 0;        // receive buffer of the posted ack
  MPI_Request ack_request = MPI_REQUEST_NULL;
  bool finished = false;
};

class ProtocolTeacherChannel final : public TeacherChannel {
 public:
  ProtocolTeacherChannel(const Roles& roles, const ChannelConfig& config, std::unique_ptr<SendSlots> slots,
                         const char* name)
      : roles_(roles), config_(config), slots_(std::move(slots)), name_(name) {
    RETORT_CHECK(roles.is_teacher(), fmt::format("rank {} is not a teacher", roles.rank()));
    teacher_ = roles.index();
    for (int s : roles.table().students_of(teacher_)) {
      StudentLink& link = links_[s];
      link.index = static_cast<int>(links_.size()) - 1;
      link.student = s;
      link.student_rank = roles.table().student_rank(s);
      link.comm = roles.pair(teacher_, s);
      slots_->add_link(link.comm, link.student_rank, config.lookahead);
      post_ack(link);
    }
  }

  ~ProtocolTeacherChannel() override {
    // Only reached without finish() on an error path: the slots keep what MPI may still read.
    for (auto& [s, link] : links_)
      if (link.ack_request != MPI_REQUEST_NULL) {
        MPI_Cancel(&link.ack_request);
        MPI_Request_free(&link.ack_request);
      }
  }

  void send(int student, int64_t step, const LogitsPayload& payload) override {
    StudentLink& link = link_of(student);
    if (link.finished) RETORT_RUNTIME_ERROR(fmt::format("teacher {}: send after finish", teacher_));
    if (roles_.table().teacher_for(student, step) != teacher_)
      RETORT_RUNTIME_ERROR(fmt::format("teacher {} (rank {}) does not serve student {} at step {}", teacher_,
                                       roles_.rank(), student, step));
    if (link.next_step >= 0 && step < link.next_step)
      RETORT_RUNTIME_ERROR(fmt::format("teacher {}: step {} for student {} sent out of order (next is {})",
                                       teacher_, step, student, link.next_step));
    const size_t bytes = encoded_size(payload);
    if (bytes - sizeof(WireHeader) > config_.max_payload_bytes)
      RETORT_INPUT_ERROR(fmt::format("logits payload of {} bytes for student {} step {} exceeds the channel's "
                                     "max_payload_bytes {}",
                                     bytes - sizeof(WireHeader), student, step, config_.max_payload_bytes));
    const int slot = acquire_slot(link, step);
    slots_->send(link.index, slot, payload, step, student);
    sent(link);
    link.next_step = step + 1;
    stats_.messages += 1;
    stats_.bytes += static_cast<int64_t>(bytes);
  }

  void progress() override {
    for (auto& [s, link] : links_) poll_acks(link);
  }

  void finish() override {
    for (auto& [s, link] : links_) {
      if (link.finished) continue;
      // End-of-stream takes the place of the next step this teacher would serve this student.
      int64_t step = std::max<int64_t>(link.next_step, config_.first_step);
      while (roles_.table().teacher_for(s, step) != teacher_) ++step;
      const int slot = acquire_slot(link, step);
      slots_->send_end(link.index, slot, end_of_stream_header(step, s));
      sent(link);
      link.finished = true;
    }
    for (auto& [s, link] : links_) {
      const auto deadline = deadline_after(config_.timeout_s);
      wait_until([&] { return poll_acks(link) == link.sent; }, deadline, config_.timeout_s,
                 [&] { return describe(link, "its acknowledgement of end-of-stream", link.next_step); },
                 &stats_.wait_seconds);
      for (int slot = 0; slot < config_.lookahead; ++slot)
        wait_until([&] { return slots_->idle(link.index, slot); }, deadline, config_.timeout_s,
                   [&] { return describe(link, "the completion of a send", link.next_step); });
      // No more acks will come: retire the posted receive.
      RETORT_MPI_CHECK(MPI_Cancel(&link.ack_request));
      RETORT_MPI_CHECK(MPI_Wait(&link.ack_request, MPI_STATUS_IGNORE));
    }
    slots_->finished();
  }

  ChannelStats stats() const override {
    ChannelStats s = stats_;
    s.in_flight = 0;
    for (const auto& [id, link] : links_) s.in_flight += static_cast<int>(link.sent - link.acked);
    return s;
  }

 private:
  StudentLink& link_of(int student) {
    auto it = links_.find(student);
    if (it == links_.end())
      RETORT_RUNTIME_ERROR(fmt::format("teacher {} (rank {}) does not serve student {}", teacher_, roles_.rank(), student));
    return it->second;
  }

  std::string describe(const StudentLink& link, const char* what, int64_t step) const {
    return fmt::format("logits channel{}: teacher rank {} waited for {} from student rank {} at step {}", name_,
                       roles_.rank(), what, link.student_rank, step);
  }

  void post_ack(StudentLink& link) {
    RETORT_MPI_CHECK(MPI_Irecv(&link.ack_value, 1, MPI_INT64_T, 1, kTagAck, link.comm, &link.ack_request));
  }

  // Consumes every ack that arrived; returns the acked count.
  int64_t poll_acks(StudentLink& link) {
    while (link.ack_request != MPI_REQUEST_NULL && test_request(link.ack_request)) {
      link.acked = std::max(link.acked, link.ack_value);
      post_ack(link);
    }
    return link.acked;
  }

  // Waits for a credit and for the slot the next message uses to be idle; returns that slot.
  int acquire_slot(StudentLink& link, int64_t step) {
    const auto deadline = deadline_after(config_.timeout_s);
    wait_until([&] { return link.sent - poll_acks(link) < config_.lookahead; }, deadline, config_.timeout_s,
               [&] { return describe(link, "a credit (the student consuming a message)", step); },
               &stats_.wait_seconds);
    const int slot = static_cast<int>(link.sent % config_.lookahead);
    wait_until([&] { return slots_->idle(link.index, slot); }, deadline, config_.timeout_s,
               [&] { return describe(link, "the completion of a send", step); }, &stats_.wait_seconds);
    return slot;
  }

  void sent(StudentLink& link) {
    link.sent += 1;
    stats_.max_in_flight = std::max(stats_.max_in_flight, static_cast<int>(link.sent - link.acked));
  }

  const Roles& roles_;
  ChannelConfig config_;
  std::unique_ptr<SendSlots> slots_;
  const char* name_;
  int teacher_ = 0;
  std::map<int, StudentLink> links_;
  ChannelStats stats_;
};

}  // namespace

void validate_channel_config(const ChannelConfig& config) {
  if (config.lookahead < 1) RETORT_INPUT_ERROR(fmt::format("channel lookahead {} must be >= 1", config.lookahead));
  if (config.max_payload_bytes == 0) RETORT_INPUT_ERROR("channel max_payload_bytes must be > 0");
  if (!(config.timeout_s > 0)) RETORT_INPUT_ERROR(fmt::format("channel timeout {} s must be > 0", config.timeout_s));
  if (config.max_payload_bytes > static_cast<size_t>(INT32_MAX) - sizeof(WireHeader))
    RETORT_INPUT_ERROR(fmt::format("channel max_payload_bytes {} exceeds the 2 GiB MPI message limit",
                                   config.max_payload_bytes));
}

std::unique_ptr<TeacherChannel> make_protocol_teacher_channel(const Roles& roles, const ChannelConfig& config,
                                                              std::unique_ptr<SendSlots> slots, const char* name) {
  return std::make_unique<ProtocolTeacherChannel>(roles, config, std::move(slots), name);
}

}  // namespace retort::comm
