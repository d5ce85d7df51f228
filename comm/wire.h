// The logits wire format (pure functions, no MPI): a fixed 72-byte little-endian header (magic,
// version, kind, dtype, step, student, rows, vocab, k, the temperature the targets were made at,
// the tokenizer hash, the sampled draws' seed, payload bytes, XXH3-64 of the payload seeded with
// XXH3-64 of the header's first 64 bytes, so a flipped header bit fails it too) followed by the
// payload. Dense: rows*vocab values. Top-k: rows*k u32 indices, rows*k values (padded to 8 bytes),
// rows fp32 log-sum-exp. Sampled (k = n draws): rows*n u32 ids, rows*n u16 counts (padded to 8
// bytes), rows*n fp32 log-probabilities (core/lm/lm_targets.h). Values are fp32 or bf16; a sampled
// message's dtype is the precision its fp32 log-probabilities were rounded to.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/base/dtype.h"

namespace retort::comm {

static_assert(std::endian::native == std::endian::little, "the wire format is little-endian");

inline constexpr uint32_t kWireMagic = 0x474c5452u;  // bytes "RTLG"
inline constexpr uint16_t kWireVersion = 2;

enum class PayloadKind : uint8_t { dense = 0, topk = 1, end_of_stream = 2, sampled = 3 };
const char* payload_kind_name(PayloadKind k);  // "dense" | "top-k" | "end-of-stream" | "sampled"

struct WireHeader {
  uint32_t magic = kWireMagic;
  uint16_t version = kWireVersion;
  PayloadKind kind = PayloadKind::dense;
  DType dtype = DType::f32;  // of the values (fp32 or bf16)
  int64_t step = 0;
  int32_t student = 0;
  int32_t rows = 0;
  int32_t vocab = 0;
  int32_t k = 0;             // top-k: k; sampled: n draws; 0 for dense
  float temperature = 1;     // the T the targets were made at (top-k lse, sampled p)
  uint32_t reserved = 0;     // always 0 (keeps the 8-byte fields aligned)
  uint64_t tokenizer_hash = 0;  // of the teacher's data tokenizer (0: none)
  uint64_t seed = 0;         // sampled: the draws' seed; else 0
  uint64_t payload_bytes = 0;
  uint64_t checksum = 0;     // see message_checksum
};
static_assert(sizeof(WireHeader) == 72);

// What a teacher hands to the channel (host or device pointers, not owned).
struct LogitsPayload {
  PayloadKind kind = PayloadKind::dense;
  DType dtype = DType::f32;
  int64_t rows = 0;
  int64_t vocab = 0;
  int64_t k = 0;                      // top-k: k; sampled: n
  const void* values = nullptr;       // dense: [rows, vocab]; top-k: [rows, k] (dtype);
                                      // sampled: [rows, n] fp32 log-probabilities
  const uint32_t* indices = nullptr;  // top-k and sampled: [rows, k]
  const float* lse = nullptr;         // top-k only: [rows], full-vocabulary log-sum-exp
  const uint16_t* counts = nullptr;   // sampled only: [rows, n] draws per slot
  float temperature = 1;              // the header fields of the same names
  uint64_t tokenizer_hash = 0;
  uint64_t seed = 0;
};

// What a student gets back: the validated header and typed pointers into the message buffer
// (valid until the next recv on the channel). Callers convert values by `dtype`.
struct TeacherView {
  WireHeader header;
  bool end_of_stream() const { return header.kind == PayloadKind::end_of_stream; }
  PayloadKind kind() const { return header.kind; }
  DType dtype() const { return header.dtype; }
  int64_t rows() const { return header.rows; }
  int64_t vocab() const { return header.vocab; }
  int64_t k() const { return header.k; }
  float temperature() const { return header.temperature; }
  uint64_t tokenizer_hash() const { return header.tokenizer_hash; }
  uint64_t seed() const { return header.seed; }
  const void* values = nullptr;
  const uint32_t* indices = nullptr;
  const float* lse = nullptr;
  const uint16_t* counts = nullptr;
};

// XXH3-64 of the payload with seed = XXH3-64 of the header bytes before the checksum field.
uint64_t message_checksum(const WireHeader& header, const void* payload, size_t payload_bytes);

// Byte offsets of the payload sections (relative to the payload start).
struct PayloadLayout {
  size_t indices = 0, values = 0, lse = 0, counts = 0, bytes = 0;
};
// Throws an input error on an invalid shape/dtype/kind combination.
PayloadLayout payload_layout(PayloadKind kind, DType dtype, int64_t rows, int64_t vocab, int64_t k);

// One contiguous piece of a payload: `bytes` from `source` go to payload offset `offset`.
struct PayloadSection {
  size_t offset = 0;
  const void* source = nullptr;
  size_t bytes = 0;
};
// The sections of `p` in offset order (the gaps between them are padding). Every sender copies
// these (memcpy on the host, device copies on NCCL).
std::vector<PayloadSection> payload_sections(const LogitsPayload& p, const PayloadLayout& layout);
// The header of a data message of `p` for (step, student): every field but the checksum (0).
WireHeader message_header(const LogitsPayload& p, int64_t step, int32_t student);

// Header + payload size of a message.
size_t encoded_size(const LogitsPayload& p);
// Writes header + payload for (step, student) into `out` (size >= encoded_size); returns bytes
// written. Host pointers only.
size_t encode(const LogitsPayload& p, int64_t step, int32_t student, std::span<std::byte> out);
std::vector<std::byte> encode(const LogitsPayload& p, int64_t step, int32_t student);
// An end-of-stream message: header only, kind end_of_stream.
WireHeader end_of_stream_header(int64_t step, int32_t student);

// What a receiver's job expects of every data message (the student's config and data); -1 or
// unset = not checked. A mismatch is the two jobs' configs disagreeing: an input error naming
// both sides.
struct PayloadExpect {
  int64_t rows = -1;
  int64_t vocab = -1;
  std::optional<PayloadKind> kind;
  int64_t k = -1;
  std::optional<DType> dtype;
  std::optional<float> temperature;
  std::optional<uint64_t> tokenizer_hash;
  std::optional<uint64_t> seed;
};

// What the receiver expects.
struct WireExpect {
  int peer_rank = -1;  // named in errors
  int64_t step = 0;
  int32_t student = 0;
  PayloadExpect payload;
};
// Validates every header field (magic, version, kind, dtype, step, student, shapes, payload
// size against the message size, checksum, then expect.payload) and returns a view into
// `message`. An end-of-stream message is accepted for any step >= expect.step. Throws a runtime
// error naming the peer rank and the expected step on a corrupt or misaddressed message, an
// input error naming both sides when a field disagrees with expect.payload.
TeacherView decode(std::span<const std::byte> message, const WireExpect& expect);
// Header-only validation (NCCL path, where the payload stays on the device): the same field
// checks, and the checksum must be message_checksum(header, nullptr, 0) (the header alone);
// `payload` is where the payload bytes live.
TeacherView decode_header(const WireHeader& header, const void* payload, const WireExpect& expect);

}  // namespace retort::comm
