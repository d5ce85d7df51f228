// SentencePiece load/encode/decode and training through libsentencepiece.
#include "core/text/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <xxhash.h>

#include <exception>
#include <filesystem>
#include <unordered_map>

#include "core/base/error.h"
#include "core/text/utf8.h"

namespace retort::core {

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  sentencepiece::util::Status status;
  try {
    status = processor_->Load(path);
  } catch (const std::exception& e) {
    // libsentencepiece reports most bad models by status, but its bundled darts-clone throws on
    // some (a piece with a NUL byte: "zero-length key"; a long-fuzz finding).
    RETORT_INPUT_ERROR(path + ": not a SentencePiece model (" + e.what() + ")");
  }
  if (!status.ok()) RETORT_INPUT_ERROR(path + ": not a SentencePiece model (" + status.ToString() + ")");
  vocab_size_ = processor_->GetPieceSize();
  bos_id_ = processor_->bos_id();
  eos_id_ = processor_->eos_id();
  for (int id = 0; id < processor_->GetPieceSize(); ++id)
    if (processor_->IsControl(id)) specials_.push_back({processor_->IdToPiece(id), id});
  const std::string proto = processor_->serialized_model_proto();
  hash_ = XXH3_64bits(proto.data(), proto.size());
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
  const size_t bad = utf8_invalid_offset(text);
  if (bad != std::string_view::npos) RETORT_INPUT_ERROR("text is not valid UTF-8 at byte offset " + std::to_string(bad));
  std::vector<int> ids;
  const auto status = processor_->Encode(text, &ids);
  if (!status.ok()) RETORT_RUNTIME_ERROR("SentencePiece encode failed: " + status.ToString());
  return {ids.begin(), ids.end()};
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids) const {
  for (const int32_t id : ids)
    if (id < 0 || id >= vocab_size_)
      RETORT_INPUT_ERROR("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab_size_));
  std::string text;
  const auto status = processor_->Decode(std::vector<int>(ids.begin(), ids.end()), &text);
  if (!status.ok()) RETORT_RUNTIME_ERROR("SentencePiece decode failed: " + status.ToString());
  return text;
}

std::string train_sentencepiece(const SentencePieceTrainOptions& options) {
  if (options.corpus.empty()) RETORT_INPUT_ERROR("tokenizer train: no corpus files given");
  if (options.vocab_size < 16) RETORT_INPUT_ERROR("tokenizer train: --vocab " + std::to_string(options.vocab_size) + " is too small");
  std::string inputs;
  for (const std::string& file : options.corpus) {
    if (!std::filesystem::is_regular_file(file)) RETORT_INPUT_ERROR(file + ": corpus file does not exist");
    if (file.find(',') != std::string::npos) RETORT_INPUT_ERROR(file + ": corpus paths cannot contain ','");
    inputs += (inputs.empty() ? "" : ",") + file;
  }
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) RETORT_RUNTIME_ERROR(options.out_dir + ": cannot create (" + ec.message() + ")");
  const std::string prefix = (std::filesystem::path(options.out_dir) / "tokenizer").string();
  std::unordered_map<std::string, std::string> args{
      {"input", inputs},
      {"model_prefix", prefix},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"model_type", "bpe"},
      {"byte_fallback", "true"},
      {"character_coverage", "0.9995"},
      {"minloglevel", "1"},
  };
  if (options.max_sentences > 0) {
    args["input_sentence_size"] = std::to_string(options.max_sentences);
    args["shuffle_input_sentence"] = "true";
  }
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (!status.ok()) RETORT_INPUT_ERROR("tokenizer train: " + status.ToString());
  return prefix + ".model";
}

}  // namespace retort::core
