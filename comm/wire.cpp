// Encode/decode of logits messages and the validation of every header field.
#include "comm/wire.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

#include "core/base/error.h"

namespace retort::comm {

const char* payload_kind_name(PayloadKind k) {
  switch (k) {
    case PayloadKind::dense: return "dense";
    case PayloadKind::topk: return "top-k";
    case PayloadKind::end_of_stream: return "end-of-stream";
    case PayloadKind::sampled: return "sampled";
  }
  return "unknown";
}

namespace {

size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }
bool valid_kind(uint8_t k) { return k <= static_cast<uint8_t>(PayloadKind::sampled); }
bool valid_value_dtype(DType d) { return d == DType::f32 || d == DType::bf16; }

// Shape problems as text ("" when the shape is valid).
std::string shape_problem(PayloadKind kind, DType dtype, int64_t rows, int64_t vocab, int64_t k) {
  if (kind == PayloadKind::end_of_stream) return {};
  if (!valid_value_dtype(dtype)) return fmt::format("value dtype {} is not fp32 or bf16", static_cast<int>(dtype));
  if (rows < 1 || rows > INT32_MAX) return fmt::format("rows {} out of range", rows);
  if (vocab < 1 || vocab > INT32_MAX) return fmt::format("vocab {} out of range", vocab);
  if (kind == PayloadKind::dense && k != 0) return fmt::format("dense payload with k {} (expected 0)", k);
  if (kind == PayloadKind::topk && (k < 1 || k > vocab))
    return fmt::format("top-k payload with k {} outside 1..vocab ({})", k, vocab);
  if (kind == PayloadKind::sampled && (k < 1 || k > std::min<int64_t>(vocab, UINT16_MAX)))
    return fmt::format("sampled payload with n {} outside 1..min(vocab ({}), 65535)", k, vocab);
  return {};
}

PayloadLayout layout_unchecked(PayloadKind kind, DType dtype, int64_t rows, int64_t vocab, int64_t k) {
  PayloadLayout l;
  const size_t r = static_cast<size_t>(rows), v = static_cast<size_t>(vocab), kk = static_cast<size_t>(k);
  if (kind == PayloadKind::dense) {
    l.bytes = r * v * dtype_size(dtype);
  } else if (kind == PayloadKind::topk) {
    l.values = r * kk * sizeof(uint32_t);
    l.lse = align8(l.values + r * kk * dtype_size(dtype));
    l.bytes = l.lse + r * sizeof(float);
  } else if (kind == PayloadKind::sampled) {
    l.counts = r * kk * sizeof(uint32_t);
    l.values = align8(l.counts + r * kk * sizeof(uint16_t));
    l.bytes = l.values + r * kk * sizeof(float);
  }
  return l;
}

}  // namespace

PayloadLayout payload_layout(PayloadKind kind, DType dtype, int64_t rows, int64_t vocab, int64_t k) {
  const std::string problem = shape_problem(kind, dtype, rows, vocab, k);
  if (!problem.empty()) RETORT_INPUT_ERROR("logits payload: " + problem);
  return layout_unchecked(kind, dtype, rows, vocab, k);
}

size_t encoded_size(const LogitsPayload& p) {
  return sizeof(WireHeader) + payload_layout(p.kind, p.dtype, p.rows, p.vocab, p.k).bytes;
}

uint64_t message_checksum(const WireHeader& header, const void* payload, size_t payload_bytes) {
  const uint64_t seed = XXH3_64bits(&header, offsetof(WireHeader, checksum));
  return XXH3_64bits_withSeed(payload, payload_bytes, seed);
}

WireHeader end_of_stream_header(int64_t step, int32_t student) {
  WireHeader h;
  h.kind = PayloadKind::end_of_stream;
  h.step = step;
  h.student = student;
  h.checksum = message_checksum(h, nullptr, 0);
  return h;
}

std::vector<PayloadSection> payload_sections(const LogitsPayload& p, const PayloadLayout& l) {
  const size_t n = static_cast<size_t>(p.rows) * static_cast<size_t>(p.kind == PayloadKind::dense ? p.vocab : p.k);
  switch (p.kind) {
    case PayloadKind::dense: return {{0, p.values, l.bytes}};
    case PayloadKind::topk:
      return {{l.indices, p.indices, n * sizeof(uint32_t)},
              {l.values, p.values, n * dtype_size(p.dtype)},
              {l.lse, p.lse, static_cast<size_t>(p.rows) * sizeof(float)}};
    case PayloadKind::sampled:
      return {{l.indices, p.indices, n * sizeof(uint32_t)},
              {l.counts, p.counts, n * sizeof(uint16_t)},
              {l.values, p.values, n * sizeof(float)}};
    case PayloadKind::end_of_stream: return {};
  }
  return {};
}

