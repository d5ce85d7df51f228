// NCCL slots, both sides. Teacher: send() copies the device payload's sections into the slot on
// a copy stream (the caller's compute stream waits only for that copy), announces it with an
// MPI header (its checksum covers the header alone) and ncclSend()s it on the channel stream.
// Student: each slot's header is a pre-posted MPI receive; once a header arrives and validates,
// the matching ncclRecv is queued on the channel stream into the slot's device buffer (after the
// compute stream released it), and open() makes the compute stream wait on that message only.
#include "comm/nccl/nccl_slots.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <deque>
#include <vector>

#include "comm/mpi/request_wait.h"
#include "comm/mpi_check.h"
#include "comm/nccl/nccl_comm.h"
#include "comm/nccl_check.h"
#include "core/base/cuda_check.h"

namespace retort::comm {
namespace {

// One slot of either side: a device buffer of max_payload_bytes, the header's MPI message and
// two events (teacher: `done` = the ncclSend completed; student: `done` = the ncclRecv
// completed, `consumed` = the compute stream is done with the buffer).
struct DeviceSlot {
  std::byte* device = nullptr;
  WireHeader header;
  MPI_Request header_request = MPI_REQUEST_NULL;
  cudaEvent_t done = nullptr;
  cudaEvent_t consumed = nullptr;
  TeacherView view;  // student: of the arrived header
};

struct DeviceLink {
  MPI_Comm comm = MPI_COMM_NULL;
  int peer_rank = 0;  // world rank of the other side
  std::vector<DeviceSlot> slots;
};

bool event_done(cudaEvent_t e) {
  const cudaError_t status = cudaEventQuery(e);
  if (status == cudaErrorNotReady) return false;
  RETORT_CUDA_CHECK(status);
  return true;
}

// What both sides hold: the world's NCCL communicator, the channel stream, the links' slots.
class DeviceLinks {
 protected:
  DeviceLinks(const Roles& roles, const ChannelConfig& config)
      : nccl_(roles.world()), compute_(static_cast<cudaStream_t>(config.compute_stream)),
        slot_bytes_(config.max_payload_bytes) {
    RETORT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }

  ~DeviceLinks() {
    if (!done_) nccl_.abort();  // an error path: do not wait on peers
    else cudaStreamSynchronize(stream_);
    for (DeviceLink& link : links_)
      for (DeviceSlot& slot : link.slots) {
        if (slot.header_request != MPI_REQUEST_NULL) {
          MPI_Cancel(&slot.header_request);
          MPI_Request_free(&slot.header_request);
        }
        cudaFree(slot.device);
        cudaEventDestroy(slot.done);
        if (slot.consumed) cudaEventDestroy(slot.consumed);
      }
    cudaStreamDestroy(stream_);
  }

  DeviceLink& add(MPI_Comm pair, int peer_rank, int slots, bool with_consumed) {
    DeviceLink& link = links_.emplace_back();
    link.comm = pair;
    link.peer_rank = peer_rank;
    link.slots.resize(static_cast<size_t>(slots));
    for (DeviceSlot& slot : link.slots) {
      RETORT_CUDA_CHECK(cudaMalloc(&slot.device, slot_bytes_));
      RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming));
      if (!with_consumed) continue;
      RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&slot.consumed, cudaEventDisableTiming));
      RETORT_CUDA_CHECK(cudaEventRecord(slot.consumed, compute_));
    }
    return link;
  }

  DeviceLink& link_of(int link) { return links_[static_cast<size_t>(link)]; }
  DeviceSlot& slot_of(int link, int slot) { return link_of(link).slots[static_cast<size_t>(slot)]; }

  NcclComm nccl_;
  cudaStream_t compute_;
  size_t slot_bytes_;
  cudaStream_t stream_ = nullptr;
  bool done_ = false;  // finished / closed: nothing left in flight

 private:
  std::deque<DeviceLink> links_;
};

