// Encode/decode of logits messages and the validation of every header field.
#include "comm/wire.h"

#include <fmt/format.h>
#include <xxhash.h>

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
  }
  return "unknown";
}

namespace {

size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }
bool valid_kind(uint8_t k) { return k <= static_cast<uint8_t>(PayloadKind::end_of_stream); }
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

size_t encode(const LogitsPayload& p, int64_t step, int32_t student, std::span<std::byte> out) {
  const PayloadLayout l = payload_layout(p.kind, p.dtype, p.rows, p.vocab, p.k);
  const size_t total = sizeof(WireHeader) + l.bytes;
  RETORT_CHECK(out.size() >= total, fmt::format("encode buffer of {} bytes < message of {} bytes", out.size(), total));
  std::byte* payload = out.data() + sizeof(WireHeader);
  if (p.kind == PayloadKind::dense) {
    std::memcpy(payload, p.values, l.bytes);
  } else if (p.kind == PayloadKind::topk) {
    const size_t n = static_cast<size_t>(p.rows * p.k);
    std::memcpy(payload + l.indices, p.indices, n * sizeof(uint32_t));
    std::memcpy(payload + l.values, p.values, n * dtype_size(p.dtype));
    std::memset(payload + l.values + n * dtype_size(p.dtype), 0, l.lse - (l.values + n * dtype_size(p.dtype)));
    std::memcpy(payload + l.lse, p.lse, static_cast<size_t>(p.rows) * sizeof(float));
  }
  WireHeader h = p.kind == PayloadKind::end_of_stream ? end_of_stream_header(step, student) : WireHeader{};
  if (p.kind != PayloadKind::end_of_stream) {
    h.kind = p.kind;
    h.dtype = p.dtype;
    h.step = step;
    h.student = student;
    h.rows = static_cast<int32_t>(p.rows);
    h.vocab = static_cast<int32_t>(p.vocab);
    h.k = static_cast<int32_t>(p.k);
    h.payload_bytes = l.bytes;
    h.checksum = message_checksum(h, payload, l.bytes);
  }
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

// Validates everything but the checksum and the message size; returns the payload layout.
PayloadLayout validate_header(const WireHeader& h, const WireExpect& e) {
  if (h.magic != kWireMagic) reject(e, fmt::format("bad magic 0x{:08x}, expected 0x{:08x}", h.magic, kWireMagic));
  if (h.version != kWireVersion) reject(e, fmt::format("wire version {}, expected {}", h.version, kWireVersion));
  if (!valid_kind(static_cast<uint8_t>(h.kind))) reject(e, fmt::format("unknown payload kind {}", static_cast<int>(h.kind)));
  if (h.student != e.student) reject(e, fmt::format("addressed to student {}, expected student {}", h.student, e.student));
  if (h.kind == PayloadKind::end_of_stream) {
    if (h.step < e.step) reject(e, fmt::format("end-of-stream for step {}, expected step >= {}", h.step, e.step));
    if (h.payload_bytes != 0) reject(e, fmt::format("end-of-stream with {} payload bytes, expected 0", h.payload_bytes));
    return {};
  }
  if (h.step != e.step) reject(e, fmt::format("step {}, expected step {}", h.step, e.step));
  const std::string problem = shape_problem(h.kind, h.dtype, h.rows, h.vocab, h.k);
  if (!problem.empty()) reject(e, problem);
  if (e.rows >= 0 && h.rows != e.rows) reject(e, fmt::format("rows {}, expected {}", h.rows, e.rows));
  if (e.vocab >= 0 && h.vocab != e.vocab) reject(e, fmt::format("vocab {}, expected {}", h.vocab, e.vocab));
  const PayloadLayout l = layout_unchecked(h.kind, h.dtype, h.rows, h.vocab, h.k);
  if (h.payload_bytes != l.bytes)
    reject(e, fmt::format("payload_bytes {} does not match the {} {} shape {}x{} k {} ({} bytes)", h.payload_bytes,
                          payload_kind_name(h.kind), dtype_name(h.dtype), h.rows, h.vocab, h.k, l.bytes));
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
  return view_of(h, l, payload);
}

TeacherView decode_header(const WireHeader& header, const void* payload, const WireExpect& expect) {
  const PayloadLayout l = validate_header(header, expect);
  const uint64_t sum = message_checksum(header, nullptr, 0);
  if (sum != header.checksum)
    reject(expect, fmt::format("header checksum mismatch (header 0x{:016x}, computed 0x{:016x})", header.checksum, sum));
  return view_of(header, l, static_cast<const std::byte*>(payload));
}

}  // namespace retort::comm
