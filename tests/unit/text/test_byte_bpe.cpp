// Byte-level BPE on small hand-made tokenizer.json files: merge order by rank, added tokens
// (leftmost-longest, before pre-tokenization), pre-tokenizer steps, round trips, content hash,
// thread safety, and the refused features with their messages.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "core/base/error.h"
#include "core/text/byte_bpe_tokenizer.h"
#include "core/text/byte_level.h"
#include "core/text/gguf_tokenizer.h"
#include "core/text/regex_split.h"
#include "core/text/tokenizer.h"
#include "tests/unit/text/error_message.h"

using namespace retort::core;
using nlohmann::json;

namespace {

// A byte-level BPE tokenizer.json: ids 0..255 are the byte symbols, then one id per merge
// result in merge order (merges given as "a b" with byte-level symbols).
json make_tokenizer(const std::vector<std::string>& merges, json pre_tokenizer = json()) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_symbols()[b]] = b;
  int next = 256;
  for (const std::string& m : merges) {
    const size_t space = m.find(' ');
    const std::string merged = m.substr(0, space) + m.substr(space + 1);
    if (!vocab.contains(merged)) vocab[merged] = next++;
  }
  if (pre_tokenizer.is_null()) pre_tokenizer = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  return {{"version", "1.0"},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"vocab", vocab}, {"merges", merges}}}};
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("retort-text-" + std::to_string(::getpid()) + "-" +
                                                      std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const json& j) const {
    std::ofstream(path / name) << j.dump();
    return (path / name).string();
  }
};

std::unique_ptr<Tokenizer> load(const json& j) {
  TempDir dir;
  return open_tokenizer(dir.write("tokenizer.json", j));
}

std::string input_error_of(const json& j) {
  TempDir dir;
  const std::string path = dir.write("tokenizer.json", j);
  try {
    open_tokenizer(path);
  } catch (const retort::Error& e) {
    CHECK(e.kind() == retort::ErrorKind::input);
    const std::string m = e.message();
    return m.substr(0, path.size()) == path ? m.substr(path.size()) : m;
  }
  return "(no error)";
}

using Ids = std::vector<int32_t>;

}  // namespace

TEST_CASE("BPE merges the lowest-rank pair first") {
  // "a b" -> 256, "Ġ a" -> 257, "b c" -> 258, "a bc" -> 259
  const auto tok = load(make_tokenizer({"a b", "\xC4\xA0 a", "b c", "a bc"}));
  CHECK(tok->kind() == TokenizerKind::byte_level_bpe);
  CHECK(tok->vocab_size() == 260);
  CHECK(tok->encode("abc") == Ids{256, 'c'});           // "a b" (rank 0) beats "b c" (rank 2)
  CHECK(tok->encode("ab ab") == Ids{256, ' ', 256});    // pieces "ab", " ab": "a b" beats "Ġ a"
  CHECK(tok->encode("bc") == Ids{258});
  const auto swapped = load(make_tokenizer({"b c", "a b", "a bc"}));
  CHECK(swapped->encode("abc") == Ids{258});            // ids: "bc" 256, "ab" 257, "abc" 258
  CHECK(swapped->encode("abcabc") == Ids{258, 258});
}

TEST_CASE("merges in the [a, b] pair form equal the string form") {
  json pairs = make_tokenizer({"a b", "b c", "a bc"});
  pairs["model"]["merges"] = json::array({json::array({"a", "b"}), json::array({"b", "c"}), json::array({"a", "bc"})});
  const auto a = load(make_tokenizer({"a b", "b c", "a bc"})), b = load(pairs);
  CHECK(a->encode("abcab cab") == b->encode("abcab cab"));
  CHECK(a->content_hash() == b->content_hash());
}

