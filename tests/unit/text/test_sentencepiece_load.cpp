// Loading SentencePiece models libsentencepiece refuses: by status, and by an exception from its
// bundled darts-clone (a piece holding a NUL byte; a long-fuzz finding). Both are input errors
// naming the file.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "core/text/tokenizer.h"
#include "tests/unit/text/error_message.h"

using namespace retort::core;

namespace {

std::string write_model(const std::string& bytes) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("retort_spm_" + std::to_string(getpid()) + ".model");
  std::ofstream(path, std::ios::binary) << bytes;
  return path.string();
}

}  // namespace

TEST_CASE("sentencepiece: a model with a NUL byte in a piece is an input error naming the file", "[text][sentencepiece]") {
  // ModelProto with pieces "<unk>", "\0s>", "</s>", "▁", "s", "e", "a" and an identity normalizer
  // (tests/fuzz/regressions/fuzz_tokenizer/sentencepiece-piece-with-nul-byte without its first byte).
  static const unsigned char kModel[] = {
      0x0a, 0x0e, 0x0a, 0x05, 0x3c, 0x75, 0x6e, 0x6b, 0x3e, 0x15, 0x00, 0x00, 0x00, 0x00, 0x18, 0x02, 0x0a, 0x0c,
      0x0a, 0x0a, 0x00, 0x73, 0x3e, 0x15, 0x00, 0x00, 0x00, 0x00, 0x18, 0x03, 0x0a, 0x0d, 0x0a, 0x04, 0x3c, 0x2f,
      0x73, 0x3e, 0x15, 0x00, 0x00, 0x00, 0x00, 0x18, 0x03, 0x0a, 0x0a, 0x0a, 0x03, 0xe2, 0x96, 0x81, 0x15, 0x97,
      0x9c, 0x01, 0xc0, 0x0a, 0x08, 0x0a, 0x01, 0x73, 0x15, 0xd6, 0x1b, 0x4c, 0xc0, 0x0a, 0x08, 0x0a, 0x01, 0x65,
      0x15, 0xc2, 0xf1, 0x52, 0x96, 0x81, 0x61, 0x15, 0x80, 0xd7, 0x00, 0x00, 0xa0, 0x03, 0x00, 0x1a, 0x12, 0x0a,
      0x08, 0x69, 0x64, 0x65, 0x6e, 0x74, 0x69, 0x74, 0x79, 0x12, 0x00, 0x18, 0x01, 0x20, 0x01, 0x32, 0x00};
  const std::string path = write_model(std::string(reinterpret_cast<const char*>(kModel), sizeof kModel));
  const std::string message = error_message([&] { open_tokenizer(path); });
  std::filesystem::remove(path);
  CHECK(message.rfind(path + ": not a SentencePiece model (", 0) == 0);
}

TEST_CASE("sentencepiece: bytes that are no ModelProto are an input error naming the file", "[text][sentencepiece]") {
  const std::string path = write_model("this is not a protobuf");
  const std::string message = error_message([&] { open_tokenizer(path); });
  std::filesystem::remove(path);
  CHECK(message.rfind(path + ": not a SentencePiece model (", 0) == 0);
}