class NcclSendSlots final : public SendSlots, DeviceLinks {
 public:
  NcclSendSlots(const Roles& roles, const ChannelConfig& config) : DeviceLinks(roles, config) {
    RETORT_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
    RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&produced_, cudaEventDisableTiming));
    RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&copied_, cudaEventDisableTiming));
  }

  ~NcclSendSlots() override {
    cudaEventDestroy(produced_);
    cudaEventDestroy(copied_);
    cudaStreamDestroy(copy_stream_);
  }

  void add_link(MPI_Comm pair, int student_rank, int slots) override { add(pair, student_rank, slots, false); }

  void send(int link, int slot, const LogitsPayload& p, int64_t step, int32_t student) override {
    DeviceLink& l = link_of(link);
    DeviceSlot& s = slot_of(link, slot);
    const PayloadLayout layout = payload_layout(p.kind, p.dtype, p.rows, p.vocab, p.k);
    // Copy the sections into the slot once the compute stream produced them.
    RETORT_CUDA_CHECK(cudaEventRecord(produced_, compute_));
    RETORT_CUDA_CHECK(cudaStreamWaitEvent(copy_stream_, produced_, 0));
    for (const PayloadSection& section : payload_sections(p, layout))
      RETORT_CUDA_CHECK(cudaMemcpyAsync(s.device + section.offset, section.source, section.bytes,
                                        cudaMemcpyDeviceToDevice, copy_stream_));
    RETORT_CUDA_CHECK(cudaEventRecord(copied_, copy_stream_));
    RETORT_CUDA_CHECK(cudaStreamWaitEvent(compute_, copied_, 0));  // the payload may be reused after this
    RETORT_CUDA_CHECK(cudaStreamWaitEvent(stream_, copied_, 0));

    s.header = message_header(p, step, student);
    s.header.checksum = message_checksum(s.header, nullptr, 0);  // header integrity; the payload stays on the device
    RETORT_MPI_CHECK(MPI_Isend(&s.header, sizeof s.header, MPI_BYTE, 1, kTagData, l.comm, &s.header_request));
    RETORT_NCCL_CHECK(ncclGroupStart());
    RETORT_NCCL_CHECK(ncclSend(s.device, layout.bytes, ncclUint8, l.peer_rank, nccl_.get(), stream_));
    RETORT_NCCL_CHECK(ncclGroupEnd());
    RETORT_CUDA_CHECK(cudaEventRecord(s.done, stream_));
  }

  void send_end(int link, int slot, const WireHeader& end_of_stream) override {
    DeviceSlot& s = slot_of(link, slot);
    s.header = end_of_stream;
    RETORT_MPI_CHECK(MPI_Isend(&s.header, sizeof s.header, MPI_BYTE, 1, kTagData, link_of(link).comm,
                               &s.header_request));
  }

  bool idle(int link, int slot) override {
    DeviceSlot& s = slot_of(link, slot);
    return test_request(s.header_request) && event_done(s.done);
  }

  void finished() override { done_ = true; }

 private:
  cudaStream_t copy_stream_ = nullptr;
  cudaEvent_t produced_ = nullptr, copied_ = nullptr;
};

class NcclRecvSlots final : public RecvSlots, DeviceLinks {
 public:
  NcclRecvSlots(const Roles& roles, const ChannelConfig& config) : DeviceLinks(roles, config) {}

  void add_link(MPI_Comm pair, int teacher_rank, int slots) override { add(pair, teacher_rank, slots, true); }

  void post(int link, int slot) override {
    DeviceSlot& s = slot_of(link, slot);
    RETORT_MPI_CHECK(MPI_Irecv(&s.header, sizeof s.header, MPI_BYTE, 0, kTagData, link_of(link).comm,
                               &s.header_request));
  }

  // When the header arrived: validate it and queue the payload's ncclRecv.
  bool arrived(int link, int slot, const WireExpect& expect) override {
    DeviceLink& l = link_of(link);
    DeviceSlot& s = slot_of(link, slot);
    if (!test_request(s.header_request)) return false;
    s.view = decode_header(s.header, s.device, expect);
    if (s.view.end_of_stream()) return true;
    if (s.header.payload_bytes > slot_bytes_)
      RETORT_RUNTIME_ERROR(fmt::format("logits message from rank {} for step {}: payload of {} bytes exceeds "
                                       "max_payload_bytes {}",
                                       l.peer_rank, expect.step, s.header.payload_bytes, slot_bytes_));
    RETORT_CUDA_CHECK(cudaStreamWaitEvent(stream_, s.consumed, 0));
    RETORT_NCCL_CHECK(ncclGroupStart());
    RETORT_NCCL_CHECK(ncclRecv(s.device, s.header.payload_bytes, ncclUint8, l.peer_rank, nccl_.get(), stream_));
    RETORT_NCCL_CHECK(ncclGroupEnd());
    RETORT_CUDA_CHECK(cudaEventRecord(s.done, stream_));
    return true;
  }

  TeacherView open(int link, int slot, const WireExpect&) override {
    const DeviceSlot& s = slot_of(link, slot);
    if (!s.view.end_of_stream()) RETORT_CUDA_CHECK(cudaStreamWaitEvent(compute_, s.done, 0));
    return s.view;
  }

  void release(int link, int slot) override { RETORT_CUDA_CHECK(cudaEventRecord(slot_of(link, slot).consumed, compute_)); }

  void cancel(int link, int slot) override {
    DeviceSlot& s = slot_of(link, slot);
    RETORT_MPI_CHECK(MPI_Cancel(&s.header_request));
    RETORT_MPI_CHECK(MPI_Wait(&s.header_request, MPI_STATUS_IGNORE));
  }

  void closed() override {
    RETORT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    done_ = true;
  }
};

}  // namespace

std::unique_ptr<SendSlots> make_nccl_send_slots(const Roles& roles, const ChannelConfig& config) {
  return std::make_unique<NcclSendSlots>(roles, config);
}

std::unique_ptr<RecvSlots> make_nccl_recv_slots(const Roles& roles, const ChannelConfig& config) {
  return std::make_unique<NcclRecvSlots>(roles, config);
}

}  // namespace retort::comm
