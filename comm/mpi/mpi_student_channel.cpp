// Student side of the MPI logits channel: `lookahead` receives pre-posted per teacher (in the
// order of the steps that teacher serves), validation of every message, an ack per consumed
// message (the teacher's credit), and a drain to end-of-stream at close.
#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <vector>

#include "comm/mpi/mpi_channel.h"
#include "comm/mpi/request_wait.h"
#include "comm/mpi_check.h"

namespace retort::comm {
namespace {

struct RecvSlot {
  std::unique_ptr<std::byte[]> buffer;
  MPI_Request request = MPI_REQUEST_NULL;
  int64_t step = 0;
  bool arrived = false;
  int bytes = 0;
};

// Everything a student tracks for one of its teachers.
struct TeacherLink {
  int teacher = 0;
  int teacher_rank = 0;
  MPI_Comm comm = MPI_COMM_NULL;
  std::deque<RecvSlot> posted;  // in step order
  int64_t next_post_step = 0;   // the next step of this teacher to post a receive for
  int64_t stride = 1;           // this teacher serves every stride-th step
  int64_t consumed = 0;         // messages consumed (acked) so far
  int64_t ack_value = 0;
  MPI_Request ack_request = MPI_REQUEST_NULL;
  bool ended = false;           // end-of-stream received
  WireHeader end_header;
};

class MpiStudentChannel final : public StudentChannel {
 public:
  MpiStudentChannel(const Roles& roles, const ChannelConfig& config) : roles_(roles), config_(config) {
    validate_channel_config(config);
    RETORT_CHECK(roles.is_student(), fmt::format("rank {} is not a student", roles.rank()));
    student_ = roles.index();
    slot_bytes_ = sizeof(WireHeader) + config.max_payload_bytes;
    next_step_ = config.first_step;
    const auto& teachers = roles.table().teachers_of(student_);
    links_.resize(teachers.size());
    for (size_t j = 0; j < teachers.size(); ++j) {
      TeacherLink& link = links_[j];
      link.teacher = teachers[j];
      link.teacher_rank = roles.table().teacher_rank(link.teacher);
      link.comm = roles.pair(link.teacher, student_);
      link.stride = static_cast<int64_t>(teachers.size());
      // The first step >= first_step that this teacher serves.
      const int64_t n = link.stride, f = config.first_step;
      link.next_post_step = f + ((static_cast<int64_t>(j) - f) % n + n) % n;
      for (int i = 0; i < config.lookahead; ++i) post_receive(link);
    }
  }

  ~MpiStudentChannel() override {
    // Only reached without close() on an error path: retire receives, keep buffers MPI may use.
    for (TeacherLink& link : links_) {
      for (RecvSlot& slot : link.posted)
        if (slot.request != MPI_REQUEST_NULL) {
          MPI_Cancel(&slot.request);
          MPI_Request_free(&slot.request);
          (void)slot.buffer.release();
        }
      if (link.ack_request != MPI_REQUEST_NULL) MPI_Request_free(&link.ack_request);
    }
  }

  TeacherView recv(int64_t step) override {
    if (closed_) RETORT_RUNTIME_ERROR(fmt::format("student {}: recv after close", student_));
    if (step != next_step_)
      RETORT_RUNTIME_ERROR(fmt::format("student {} asked for step {} but the next step is {}", student_, step, next_step_));
    release_current();
    next_step_ = step + 1;
    TeacherLink& link = links_[link_index(step)];
    if (link.ended) {
      TeacherView v;
      v.header = link.end_header;
      return v;
    }
    RecvSlot& slot = link.posted.front();
    RETORT_CHECK(slot.step == step, fmt::format("posted step {} != requested {}", slot.step, step));
    TeacherView view = complete(link, slot, step);
    current_ = &link;
    if (view.end_of_stream()) {
      link.ended = true;
      link.end_header = view.header;
    } else {
      stats_.messages += 1;
      stats_.bytes += slot.bytes;
    }
    return view;
  }

  void progress() override {
    int queued = 0;
    for (TeacherLink& link : links_)
      for (RecvSlot& slot : link.posted) {
        if (!slot.arrived && slot.request != MPI_REQUEST_NULL) poll(slot);
        queued += slot.arrived ? 1 : 0;
      }
    stats_.in_flight = queued;
    stats_.max_in_flight = std::max(stats_.max_in_flight, queued);
  }