TEST_CASE("added tokens are matched in text first, leftmost-longest") {
  json j = make_tokenizer({"a b"});
  j["added_tokens"] = json::array({
      {{"id", 300}, {"content", "<|x|>"}, {"special", true}, {"normalized", false}, {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
      {{"id", 301}, {"content", "<|x|><|y|>"}, {"special", true}, {"normalized", false}},
      {{"id", 302}, {"content", "ab"}, {"special", false}, {"normalized", true}},
  });
  const auto tok = load(j);
  CHECK(tok->vocab_size() == 303);
  CHECK(tok->encode("a<|x|>b") == Ids{'a', 300, 'b'});
  CHECK(tok->encode("<|x|><|y|><|x|>") == Ids{301, 300});
  CHECK(tok->encode("cab") == Ids{'c', 302});  // the added "ab" wins over the merge "a b"
  CHECK(tok->special_tokens().size() == 2);
  CHECK(tok->special_tokens()[0].content == "<|x|>");
  CHECK(tok->decode(tok->encode("q<|x|><|y|>ab z")) == "q<|x|><|y|>ab z");
}

TEST_CASE("pre-tokenizer: Digits, Split regex, prefix space") {
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  const json digits = {{"type", "Sequence"}, {"pretokenizers", json::array({{{"type", "Digits"}, {"individual_digits", true}}, byte_level})}};
  const auto with_digits = load(make_tokenizer({"1 2", "12 3"}, digits));
  CHECK(with_digits->encode("123") == Ids{'1', '2', '3'});
  CHECK(load(make_tokenizer({"1 2", "12 3"}))->encode("123") == Ids{257});

  const json split = {{"type", "Sequence"},
                      {"pretokenizers", json::array({{{"type", "Split"}, {"pattern", {{"Regex", "\\p{N}{1,2}"}}}, {"behavior", "Isolated"}, {"invert", false}},
                                                     {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  CHECK(load(make_tokenizer({"1 2", "12 3"}, split))->encode("123") == Ids{256, '3'});

  const json prefix = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  CHECK(load(make_tokenizer({"a b"}, prefix))->encode("ab") == Ids{' ', 256});
}

TEST_CASE("\\s is Unicode White_Space (NEL included) as in Oniguruma") {
  // PCRE2's own UCP \s leaves out U+0085, which would make "\u0085\u0085" one punctuation
  // piece; as White_Space each is a whitespace piece, as before any letter.
  const std::string nel = "\xC2\x85";
  const RegexSplit gpt2(kGpt2SplitPattern, false, "test");
  std::vector<std::string_view> pieces;
  const std::string text = "a" + nel + nel + "b \xE3\x80\x80x";  // U+3000 ideographic space too
  gpt2.split(text, pieces);
  CHECK(pieces == std::vector<std::string_view>{"a", nel, nel, "b", " ", "\xE3\x80\x80", "x"});
  CHECK(onig_whitespace_to_pcre2("[^\\s\\p{L}]|\\s+(?!\\S)", "t") ==
        "[^\\t-\\r\\x{85}\\p{Z}\\p{L}]|[\\t-\\r\\x{85}\\p{Z}]+(?![^\\t-\\r\\x{85}\\p{Z}])");
}

TEST_CASE("ignore_merges takes a whole vocabulary word as it is") {
  json j = make_tokenizer({"a b", "b c"});
  j["model"]["vocab"]["abc"] = 300;
  CHECK(load(j)->encode("abc") == Ids{256, 'c'});
  j["model"]["ignore_merges"] = true;
  CHECK(load(j)->encode("abc") == Ids{300});
}

TEST_CASE("a vocab id far beyond the file's entries is an input error, not an allocation") {
  json j = make_tokenizer({"a b"});
  j["model"]["vocab"]["abc"] = 100000000;  // would size the id table to 10^8 strings (3.6 GB)
  CHECK_THROWS_WITH(load(j), Catch::Contains("model.vocab['abc'] has id 100000000, beyond"));
  j["model"]["vocab"]["abc"] = 5000;  // a gap of ~4,700 ids, within the slack: accepted
  CHECK(load(j)->encode("abc") == Ids{256, 'c'});
}

TEST_CASE("decode(encode(x)) == x and decode names a bad id") {
  const auto tok = load(make_tokenizer({"a b", "\xC4\xA0 a"}));
  for (const std::string text : {"", "ab ab\n\n  x", "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80!", "e\xCC\x81 's 'll 12345"})
    CHECK(tok->decode(tok->encode(text)) == text);
  const Ids bad{5000};
  CHECK(error_message([&] { tok->decode(bad); }) == "token id 5000 is outside the vocabulary of 258");
  CHECK(error_message([&] { tok->encode("ok\xFF"); }) == "text is not valid UTF-8 at byte offset 2");
}

TEST_CASE("content hash follows what decides the ids") {
  const auto a = load(make_tokenizer({"a b", "b c"})), b = load(make_tokenizer({"a b", "b c"}));
  const auto c = load(make_tokenizer({"b c", "a b"}));
  CHECK(a->content_hash() == b->content_hash());
  CHECK(a->content_hash() != c->content_hash());
}

TEST_CASE("bos/eos from tokenizer_config.json or well-known names") {
  json j = make_tokenizer({});
  j["added_tokens"] = json::array({{{"id", 256}, {"content", "<|endoftext|>"}, {"special", true}},
                                   {{"id", 257}, {"content", "<|im_start|>"}, {"special", true}}});
  CHECK(load(j)->eos_id() == 256);
  TempDir dir;
  const std::string path = dir.write("tokenizer.json", j);
  dir.write("tokenizer_config.json", json{{"bos_token", "<|endoftext|>"}, {"eos_token", {{"content", "<|im_start|>"}}}});
  const auto tok = open_tokenizer(dir.path.string());  // the model directory
  CHECK(tok->bos_id() == 256);
  CHECK(tok->eos_id() == 257);
}

TEST_CASE("encode is thread-safe and matches the serial result") {
  const auto tok = load(make_tokenizer({"a b", "\xC4\xA0 a", "b c", "a bc"}));
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) texts.push_back(std::string(static_cast<size_t>(i % 7), ' ') + "abc ab bca " + std::to_string(i));
  std::vector<Ids> serial;
  for (const auto& t : texts) serial.push_back(tok->encode(t));
  std::vector<Ids> parallel(texts.size());
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < texts.size(); i += 4) parallel[i] = tok->encode(texts[i]);
    });
  for (auto& th : pool) th.join();
  CHECK(parallel == serial);
}

TEST_CASE("unsupported tokenizer.json features are refused by name") {
  json j = make_tokenizer({"a b"});
  j["normalizer"] = {{"type", "NFC"}};
  CHECK(input_error_of(j) == ": normalizer NFC is not supported (only none)");
  j = make_tokenizer({"a b"});
  j["model"]["type"] = "WordPiece";
  CHECK(input_error_of(j) == ": model type WordPiece is not supported (only byte-level BPE; use a SentencePiece .model for Unigram)");
  j = make_tokenizer({"a b"}, {{"type", "Metaspace"}});
  CHECK(input_error_of(j) == ": pre_tokenizer Metaspace is not supported (Sequence, Split, Digits, ByteLevel are)");
  j = make_tokenizer({"a b"}, {{"type", "Digits"}});
  CHECK(input_error_of(j) == ": no ByteLevel pre_tokenizer (only byte-level BPE is supported)");
  j = make_tokenizer({"a b"});
  j["model"]["merges"].push_back("a b c");
  CHECK(input_error_of(j) == ": merge 1 'a b c' is not of the form 'a b'");
  j = make_tokenizer({"a b"});
  j["model"]["merges"].push_back("x \xE4\xB8\xAD");
  CHECK(input_error_of(j) == ": merge 1 'x \xE4\xB8\xAD' uses or makes a token that is not in the vocabulary");
  j = make_tokenizer({"a b"});
  j["decoder"] = {{"type", "WordPiece"}};
  CHECK(input_error_of(j) == ": decoder WordPiece is not supported (only ByteLevel)");
  j = make_tokenizer({"a b"});
  j["added_tokens"] = json::array({{{"id", 256}, {"content", "<x>"}, {"lstrip", true}}});
  CHECK(input_error_of(j) == ": added token '<x>' sets lstrip, which is not supported");
  const json bad_regex = {{"type", "Split"}, {"pattern", {{"Regex", "("}}}, {"behavior", "Isolated"}};
  j = make_tokenizer({"a b"}, {{"type", "Sequence"}, {"pretokenizers", json::array({bad_regex, {{"type", "ByteLevel"}}})}});
  CHECK_THAT(input_error_of(j), Catch::StartsWith(": pre-tokenizer regex does not compile at offset 1"));
}

TEST_CASE("GGUF pre-tokenizer names map to llama.cpp's splits") {
  const auto pieces = [](const std::string& pre, const std::string& text) {
    std::vector<std::string> cur{text};
    for (const PreTokenizeStep& step : gguf_pre_tokenizer(pre, "m.gguf")) {
      const RegexSplit split(step.pattern, step.kind == PreTokenizeStep::Kind::split_literal, "m.gguf");
      std::vector<std::string> next;
      for (const std::string& p : cur) {
        std::vector<std::string_view> out;
        split.split(p, out);
        next.insert(next.end(), out.begin(), out.end());
      }
      cur = next;
    }
    return cur;
  };
  using P = std::vector<std::string>;
  CHECK(pieces("gpt2", "I'll pay 12345 now") == P{"I", "'ll", " pay", " 12345", " now"});
  CHECK(pieces("smollm", "I'll pay 12345") == P{"I", "'ll", " pay", " ", "1", "2", "3", "4", "5"});
  CHECK(pieces("llama-bpe", "I'LL pay 12345\n\n x") == P{"I", "'LL", " pay", " ", "123", "45", "\n\n", " x"});
  CHECK(pieces("qwen2", "It'S 123") == P{"It", "'S", " ", "1", "2", "3"});
  CHECK(error_message([] { gguf_pre_tokenizer("deepseek-coder", "m.gguf"); }) ==
        "m.gguf: tokenizer.ggml.pre 'deepseek-coder' is not supported (gpt2, smollm, llama-bpe, qwen2 and their aliases are)");
}
