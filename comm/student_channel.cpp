// Student side of the logits channel protocol: `lookahead` slots posted per teacher in the
// order of the steps that teacher serves, validation of every message, an ack per consumed
// message (the teacher's credit, over MPI), and the drain to end-of-stream at close.
#include <fmt/format.h>

#include <algorithm>
#include <deque>

#include "comm/channel_protocol.h"
#include "comm/mpi/request_wait.h"
#include "comm/mpi_check.h"

namespace retort::comm {
namespace {

struct PostedSlot {
  int slot = 0;
  int64_t step = 0;
  bool arrived = false;
};

// Everything a student tracks for one of its teachers.
struct TeacherLink {
  int index = 0;  // the link's number in the slot transport
  int teacher = 0;
  int teacher_rank = 0;
  MPI_Comm comm = MPI_COMM_NULL;
  std::deque<PostedSlot> posted;  // in step order
  int64_t next_post_step = 0;     // the next step of this teacher to post a receive for
  int64_t stride = 1;             // this teacher serves every stride-th step
  int64_t consumed = 0;           // messages consumed (acked) so far
  int64_t ack_value = 0;
  MPI_Request ack_request = MPI_REQUEST_NULL;
  bool ended = false;             // end-of-stream received
  WireHeader end_header;
};

class ProtocolStudentChannel final : public StudentChannel {
 public:
  ProtocolStudentChannel(const Roles& roles, const ChannelConfig& config, std::unique_ptr<RecvSlots> slots,
                         const char* name)
      : roles_(roles), config_(config), slots_(std::move(slots)), name_(name) {
    RETORT_CHECK(roles.is_student(), fmt::format("rank {} is not a student", roles.rank()));
    student_ = roles.index();
    next_step_ = config.first_step;
    const auto& teachers = roles.table().teachers_of(student_);
    links_.resize(teachers.size());
    for (size_t j = 0; j < teachers.size(); ++j) {
      TeacherLink& link = links_[j];
      link.index = static_cast<int>(j);
      link.teacher = teachers[j];
      link.teacher_rank = roles.table().teacher_rank(link.teacher);
      link.comm = roles.pair(link.teacher, student_);
      link.stride = static_cast<int64_t>(teachers.size());
      // The first step >= first_step that this teacher serves.
      const int64_t n = link.stride, f = config.first_step;
      link.next_post_step = f + ((static_cast<int64_t>(j) - f) % n + n) % n;
      slots_->add_link(link.comm, link.teacher_rank, config.lookahead);
      for (int slot = 0; slot < config.lookahead; ++slot) post(link, slot);
    }
  }

  ~ProtocolStudentChannel() override {
    // Only reached without close() on an error path: the slots retire their own receives.
    for (TeacherLink& link : links_)
      if (link.ack_request != MPI_REQUEST_NULL) MPI_Request_free(&link.ack_request);
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
    PostedSlot& slot = link.posted.front();
    RETORT_CHECK(slot.step == step, fmt::format("posted step {} != requested {}", slot.step, step));
    TeacherView view = complete(link, slot);
    current_ = &link;
    if (view.end_of_stream()) {
      link.ended = true;
      link.end_header = view.header;
    } else {
      stats_.messages += 1;
      stats_.bytes += static_cast<int64_t>(sizeof(WireHeader) + view.header.payload_bytes);
    }
    return view;
  }

  void progress() override {
    int queued = 0;
    for (TeacherLink& link : links_)
      for (PostedSlot& slot : link.posted) {
        if (!slot.arrived) slot.arrived = slots_->arrived(link.index, slot.slot, expect(link, slot.step));
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
        const TeacherView view = complete(link, link.posted.front());
        current_ = &link;
        if (view.end_of_stream()) link.ended = true;
        release_current();
      }
      const auto deadline = deadline_after(config_.timeout_s);
      for (const PostedSlot& slot : link.posted) slots_->cancel(link.index, slot.slot);
      link.posted.clear();
      wait_request(link.ack_request, MPI_STATUS_IGNORE, deadline, config_.timeout_s,
                   [&] { return describe(link, "the completion of an acknowledgement", next_step_); });
    }
    slots_->closed();
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
    return fmt::format("logits channel{}: student rank {} waited for {} from teacher rank {} at step {}", name_,
                       roles_.rank(), what, link.teacher_rank, step);
  }

  WireExpect expect(const TeacherLink& link, int64_t step) const {
    WireExpect e;
    e.peer_rank = link.teacher_rank;
    e.step = step;
    e.student = student_;
    e.payload = config_.expect;
    return e;
  }

  // Posts `slot` for this teacher's next step.
  void post(TeacherLink& link, int slot) {
    link.posted.push_back({slot, link.next_post_step, false});
    link.next_post_step += link.stride;
    slots_->post(link.index, slot);
  }

  // Waits for `slot` (the front of link.posted) and returns its validated view.
  TeacherView complete(TeacherLink& link, PostedSlot& slot) {
    const WireExpect e = expect(link, slot.step);
    if (!slot.arrived) {
      const auto deadline = deadline_after(config_.timeout_s);
      wait_until(
          [&] {
            slot.arrived = slots_->arrived(link.index, slot.slot, e);
            return slot.arrived;
          },
          deadline, config_.timeout_s, [&] { return describe(link, "the logits message", slot.step); },
          &stats_.wait_seconds);
    }
    return slots_->open(link.index, slot.slot, e);
  }

  // Acknowledges the message handed out last and reuses its slot for a later step.
  void release_current() {
    if (!current_) return;
    TeacherLink& link = *current_;
    current_ = nullptr;
    const PostedSlot slot = link.posted.front();
    link.posted.pop_front();
    slots_->release(link.index, slot.slot);
    link.consumed += 1;
    const auto deadline = deadline_after(config_.timeout_s);
    wait_request(link.ack_request, MPI_STATUS_IGNORE, deadline, config_.timeout_s,
                 [&] { return describe(link, "the completion of an acknowledgement", slot.step); });
    link.ack_value = link.consumed;
    RETORT_MPI_CHECK(MPI_Isend(&link.ack_value, 1, MPI_INT64_T, 0, kTagAck, link.comm, &link.ack_request));
    if (!link.ended) post(link, slot.slot);
  }

  const Roles& roles_;
  ChannelConfig config_;
  std::unique_ptr<RecvSlots> slots_;
  const char* name_;
  int student_ = 0;
  int64_t next_step_ = 0;
  std::deque<TeacherLink> links_;   // deque: links never move (MPI holds pointers into them)
  TeacherLink* current_ = nullptr;  // the link whose front message was handed out last
  bool closed_ = false;
  ChannelStats stats_;
};

}  // namespace

std::unique_ptr<StudentChannel> make_protocol_student_channel(const Roles& roles, const ChannelConfig& config,
                                                              std::unique_ptr<RecvSlots> slots, const char* name) {
  return std::make_unique<ProtocolStudentChannel>(roles, config, std::move(slots), name);
}

}  // namespace retort::comm
