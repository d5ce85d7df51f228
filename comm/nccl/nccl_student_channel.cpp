// Student side of the NCCL logits channel: headers are pre-posted MPI receives (lookahead per
// teacher); as soon as a header arrives the matching ncclRecv is posted on the channel stream
// into that slot's device buffer. recv() makes the compute stream wait on that message's event
// only; consumption is acked over MPI (the teacher's credit), as in the MPI backend.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <vector>

#include "comm/mpi/mpi_channel.h"
#include "comm/mpi/request_wait.h"
#include "comm/mpi_check.h"
#include "comm/nccl/nccl_channel.h"
#include "comm/nccl/nccl_comm.h"
#include "comm/nccl_check.h"
#include "core/base/cuda_check.h"

namespace retort::comm {
namespace {

struct DeviceSlot {
  std::byte* device = nullptr;
  WireHeader header;
  MPI_Request header_request = MPI_REQUEST_NULL;
  cudaEvent_t received = nullptr;  // the ncclRecv into `device` completed
  cudaEvent_t consumed = nullptr;  // the compute stream is done with `device`
  int64_t step = 0;
  bool arrived = false;            // header arrived, validated, ncclRecv posted
  TeacherView view;
};

struct TeacherLink {
  int teacher = 0, teacher_rank = 0;
  MPI_Comm comm = MPI_COMM_NULL;
  std::deque<DeviceSlot> posted;  // in step order
  int64_t next_post_step = 0, stride = 1, consumed = 0, ack_value = 0;
  MPI_Request ack_request = MPI_REQUEST_NULL;
  bool ended = false;
  WireHeader end_header;
};

class NcclStudentChannel final : public StudentChannel {
 public:
  NcclStudentChannel(const Roles& roles, const ChannelConfig& config)
      : roles_(roles), config_(config), nccl_(roles.world()), compute_(static_cast<cudaStream_t>(config.compute_stream)) {
    validate_channel_config(config);
    RETORT_CHECK(roles.is_student(), fmt::format("rank {} is not a student", roles.rank()));
    student_ = roles.index();
    next_step_ = config.first_step;
    RETORT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    const auto& teachers = roles.table().teachers_of(student_);
    links_.resize(teachers.size());
    for (size_t j = 0; j < teachers.size(); ++j) {
      TeacherLink& link = links_[j];
      link.teacher = teachers[j];
      link.teacher_rank = roles.table().teacher_rank(link.teacher);
      link.comm = roles.pair(link.teacher, student_);
      link.stride = static_cast<int64_t>(teachers.size());
      const int64_t n = link.stride, f = config.first_step;
      link.next_post_step = f + ((static_cast<int64_t>(j) - f) % n + n) % n;
      for (int i = 0; i < config.lookahead; ++i) {
        DeviceSlot& slot = link.posted.emplace_back();
        RETORT_CUDA_CHECK(cudaMalloc(&slot.device, config.max_payload_bytes));
        RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&slot.received, cudaEventDisableTiming));
        RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&slot.consumed, cudaEventDisableTiming));
        RETORT_CUDA_CHECK(cudaEventRecord(slot.consumed, compute_));
        post_header(link, slot);
      }
    }
  }

  ~NcclStudentChannel() override {
    if (!closed_) nccl_.abort();
    else cudaStreamSynchronize(stream_);
    for (TeacherLink& link : links_) {
      for (DeviceSlot& slot : link.posted) free_slot(slot);
      if (link.ack_request != MPI_REQUEST_NULL) MPI_Request_free(&link.ack_request);
    }
    for (DeviceSlot& slot : retired_) free_slot(slot);
    cudaStreamDestroy(stream_);
  }

  TeacherView recv(int64_t step) override {
    if (closed_) RETORT_RUNTIME_ERROR(fmt::format("student {}: recv after close", student_));
    if (step != next_step_)
      RETORT_RUNTIME_ERROR(fmt::format("student {} asked for step {} but the next step is {}", student_, step, next_step_));
    release_current();
    next_step_ = step + 1;
    TeacherLink& link = link_of(step);
    if (link.ended) {
      TeacherView v;
      v.header = link.end_header;
      return v;
    }
    DeviceSlot& slot = link.posted.front();
    wait_arrival(link, slot);
    current_ = &link;
    if (slot.view.end_of_stream()) {
      link.ended = true;
      link.end_header = slot.view.header;
    } else {
      RETORT_CUDA_CHECK(cudaStreamWaitEvent(compute_, slot.received, 0));
      stats_.messages += 1;
      stats_.bytes += static_cast<int64_t>(sizeof(WireHeader) + slot.header.payload_bytes);
    }
    return slot.view;
  }

  void progress() override {
    int queued = 0;
    for (TeacherLink& link : links_)
      for (DeviceSlot& slot : link.posted) {
        if (!slot.arrived) poll(link, slot);
        queued += slot.arrived ? 1 : 0;
      }
    stats_.in_flight = queued;
    stats_.max_in_flight = std::max(stats_.max_in_flight, queued);
  }

  void close() override {
    if (closed_) return;
    release_current();
    for (TeacherLink& link : links_) {
      while (!link.ended) {
        DeviceSlot& slot = link.posted.front();
        wait_arrival(link, slot);
        if (slot.view.end_of_stream()) link.ended = true;
        current_ = &link;
        release_current();
      }
      for (DeviceSlot& slot : link.posted) {
        RETORT_MPI_CHECK(MPI_Cancel(&slot.header_request));
        RETORT_MPI_CHECK(MPI_Wait(&slot.header_request, MPI_STATUS_IGNORE));
      }
      const auto deadline = deadline_after(config_.timeout_s);
      wait_request(link.ack_request, MPI_STATUS_IGNORE, deadline, config_.timeout_s,
                   [&] { return describe(link, "the completion of an acknowledgement", next_step_); });
    }
    RETORT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    closed_ = true;
  }

  ChannelStats stats() const override { return stats_; }

 private:
  TeacherLink& link_of(int64_t step) {
    const int t = roles_.table().teacher_for(student_, step);
    for (TeacherLink& link : links_)
      if (link.teacher == t) return link;
    RETORT_RUNTIME_ERROR(fmt::format("student {} has no link to teacher {}", student_, t));
  }

  std::string describe(const TeacherLink& link, const char* what, int64_t step) const {
    return fmt::format("logits channel (nccl): student rank {} waited for {} from teacher rank {} at step {}",
                       roles_.rank(), what, link.teacher_rank, step);
  }

  static void free_slot(DeviceSlot& slot) {
    if (slot.header_request != MPI_REQUEST_NULL) {
      MPI_Cancel(&slot.header_request);
      MPI_Request_free(&slot.header_request);
    }
    cudaFree(slot.device);
    cudaEventDestroy(slot.received);
    cudaEventDestroy(slot.consumed);
  }

  void post_header(TeacherLink& link, DeviceSlot& slot) {
    slot.step = link.next_post_step;
    slot.arrived = false;
    link.next_post_step += link.stride;
    RETORT_MPI_CHECK(MPI_Irecv(&slot.header, sizeof slot.header, MPI_BYTE, 0, kTagData, link.comm, &slot.header_request));
  }

  // When the header arrived: validate it and post the payload's ncclRecv (after the compute
  // stream released the slot's buffer).
  void poll(TeacherLink& link, DeviceSlot& slot) {
    if (!test_request(slot.header_request)) return;
    WireExpect expect;
    expect.peer_rank = link.teacher_rank;
    expect.step = slot.step;
    expect.student = student_;
    expect.payload = config_.expect;
    slot.view = decode_header(slot.header, slot.device, expect);
    if (!slot.view.end_of_stream()) {
      if (slot.header.payload_bytes > config_.max_payload_bytes)
        RETORT_RUNTIME_ERROR(fmt::format("logits message from rank {} for step {}: payload of {} bytes exceeds "
                                         "max_payload_bytes {}", link.teacher_rank, slot.step,
                                         slot.header.payload_bytes, config_.max_payload_bytes));
      RETORT_CUDA_CHECK(cudaStreamWaitEvent(stream_, slot.consumed, 0));
      RETORT_NCCL_CHECK(ncclGroupStart());
      RETORT_NCCL_CHECK(ncclRecv(slot.device, slot.header.payload_bytes, ncclUint8, link.teacher_rank, nccl_.get(), stream_));
      RETORT_NCCL_CHECK(ncclGroupEnd());
      RETORT_CUDA_CHECK(cudaEventRecord(slot.received, stream_));
    }
    slot.arrived = true;
  }

  void wait_arrival(TeacherLink& link, DeviceSlot& slot) {
    if (slot.arrived) return;
    const auto deadline = deadline_after(config_.timeout_s);
    wait_until(
        [&] {
          poll(link, slot);
          return slot.arrived;
        },
        deadline, config_.timeout_s, [&] { return describe(link, "the logits header", slot.step); }, &stats_.wait_seconds);
  }

  // Acks the message handed out last; its buffer is reused once the compute stream is done.
  void release_current() {
    if (!current_) return;
    TeacherLink& link = *current_;
    current_ = nullptr;
    DeviceSlot slot = std::move(link.posted.front());
    link.posted.pop_front();
    RETORT_CUDA_CHECK(cudaEventRecord(slot.consumed, compute_));
    link.consumed += 1;
    const auto deadline = deadline_after(config_.timeout_s);
    wait_request(link.ack_request, MPI_STATUS_IGNORE, deadline, config_.timeout_s,
                 [&] { return describe(link, "the completion of an acknowledgement", slot.step); });
    link.ack_value = link.consumed;
    RETORT_MPI_CHECK(MPI_Isend(&link.ack_value, 1, MPI_INT64_T, 0, kTagAck, link.comm, &link.ack_request));
    if (link.ended) {
      retired_.push_back(std::move(slot));
      return;
    }
    DeviceSlot& reposted = link.posted.emplace_back(std::move(slot));
    post_header(link, reposted);
  }

  const Roles& roles_;
  ChannelConfig config_;
  NcclComm nccl_;
  cudaStream_t compute_;
  cudaStream_t stream_ = nullptr;
  int student_ = 0;
  int64_t next_step_ = 0;
  std::deque<TeacherLink> links_;
  std::vector<DeviceSlot> retired_;
  TeacherLink* current_ = nullptr;
  bool closed_ = false;
  ChannelStats stats_;
};

}  // namespace

std::unique_ptr<StudentChannel> make_nccl_student_channel(const Roles& roles, const ChannelConfig& config) {
  return std::make_unique<NcclStudentChannel>(roles, config);
}

}  // namespace retort::comm