WireHeader message_header(const LogitsPayload& p, int64_t step, int32_t student) {
  RETORT_CHECK(p.kind != PayloadKind::end_of_stream, "message_header is for data messages (see end_of_stream_header)");
  const PayloadLayout l = payload_layout(p.kind, p.dtype, p.rows, p.vocab, p.k);
  WireHeader h;
  h.kind = p.kind;
  h.dtype = p.dtype;
  h.step = step;
  h.student = student;
  h.rows = static_cast<int32_t>(p.rows);
  h.vocab = static_cast<int32_t>(p.vocab);
  h.k = static_cast<int32_t>(p.k);
  h.temperature = p.temperature;
  h.tokenizer_hash = p.tokenizer_hash;
  h.seed = p.seed;
  h.payload_bytes = l.bytes;
  return h;
}

size_t encode(const LogitsPayload& p, int64_t step, int32_t student, std::span<std::byte> out) {
  if (p.kind == PayloadKind::end_of_stream) {
    const WireHeader eos = end_of_stream_header(step, student);
    RETORT_CHECK(out.size() >= sizeof eos, "encode buffer holds the header");
    std::memcpy(out.data(), &eos, sizeof eos);
    return sizeof eos;
  }
  const PayloadLayout l = payload_layout(p.kind, p.dtype, p.rows, p.vocab, p.k);
  const size_t total = sizeof(WireHeader) + l.bytes;
  RETORT_CHECK(out.size() >= total, fmt::format("encode buffer of {} bytes < message of {} bytes", out.size(), total));
  std::byte* payload = out.data() + sizeof(WireHeader);
  size_t written = 0;  // padding between sections is zeroed, so equal payloads give equal bytes
  for (const PayloadSection& s : payload_sections(p, l)) {
    std::memset(payload + written, 0, s.offset - written);
    std::memcpy(payload + s.offset, s.source, s.bytes);
    written = s.offset + s.bytes;
  }
  std::memset(payload + written, 0, l.bytes - written);
  WireHeader h = message_header(p, step, student);
  h.checksum = message_checksum(h, payload, l.bytes);
  std::memcpy(out.data(), &h, sizeof h);
  return total;
}

std::vector<std::byte> encode(const LogitsPayload& p, int64_t step, int32_t student) {
  std::vector<std::byte> out(encoded_size(p));
  encode(p, step, student, out);
  return out;
}

