// MPI slots: the teacher encodes into a host buffer and MPI_Isends it whole; the student has an
// MPI_Irecv of at most header + max_payload_bytes posted per slot and decodes what arrived.
#include "comm/mpi/mpi_slots.h"

#include <cstring>
#include <deque>
#include <mutex>
#include <vector>

#include "comm/mpi/request_wait.h"
#include "comm/mpi_check.h"

namespace retort::comm {
namespace {

struct HostSlot {
  std::unique_ptr<std::byte[]> buffer;
  size_t capacity = 0;
  MPI_Request request = MPI_REQUEST_NULL;
  int bytes = 0;  // student: the size of the message that arrived
};

struct HostLink {
  MPI_Comm comm = MPI_COMM_NULL;
  std::vector<HostSlot> slots;
};

// Transfers still pending when their links were destroyed (error paths only): MPI may still use
// the buffer, so each stays here with its request until MPI completes it (tested whenever links
// are destroyed) or MPI is finalized. The list lives for the whole process, so what it holds
// stays owned (and LeakSanitizer sees it reachable) even when a process exits with some left.
class AbandonedTransfers {
 public:
  static AbandonedTransfers& process() {
    static auto* const all = new AbandonedTransfers;  // never destroyed: MPI may outlive statics
    return *all;
  }

  void add(MPI_Request request, std::unique_ptr<std::byte[]> buffer) {
    std::lock_guard lock(mutex_);
    pending_.push_back({request, std::move(buffer)});
    reap();
  }

 private:
  struct Transfer {
    MPI_Request request;
    std::unique_ptr<std::byte[]> buffer;
  };

  // Frees the buffers MPI is done with: every one once MPI is finalized, else those whose request
  // completed (errors leave the transfer pending: a destructor cannot report them).
  void reap() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) {
      pending_.clear();
      return;
    }
    std::erase_if(pending_, [](Transfer& t) {
      int done = 0;
      return MPI_Test(&t.request, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done;
    });
  }

  std::mutex mutex_;
  std::vector<Transfer> pending_;
};

// What both sides hold: the links' slots. Destroyed with a request pending (error paths only),
// a slot's transfer (a receive cancelled first) goes to AbandonedTransfers with its buffer.
class HostLinks {
 protected:
  explicit HostLinks(bool receives) : receives_(receives) {}
  ~HostLinks() {
    for (HostLink& link : links_)
      for (HostSlot& slot : link.slots) {
        if (slot.request == MPI_REQUEST_NULL) continue;
        if (receives_) MPI_Cancel(&slot.request);
        AbandonedTransfers::process().add(slot.request, std::move(slot.buffer));
      }
  }

  // A link of `slots` slots over `pair`, each with a buffer of `bytes` (0: allocated on use).
  void add(MPI_Comm pair, int slots, size_t bytes) {
    HostLink& link = links_.emplace_back();
    link.comm = pair;
    link.slots.resize(static_cast<size_t>(slots));
    if (bytes > 0)
      for (HostSlot& slot : link.slots) {
        slot.buffer = std::make_unique_for_overwrite<std::byte[]>(bytes);
        slot.capacity = bytes;
      }
  }

  MPI_Comm comm_of(int link) const { return links_[static_cast<size_t>(link)].comm; }
  HostSlot& slot_of(int link, int slot) { return links_[static_cast<size_t>(link)].slots[static_cast<size_t>(slot)]; }

 private:
  bool receives_;
  std::deque<HostLink> links_;
};

class MpiSendSlots final : public SendSlots, HostLinks {
 public:
  MpiSendSlots() : HostLinks(false) {}

  void add_link(MPI_Comm pair, int, int slots) override { add(pair, slots, 0); }

  void send(int link, int slot, const LogitsPayload& payload, int64_t step, int32_t student) override {
    HostSlot& s = reserve(link, slot, encoded_size(payload));
    post(link, s, encode(payload, step, student, {s.buffer.get(), s.capacity}));
  }

  void send_end(int link, int slot, const WireHeader& end_of_stream) override {
    HostSlot& s = reserve(link, slot, sizeof end_of_stream);
    std::memcpy(s.buffer.get(), &end_of_stream, sizeof end_of_stream);
    post(link, s, sizeof end_of_stream);
  }

  bool idle(int link, int slot) override { return test_request(slot_of(link, slot).request); }

  void finished() override {}

 private:
  HostSlot& reserve(int link, int slot, size_t bytes) {
    HostSlot& s = slot_of(link, slot);
    if (s.capacity < bytes) {
      s.buffer = std::make_unique_for_overwrite<std::byte[]>(bytes);
      s.capacity = bytes;
    }
    return s;
  }

  void post(int link, HostSlot& s, size_t bytes) {
    RETORT_MPI_CHECK(MPI_Isend(s.buffer.get(), static_cast<int>(bytes), MPI_BYTE, 1, kTagData, comm_of(link),
                               &s.request));
  }
};

class MpiRecvSlots final : public RecvSlots, HostLinks {
 public:
  explicit MpiRecvSlots(const ChannelConfig& config)
      : HostLinks(true), slot_bytes_(sizeof(WireHeader) + config.max_payload_bytes) {}

  void add_link(MPI_Comm pair, int, int slots) override { add(pair, slots, slot_bytes_); }

  void post(int link, int slot) override {
    HostSlot& s = slot_of(link, slot);
    s.bytes = 0;
    RETORT_MPI_CHECK(MPI_Irecv(s.buffer.get(), static_cast<int>(slot_bytes_), MPI_BYTE, 0, kTagData, comm_of(link),
                               &s.request));
  }

  bool arrived(int link, int slot, const WireExpect&) override {
    HostSlot& s = slot_of(link, slot);
    MPI_Status status;
    if (!test_request(s.request, &status)) return false;
    RETORT_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &s.bytes));
    return true;
  }

  TeacherView open(int link, int slot, const WireExpect& expect) override {
    const HostSlot& s = slot_of(link, slot);
    return decode({s.buffer.get(), static_cast<size_t>(s.bytes)}, expect);
  }

  void release(int, int) override {}

  void cancel(int link, int slot) override {
    HostSlot& s = slot_of(link, slot);
    RETORT_MPI_CHECK(MPI_Cancel(&s.request));
    RETORT_MPI_CHECK(MPI_Wait(&s.request, MPI_STATUS_IGNORE));
  }

  void closed() override {}

 private:
  size_t slot_bytes_;
};

}  // namespace

std::unique_ptr<SendSlots> make_mpi_send_slots() { return std::make_unique<MpiSendSlots>(); }

std::unique_ptr<RecvSlots> make_mpi_recv_slots(const ChannelConfig& config) {
  return std::make_unique<MpiRecvSlots>(config);
}

}  // namespace retort::comm
