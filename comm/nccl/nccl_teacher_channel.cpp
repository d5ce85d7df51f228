// Teacher side of the NCCL logits channel. send() copies the device payload into a send slot
// on a copy stream (the caller's compute stream waits only for that copy), announces it with an
// MPI header, and ncclSend()s it on the channel stream. Credits (acks) come back over MPI as in
// the MPI backend: at most `lookahead` unconsumed messages per student.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
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
  cudaEvent_t sent = nullptr;  // the ncclSend from this slot completed
};

struct StudentLink {
  int student_rank = 0;
  MPI_Comm comm = MPI_COMM_NULL;
  std::vector<DeviceSlot> slots;
  int64_t sent = 0, acked = 0, next_step = -1, ack_value = 0;
  MPI_Request ack_request = MPI_REQUEST_NULL;
};

bool event_done(cudaEvent_t e) {
  const cudaError_t status = cudaEventQuery(e);
  if (status == cudaErrorNotReady) return false;
  RETORT_CUDA_CHECK(status);
  return true;
}

class NcclTeacherChannel final : public TeacherChannel {
 public:
  NcclTeacherChannel(const Roles& roles, const ChannelConfig& config)
      : roles_(roles), config_(config), nccl_(roles.world()), compute_(static_cast<cudaStream_t>(config.compute_stream)) {
    validate_channel_config(config);
    RETORT_CHECK(roles.is_teacher(), fmt::format("rank {} is not a teacher", roles.rank()));
    teacher_ = roles.index();
    RETORT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    RETORT_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
    RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&produced_, cudaEventDisableTiming));
    RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&copied_, cudaEventDisableTiming));
    for (int s : roles.table().students_of(teacher_)) {
      StudentLink& link = links_[s];
      link.student_rank = roles.table().student_rank(s);
      link.comm = roles.pair(teacher_, s);
      link.slots.resize(static_cast<size_t>(config.lookahead));
      for (DeviceSlot& slot : link.slots) {
        RETORT_CUDA_CHECK(cudaMalloc(&slot.device, config.max_payload_bytes));
        RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&slot.sent, cudaEventDisableTiming));
      }
      RETORT_MPI_CHECK(MPI_Irecv(&link.ack_value, 1, MPI_INT64_T, 1, kTagAck, link.comm, &link.ack_request));
    }
  }

  ~NcclTeacherChannel() override {
    if (!finished_) nccl_.abort();  // an error path: do not wait on peers
    else cudaStreamSynchronize(stream_);
    for (auto& [s, link] : links_) {
      if (link.ack_request != MPI_REQUEST_NULL) {
        MPI_Cancel(&link.ack_request);
        MPI_Request_free(&link.ack_request);
      }
      for (DeviceSlot& slot : link.slots) {
        if (slot.header_request != MPI_REQUEST_NULL) MPI_Request_free(&slot.header_request);
        cudaFree(slot.device);
        cudaEventDestroy(slot.sent);
      }
    }
    cudaEventDestroy(produced_);
    cudaEventDestroy(copied_);
    cudaStreamDestroy(copy_stream_);
    cudaStreamDestroy(stream_);
  }

  void send(int student, int64_t step, const LogitsPayload& p) override {
    auto it = links_.find(student);
    if (it == links_.end() || roles_.table().teacher_for(student, step) != teacher_)
      RETORT_RUNTIME_ERROR(fmt::format("teacher {} (rank {}) does not serve student {} at step {}", teacher_,
                                       roles_.rank(), student, step));
    StudentLink& link = it->second;
    if (link.next_step >= 0 && step < link.next_step)
      RETORT_RUNTIME_ERROR(fmt::format("teacher {}: step {} for student {} sent out of order (next is {})", teacher_,
                                       step, student, link.next_step));
    const PayloadLayout l = payload_layout(p.kind, p.dtype, p.rows, p.vocab, p.k);
    if (l.bytes > config_.max_payload_bytes)
      RETORT_INPUT_ERROR(fmt::format("logits payload of {} bytes for student {} step {} exceeds the channel's "
                                     "max_payload_bytes {}", l.bytes, student, step, config_.max_payload_bytes));
    DeviceSlot& slot = acquire(link, step);
    // Copy the sections into the slot once the compute stream produced them.
    RETORT_CUDA_CHECK(cudaEventRecord(produced_, compute_));
    RETORT_CUDA_CHECK(cudaStreamWaitEvent(copy_stream_, produced_, 0));
    for (const PayloadSection& s : payload_sections(p, l))
      RETORT_CUDA_CHECK(cudaMemcpyAsync(slot.device + s.offset, s.source, s.bytes, cudaMemcpyDeviceToDevice, copy_stream_));
    RETORT_CUDA_CHECK(cudaEventRecord(copied_, copy_stream_));
    RETORT_CUDA_CHECK(cudaStreamWaitEvent(compute_, copied_, 0));  // the payload may be reused after this
    RETORT_CUDA_CHECK(cudaStreamWaitEvent(stream_, copied_, 0));

    WireHeader& h = slot.header;
    h = message_header(p, step, student);
    h.checksum = message_checksum(h, nullptr, 0);  // header integrity; the payload stays on the device
    RETORT_MPI_CHECK(MPI_Isend(&h, sizeof h, MPI_BYTE, 1, kTagData, link.comm, &slot.header_request));
    RETORT_NCCL_CHECK(ncclGroupStart());
    RETORT_NCCL_CHECK(ncclSend(slot.device, l.bytes, ncclUint8, link.student_rank, nccl_.get(), stream_));
    RETORT_NCCL_CHECK(ncclGroupEnd());
    RETORT_CUDA_CHECK(cudaEventRecord(slot.sent, stream_));
    link.sent += 1;
    link.next_step = step + 1;
    stats_.messages += 1;
    stats_.bytes += static_cast<int64_t>(sizeof h + l.bytes);
    stats_.max_in_flight = std::max(stats_.max_in_flight, static_cast<int>(link.sent - link.acked));
  }

  void progress() override {
    for (auto& [s, link] : links_) poll_acks(link);
  }

  void finish() override {
    for (auto& [s, link] : links_) {
      // End-of-stream takes the place of the next step this teacher would serve this student.
      int64_t step = std::max<int64_t>(link.next_step, config_.first_step);
      while (roles_.table().teacher_for(s, step) != teacher_) ++step;
      DeviceSlot& slot = acquire(link, step);
      slot.header = end_of_stream_header(step, s);
      RETORT_MPI_CHECK(MPI_Isend(&slot.header, sizeof slot.header, MPI_BYTE, 1, kTagData, link.comm, &slot.header_request));
      link.sent += 1;
    }
    for (auto& [s, link] : links_) {
      const auto deadline = deadline_after(config_.timeout_s);
      wait_until([&] { return poll_acks(link) == link.sent; }, deadline, config_.timeout_s,
                 [&] { return describe(link, "its acknowledgement of end-of-stream", link.next_step); },
                 &stats_.wait_seconds);
      for (DeviceSlot& slot : link.slots) {
        wait_request(slot.header_request, MPI_STATUS_IGNORE, deadline, config_.timeout_s,
                     [&] { return describe(link, "the completion of a header send", link.next_step); });
        wait_until([&] { return event_done(slot.sent); }, deadline, config_.timeout_s,
                   [&] { return describe(link, "the completion of an ncclSend", link.next_step); });
      }
      RETORT_MPI_CHECK(MPI_Cancel(&link.ack_request));
      RETORT_MPI_CHECK(MPI_Wait(&link.ack_request, MPI_STATUS_IGNORE));
    }
    finished_ = true;
  }

  ChannelStats stats() const override {
    ChannelStats s = stats_;
    for (const auto& [id, link] : links_) s.in_flight += static_cast<int>(link.sent - link.acked);
    return s;
  }

 private:
  std::string describe(const StudentLink& link, const char* what, int64_t step) const {
    return fmt::format("logits channel (nccl): teacher rank {} waited for {} from student rank {} at step {}",
                       roles_.rank(), what, link.student_rank, step);
  }

  int64_t poll_acks(StudentLink& link) {
    while (link.ack_request != MPI_REQUEST_NULL && test_request(link.ack_request)) {
      link.acked = std::max(link.acked, link.ack_value);
      RETORT_MPI_CHECK(MPI_Irecv(&link.ack_value, 1, MPI_INT64_T, 1, kTagAck, link.comm, &link.ack_request));
    }
    return link.acked;
  }

  DeviceSlot& acquire(StudentLink& link, int64_t step) {
    const auto deadline = deadline_after(config_.timeout_s);
    wait_until([&] { return link.sent - poll_acks(link) < config_.lookahead; }, deadline, config_.timeout_s,
               [&] { return describe(link, "a credit (the student consuming a message)", step); }, &stats_.wait_seconds);
    DeviceSlot& slot = link.slots[static_cast<size_t>(link.sent % config_.lookahead)];
    wait_request(slot.header_request, MPI_STATUS_IGNORE, deadline, config_.timeout_s,
                 [&] { return describe(link, "the completion of a header send", step); }, &stats_.wait_seconds);
    wait_until([&] { return event_done(slot.sent); }, deadline, config_.timeout_s,
               [&] { return describe(link, "the completion of an ncclSend", step); }, &stats_.wait_seconds);
    return slot;
  }

  const Roles& roles_;
  ChannelConfig config_;
  NcclComm nccl_;
  cudaStream_t compute_;
  cudaStream_t stream_ = nullptr, copy_stream_ = nullptr;
  cudaEvent_t produced_ = nullptr, copied_ = nullptr;
  int teacher_ = 0;
  std::map<int, StudentLink> links_;
  ChannelStats stats_;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<TeacherChannel> make_nccl_teacher_channel(const Roles& roles, const ChannelConfig& config) {
  return std::make_unique<NcclTeacherChannel>(roles, config);
}

}  // namespace retort::comm
