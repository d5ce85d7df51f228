// libFuzzer target: bytes as a logits message -> comm::decode (every header field, sizes against
// the message, checksum) and decode_header. Flag byte: bit 0 patches the checksum to match, so
// the field checks behind it are reached; bit 1 expects the step/student the header claims, bit 2
// the payload fields it claims (rows, vocab, kind, k, dtype, temperature, tokenizer hash, seed).
// An accepted view's payload is read in full so a span past the message is caught by ASan.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "comm/wire.h"
#include "tests/fuzz/fuzz_util.h"

using namespace retort::comm;

namespace {
volatile uint8_t g_sink;
void touch(const TeacherView& v) {
  if (v.end_of_stream()) return;
  const bool sampled = v.kind() == PayloadKind::sampled;
  const size_t value_bytes = sampled ? sizeof(float) : retort::dtype_size(v.dtype());
  const size_t n = static_cast<size_t>(v.rows()) * static_cast<size_t>(v.kind() == PayloadKind::dense ? v.vocab() : v.k());
  uint8_t acc = 0;
  const auto* values = static_cast<const uint8_t*>(v.values);
  for (size_t i = 0; i < n * value_bytes; ++i) acc ^= values[i];
  if (sampled)
    for (size_t i = 0; i < n; ++i) acc ^= static_cast<uint8_t>(v.indices[i] ^ v.counts[i]);
  if (v.kind() == PayloadKind::topk) {
    for (size_t i = 0; i < n; ++i) acc ^= static_cast<uint8_t>(v.indices[i]);
    // The log-sum-exps' bytes, not their values (a float outside uint8_t's range does not convert).
    const auto* lse_bytes = reinterpret_cast<const uint8_t*>(v.lse);
    for (size_t i = 0; i < static_cast<size_t>(v.rows()) * sizeof(float); ++i) acc ^= lse_bytes[i];
  }
  g_sink = acc;
}
}  // namespace

// RETORT_FUZZ_SEED_DIR=DIR: real dense fp32, top-2 bf16 and sampled (n = 3) messages (flag byte 6
// first) as seeds.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* seeds = std::getenv("RETORT_FUZZ_SEED_DIR");
  if (!seeds) return 0;
  std::filesystem::create_directories(seeds);
  std::vector<float> values(2 * 5, 0.5f);
  std::vector<uint16_t> bf16(2 * 2, 0x3f80);
  std::vector<uint32_t> indices = {1, 3, 0, 4};
  std::vector<float> lse = {1.5f, 2.5f};
  std::vector<float> log_probs = {-0.5f, -1.5f, -2.5f, -0.25f, -1.25f, -3.0f};
  std::vector<uint32_t> draws = {4, 1, 0, 2, 3, 1};
  std::vector<uint16_t> counts = {5, 2, 1, 6, 1, 1};
  LogitsPayload dense{PayloadKind::dense, retort::DType::f32, 2, 5, 0, values.data(), nullptr, nullptr};
  LogitsPayload topk{PayloadKind::topk, retort::DType::bf16, 2, 5, 2, bf16.data(), indices.data(), lse.data()};
  topk.temperature = 2;
  LogitsPayload sampled{PayloadKind::sampled, retort::DType::f32, 2, 5, 3, log_probs.data(), draws.data(), nullptr,
                        counts.data(), 1.5f, 0x1234abcdULL, 99};
  for (auto [name, payload] : {std::pair{"dense", dense}, std::pair{"topk", topk}, std::pair{"sampled", sampled}}) {
    const auto message = encode(payload, 7, 1);
    std::ofstream out(std::filesystem::path(seeds) / (std::string("wire-") + name), std::ios::binary);
    out.put(6);
    out.write(reinterpret_cast<const char*>(message.data()), static_cast<std::streamsize>(message.size()));
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::vector<std::byte> message(size - 1);
  if (size > 1) std::memcpy(message.data(), data + 1, size - 1);
  WireExpect expect;
  expect.peer_rank = 1;
  if (message.size() >= sizeof(WireHeader)) {
    WireHeader h;
    std::memcpy(&h, message.data(), sizeof h);
    if (flags & 1) {
      h.checksum = message_checksum(h, message.data() + sizeof h, message.size() - sizeof h);
      std::memcpy(message.data(), &h, sizeof h);
    }
    if (flags & 2) {
      expect.step = h.step;
      expect.student = h.student;
    }
    if (flags & 4)
      expect.payload = {h.rows, h.vocab, h.kind, h.k, h.dtype, h.temperature, h.tokenizer_hash, h.seed};
    retort::fuzz::expect_clean_errors("fuzz_wire", [&] {
      WireHeader alone = h;
      alone.checksum = message_checksum(alone, nullptr, 0);
      decode_header(alone, message.data() + sizeof h, expect);
    });
  }
  retort::fuzz::expect_clean_errors("fuzz_wire", [&] { touch(decode(message, expect)); });
  return 0;
}
