// `retort tokenizer train|encode|decode`: train a SentencePiece BPE model, print a text's ids
// as one JSON array (or one per line with --lines), print the text of a JSON array of ids.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "core/base/error.h"
#include "core/text/sentencepiece_tokenizer.h"
#include "core/text/tokenizer.h"
#include "core/text/utf8.h"
#include "launch/commands.h"

namespace retort::launch {
namespace {

// The bytes of `file`, or of stdin when it is empty.
std::string read_input(const std::string& file) {
  if (file.empty()) return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  std::ifstream in(file, std::ios::binary);
  if (!in) RETORT_INPUT_ERROR(file + ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string input_name(const std::string& file) { return file.empty() ? "<stdin>" : file; }

}  // namespace

int run_tokenizer_train(const TokenizerTrainOptions& options) {
  core::SentencePieceTrainOptions train;
  train.corpus = options.corpus;
  train.out_dir = options.out_dir;
  train.vocab_size = options.vocab_size;
  train.max_sentences = options.max_sentences;
  const std::string model = core::train_sentencepiece(train);
  std::printf("%s\n", model.c_str());
  return 0;
}

int run_tokenizer_encode(const TokenizerIoOptions& options) {
  const auto tokenizer = core::open_tokenizer(options.tokenizer);
  const std::string text = read_input(options.file);
  const size_t bad = core::utf8_invalid_offset(text);
  if (bad != std::string::npos)
    RETORT_INPUT_ERROR(input_name(options.file) + ": not valid UTF-8 at byte offset " + std::to_string(bad));
  std::vector<std::string_view> pieces;
  if (options.lines) {
    for (size_t begin = 0; begin < text.size();) {
      const size_t end = std::min(text.find('\n', begin), text.size());
      pieces.push_back(std::string_view(text).substr(begin, end - begin));
      begin = end + 1;
    }
  } else {
    pieces.push_back(text);
  }
  std::string out;
  for (const std::string_view piece : pieces) {
    out += '[';
    const std::vector<int32_t> ids = tokenizer->encode(piece);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ',';
      out += std::to_string(ids[i]);
    }
    out += "]\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int run_tokenizer_decode(const TokenizerIoOptions& options) {
  const auto tokenizer = core::open_tokenizer(options.tokenizer);
  const std::string name = input_name(options.file);
  nlohmann::json array;
  try {
    array = nlohmann::json::parse(read_input(options.file));
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(name + ": not a JSON array of token ids (" + std::string(e.what()) + ")");
  }
  if (!array.is_array()) RETORT_INPUT_ERROR(name + ": not a JSON array of token ids");
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_number_integer() || array[i].get<int64_t>() < 0 || array[i].get<int64_t>() >= tokenizer->vocab_size())
      RETORT_INPUT_ERROR(name + ": element " + std::to_string(i) + " (" + array[i].dump() +
                         ") is not a token id in [0, " + std::to_string(tokenizer->vocab_size()) + ")");
    ids.push_back(array[i].get<int32_t>());
  }
  const std::string text = tokenizer->decode(ids);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace retort::launch