  void close() override {
    if (closed_) return;
    release_current();
    for (TeacherLink& link : links_) {
      // Consume (and ack) whatever this teacher still sends, up to its end-of-stream.
      while (!link.ended) {
        RecvSlot& slot = link.posted.front();
        const TeacherView view = complete(link, slot, slot.step);
        current_ = &link;
        if (view.end_of_stream()) link.ended = true;
        release_current();
      }
      const auto deadline = deadline_after(config_.timeout_s);
      for (RecvSlot& slot : link.posted) {
        RETORT_MPI_CHECK(MPI_Cancel(&slot.request));
        RETORT_MPI_CHECK(MPI_Wait(&slot.request, MPI_STATUS_IGNORE));
      }
      link.posted.clear();
      wait_request(link.ack_request, MPI_STATUS_IGNORE, deadline, config_.timeout_s,
                   [&] { return describe(link, "the completion of an acknowledgement", next_step_); });
    }
    closed_ = true;
  }

  ChannelStats stats() const override { return stats_; }

 private:
  size_t link_index(int64_t step) const {
    const int t = roles_.table().teacher_for(student_, step);
    for (size_t j = 0; j < links_.size(); ++j)
      if (links_[j].teacher == t) return j;
    RETORT_RUNTIME_ERROR(fmt::format("student {} has no link to teacher {}", student_, t));
  }

  std::string describe(const TeacherLink& link, const char* what, int64_t step) const {
    return fmt::format("logits channel: student rank {} waited for {} from teacher rank {} at step {}",
                       roles_.rank(), what, link.teacher_rank, step);
  }

  void post_receive(TeacherLink& link) {
    RecvSlot slot;
    slot.buffer = std::make_unique_for_overwrite<std::byte[]>(slot_bytes_);
    slot.step = link.next_post_step;
    link.next_post_step += link.stride;
    link.posted.push_back(std::move(slot));
    RecvSlot& posted = link.posted.back();
    RETORT_MPI_CHECK(MPI_Irecv(posted.buffer.get(), static_cast<int>(slot_bytes_), MPI_BYTE, 0, kTagData, link.comm,
                               &posted.request));
  }

  void poll(RecvSlot& slot) {
    MPI_Status status;
    if (test_request(slot.request, &status)) {
      slot.arrived = true;
      RETORT_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &slot.bytes));
    }
  }

  // Waits for `slot` (the front of link.posted) and returns its validated view.
  TeacherView complete(TeacherLink& link, RecvSlot& slot, int64_t step) {
    if (!slot.arrived) {
      const auto deadline = deadline_after(config_.timeout_s);
      wait_until(
          [&] {
            poll(slot);
            return slot.arrived;
          },
          deadline, config_.timeout_s, [&] { return describe(link, "the logits message", step); },
          &stats_.wait_seconds);
    }
    WireExpect expect;
    expect.peer_rank = link.teacher_rank;
    expect.step = step;
    expect.student = student_;
    expect.payload = config_.expect;
    return decode({slot.buffer.get(), static_cast<size_t>(slot.bytes)}, expect);
  }

  // Acknowledges the message handed out last and reuses its slot for a later step.
  void release_current() {
    if (!current_) return;
    TeacherLink& link = *current_;
    current_ = nullptr;
    RecvSlot slot = std::move(link.posted.front());
    link.posted.pop_front();
    link.consumed += 1;
    const auto deadline = deadline_after(config_.timeout_s);
    wait_request(link.ack_request, MPI_STATUS_IGNORE, deadline, config_.timeout_s,
                 [&] { return describe(link, "the completion of an acknowledgement", slot.step); });
    link.ack_value = link.consumed;
    RETORT_MPI_CHECK(MPI_Isend(&link.ack_value, 1, MPI_INT64_T, 0, kTagAck, link.comm, &link.ack_request));
    if (link.ended) return;
    // Reuse the buffer for this teacher's next step.
    slot.arrived = false;
    slot.bytes = 0;
    slot.step = link.next_post_step;
    link.next_post_step += link.stride;
    link.posted.push_back(std::move(slot));
    RecvSlot& posted = link.posted.back();
    RETORT_MPI_CHECK(MPI_Irecv(posted.buffer.get(), static_cast<int>(slot_bytes_), MPI_BYTE, 0, kTagData, link.comm,
                               &posted.request));
  }

  const Roles& roles_;
  ChannelConfig config_;
  int student_ = 0;
  size_t slot_bytes_ = 0;
  int64_t next_step_ = 0;
  std::deque<TeacherLink> links_;  // deque: links never move (MPI holds pointers into them)
  TeacherLink* current_ = nullptr;  // the link whose front message was handed out last
  bool closed_ = false;
  ChannelStats stats_;
};

}  // namespace

std::unique_ptr<StudentChannel> make_mpi_student_channel(const Roles& roles, const ChannelConfig& config) {
  return std::make_unique<MpiStudentChannel>(roles, config);
}

}  // namespace retort::comm