namespace {

[[noreturn]] void reject(const WireExpect& e, const std::string& what) {
  RETORT_RUNTIME_ERROR(fmt::format("logits message from rank {} for step {}: {}", e.peer_rank, e.step, what));
}

// The message is intact but made for another configuration: both sides' values, as an input error.
[[noreturn]] void disagree(const WireExpect& e, const std::string& what) {
  RETORT_INPUT_ERROR(fmt::format("logits message from rank {} for step {}: {}", e.peer_rank, e.step, what));
}

std::string kind_with_k(PayloadKind kind, int64_t k) {
  if (kind == PayloadKind::topk) return fmt::format("top-{}", k);
  if (kind == PayloadKind::sampled) return fmt::format("sampled (n {})", k);
  return payload_kind_name(kind);
}

void check_expected_payload(const WireHeader& h, const WireExpect& e) {
  const PayloadExpect& x = e.payload;
  if (x.rows >= 0 && h.rows != x.rows)
    disagree(e, fmt::format("the teacher sent {} rows, this student expects {}", h.rows, x.rows));
  if (x.vocab >= 0 && h.vocab != x.vocab)
    disagree(e, fmt::format("the teacher's vocabulary is {}, this student's is {}", h.vocab, x.vocab));
  if (x.kind && h.kind != *x.kind)
    disagree(e, fmt::format("the teacher sends {} targets, this student distills from {} targets",
                            payload_kind_name(h.kind), payload_kind_name(*x.kind)));
  if (x.k >= 0 && h.k != x.k)
    disagree(e, fmt::format("the teacher sends {} targets, this student expects {}", kind_with_k(h.kind, h.k),
                            kind_with_k(h.kind, x.k)));
  if (x.dtype && h.dtype != *x.dtype)
    disagree(e, fmt::format("the teacher's targets are {}, this student expects {}", dtype_name(h.dtype),
                            dtype_name(*x.dtype)));
  if (x.temperature && h.temperature != *x.temperature)
    disagree(e, fmt::format("the teacher's targets were made at temperature {}, this student distills at {}",
                            h.temperature, *x.temperature));
  if (x.tokenizer_hash && h.tokenizer_hash != *x.tokenizer_hash)
    disagree(e, fmt::format("the teacher's tokenizer hash is 0x{:016x}, this student's data tokenizer hash is 0x{:016x}",
                            h.tokenizer_hash, *x.tokenizer_hash));
  if (x.seed && h.seed != *x.seed)
    disagree(e, fmt::format("the teacher's sampled draws use seed {}, this student expects seed {}", h.seed, *x.seed));
}

// Validates everything but the checksum and the message size; returns the payload layout.
PayloadLayout validate_header(const WireHeader& h, const WireExpect& e) {
  if (h.magic != kWireMagic) reject(e, fmt::format("bad magic 0x{:08x}, expected 0x{:08x}", h.magic, kWireMagic));
  if (h.version != kWireVersion) reject(e, fmt::format("wire version {}, expected {}", h.version, kWireVersion));
  if (!valid_kind(static_cast<uint8_t>(h.kind))) reject(e, fmt::format("unknown payload kind {}", static_cast<int>(h.kind)));
  if (h.reserved != 0) reject(e, fmt::format("reserved header field {}, expected 0", h.reserved));
  if (h.student != e.student) reject(e, fmt::format("addressed to student {}, expected student {}", h.student, e.student));
  if (h.kind == PayloadKind::end_of_stream) {
    if (h.step < e.step) reject(e, fmt::format("end-of-stream for step {}, expected step >= {}", h.step, e.step));
    if (h.payload_bytes != 0) reject(e, fmt::format("end-of-stream with {} payload bytes, expected 0", h.payload_bytes));
    return {};
  }
  if (h.step != e.step) reject(e, fmt::format("step {}, expected step {}", h.step, e.step));
  const std::string problem = shape_problem(h.kind, h.dtype, h.rows, h.vocab, h.k);
  if (!problem.empty()) reject(e, problem);
  const PayloadLayout l = layout_unchecked(h.kind, h.dtype, h.rows, h.vocab, h.k);
  if (h.payload_bytes != l.bytes)
    reject(e, fmt::format("payload_bytes {} does not match the {} {} shape {}x{} k {} ({} bytes)", h.payload_bytes,
                          payload_kind_name(h.kind), dtype_name(h.dtype), h.rows, h.vocab, h.k, l.bytes));
  if (h.kind != PayloadKind::sampled && h.seed != 0)
    reject(e, fmt::format("{} payload with seed {} (expected 0)", payload_kind_name(h.kind), h.seed));
  return l;
}

TeacherView view_of(const WireHeader& h, const PayloadLayout& l, const std::byte* payload) {
  TeacherView v;
  v.header = h;
  if (h.kind == PayloadKind::dense) {
    v.values = payload;
  } else if (h.kind == PayloadKind::topk) {
    v.indices = reinterpret_cast<const uint32_t*>(payload + l.indices);
    v.values = payload + l.values;
    v.lse = reinterpret_cast<const float*>(payload + l.lse);
  } else if (h.kind == PayloadKind::sampled) {
    v.indices = reinterpret_cast<const uint32_t*>(payload + l.indices);
    v.counts = reinterpret_cast<const uint16_t*>(payload + l.counts);
    v.values = payload + l.values;
  }
  return v;
}

}  // namespace

TeacherView decode(std::span<const std::byte> message, const WireExpect& expect) {
  if (message.size() < sizeof(WireHeader))
    reject(expect, fmt::format("message of {} bytes is shorter than the {}-byte header", message.size(), sizeof(WireHeader)));
  WireHeader h;
  std::memcpy(&h, message.data(), sizeof h);
  const PayloadLayout l = validate_header(h, expect);
  if (message.size() != sizeof(WireHeader) + h.payload_bytes)
    reject(expect, fmt::format("message of {} bytes, header says {} + {} payload bytes", message.size(),
                               sizeof(WireHeader), h.payload_bytes));
  const std::byte* payload = message.data() + sizeof(WireHeader);
  const uint64_t sum = message_checksum(h, payload, h.payload_bytes);
  if (sum != h.checksum)
    reject(expect, fmt::format("payload checksum mismatch (header 0x{:016x}, computed 0x{:016x})", h.checksum, sum));
  if (h.kind != PayloadKind::end_of_stream) check_expected_payload(h, expect);
  return view_of(h, l, payload);
}

TeacherView decode_header(const WireHeader& header, const void* payload, const WireExpect& expect) {
  const PayloadLayout l = validate_header(header, expect);
  const uint64_t sum = message_checksum(header, nullptr, 0);
  if (sum != header.checksum)
    reject(expect, fmt::format("header checksum mismatch (header 0x{:016x}, computed 0x{:016x})", header.checksum, sum));
  if (header.kind != PayloadKind::end_of_stream) check_expected_payload(header, expect);
  return view_of(header, l, static_cast<const std::byte*>(payload));
}

}  // namespace retort::comm
