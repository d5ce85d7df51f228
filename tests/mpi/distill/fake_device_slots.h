// An NCCL-shaped slot transport for CPU-only CI (comm/slot_transport.h, as comm/nccl/nccl_slots.cpp):
// every slot is a buffer of a device Compute (the fake device's separate, checked memory); the
// teacher copies the payload's sections device-to-device into its slot (so a host payload fails
// the fake device's pointer checks), announces it with a header over MPI whose checksum covers
// the header alone, and sends the slot's bytes as a second message (in place of ncclSend); the
// student validates the header, receives the payload into its own device slot and hands out a
// view of device pointers. Credits, acks, order, draining: the protocol's, unchanged.
#pragma once
#include <mpi.h>

#include <deque>
#include <memory>
#include <vector>

#include "comm/mpi/request_wait.h"
#include "comm/slot_transport.h"
#include "core/base/error.h"
#include "core/model/compute.h"

namespace retort::core::test {

// The payload's tag: one per step (modulo), so a payload always meets the receive its header asked for.
inline int payload_tag(int64_t step) { return 16 + static_cast<int>(step % 4096); }

struct FakeDeviceSlot {
  std::byte* device = nullptr;
  comm::WireHeader header;
  MPI_Request header_request = MPI_REQUEST_NULL, payload_request = MPI_REQUEST_NULL;
  comm::TeacherView view;
};

class FakeDeviceLinks {
 protected:
  FakeDeviceLinks(std::shared_ptr<Compute> compute, size_t slot_bytes) : compute_(std::move(compute)), bytes_(slot_bytes) {}
  ~FakeDeviceLinks() {
    for (auto& link : links_)
      for (FakeDeviceSlot& s : link.slots) {
        for (MPI_Request* r : {&s.header_request, &s.payload_request})
          if (*r != MPI_REQUEST_NULL) {
            MPI_Cancel(r);
            MPI_Request_free(r);
          }
        compute_->release(s.device);
      }
  }
  struct Link {
    MPI_Comm comm = MPI_COMM_NULL;
    std::vector<FakeDeviceSlot> slots;
  };
  Link& add(MPI_Comm pair, int slots) {
    Link& link = links_.emplace_back();
    link.comm = pair;
    link.slots.resize(static_cast<size_t>(slots));
    for (FakeDeviceSlot& s : link.slots) s.device = static_cast<std::byte*>(compute_->allocate(bytes_));
    return link;
  }
  Link& link(int l) { return links_[static_cast<size_t>(l)]; }
  FakeDeviceSlot& slot(int l, int s) { return link(l).slots[static_cast<size_t>(s)]; }

  std::shared_ptr<Compute> compute_;
  size_t bytes_;

 private:
  std::deque<Link> links_;
};

class FakeDeviceSendSlots final : public comm::SendSlots, FakeDeviceLinks {
 public:
  FakeDeviceSendSlots(std::shared_ptr<Compute> compute, size_t slot_bytes) : FakeDeviceLinks(std::move(compute), slot_bytes) {}
  void add_link(MPI_Comm pair, int, int slots) override { add(pair, slots); }
  void send(int l, int s, const comm::LogitsPayload& p, int64_t step, int32_t student) override {
    FakeDeviceSlot& slot = this->slot(l, s);
    const comm::PayloadLayout layout = comm::payload_layout(p.kind, p.dtype, p.rows, p.vocab, p.k);
    for (const comm::PayloadSection& section : comm::payload_sections(p, layout))
      compute_->copy(slot.device + section.offset, section.source, section.bytes);  // device to device
    slot.header = comm::message_header(p, step, student);
    slot.header.checksum = comm::message_checksum(slot.header, nullptr, 0);
    MPI_Comm comm = link(l).comm;
    RETORT_CHECK(MPI_Isend(&slot.header, sizeof slot.header, MPI_BYTE, 1, comm::kTagData, comm, &slot.header_request) ==
                     MPI_SUCCESS, "MPI_Isend header");
    RETORT_CHECK(MPI_Isend(slot.device, static_cast<int>(layout.bytes), MPI_BYTE, 1, payload_tag(step), comm,
                           &slot.payload_request) == MPI_SUCCESS, "MPI_Isend payload");
  }
  void send_end(int l, int s, const comm::WireHeader& end) override {
    FakeDeviceSlot& slot = this->slot(l, s);
    slot.header = end;
    RETORT_CHECK(MPI_Isend(&slot.header, sizeof slot.header, MPI_BYTE, 1, comm::kTagData, link(l).comm,
                           &slot.header_request) == MPI_SUCCESS, "MPI_Isend end");
  }
  bool idle(int l, int s) override {
    FakeDeviceSlot& slot = this->slot(l, s);
    return comm::test_request(slot.header_request) && comm::test_request(slot.payload_request);
  }
  void finished() override {}
};

class FakeDeviceRecvSlots final : public comm::RecvSlots, FakeDeviceLinks {
 public:
  FakeDeviceRecvSlots(std::shared_ptr<Compute> compute, size_t slot_bytes) : FakeDeviceLinks(std::move(compute), slot_bytes) {}
  void add_link(MPI_Comm pair, int, int slots) override { add(pair, slots); }
  void post(int l, int s) override {
    FakeDeviceSlot& slot = this->slot(l, s);
    RETORT_CHECK(MPI_Irecv(&slot.header, sizeof slot.header, MPI_BYTE, 0, comm::kTagData, link(l).comm,
                           &slot.header_request) == MPI_SUCCESS, "MPI_Irecv header");
  }
  bool arrived(int l, int s, const comm::WireExpect& expect) override {
    FakeDeviceSlot& slot = this->slot(l, s);
    if (!comm::test_request(slot.header_request)) return false;
    slot.view = comm::decode_header(slot.header, slot.device, expect);
    if (slot.view.end_of_stream()) return true;
    RETORT_CHECK(slot.header.payload_bytes <= bytes_, "fake device slots: payload larger than a slot");
    RETORT_CHECK(MPI_Irecv(slot.device, static_cast<int>(slot.header.payload_bytes), MPI_BYTE, 0,
                           payload_tag(slot.header.step), link(l).comm, &slot.payload_request) == MPI_SUCCESS,
                 "MPI_Irecv payload");
    return true;
  }
  comm::TeacherView open(int l, int s, const comm::WireExpect&) override {
    FakeDeviceSlot& slot = this->slot(l, s);
    if (!slot.view.end_of_stream())
      RETORT_CHECK(MPI_Wait(&slot.payload_request, MPI_STATUS_IGNORE) == MPI_SUCCESS, "MPI_Wait payload");
    return slot.view;
  }
  void release(int, int) override {}
  void cancel(int l, int s) override {
    FakeDeviceSlot& slot = this->slot(l, s);
    MPI_Cancel(&slot.header_request);
    MPI_Wait(&slot.header_request, MPI_STATUS_IGNORE);
  }
  void closed() override {}
};

}  // namespace retort::core::test
