// `retort tokenize`: UTF-8 text files -> train/validation token shards + manifest.json; and
// `retort shards check`, which validates such a directory.
// Documents are whole files, or the text between lines equal to --separator; each document's
// ids are followed by the tokenizer's EOS. With u = XXH3-64(document index, seed) / 2^64 a
// document goes to validation when u < --val-fraction, else to the held-out test set when
// u < --val-fraction + --test-fraction (written as the "val" split of OUT/test, a shard directory
// of its own with an empty train split), else to train. Tokenization runs in parallel over
// documents; output order (and so the shards) does not depend on the thread count.
#include <omp.h>
#include <xxhash.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/data/token_shards.h"
#include "core/text/tokenizer.h"
#include "core/text/utf8.h"
#include "launch/commands.h"

namespace retort::launch {
namespace {

using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) RETORT_INPUT_ERROR(path + ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The documents of one file's text: all of it, or the runs between separator lines (a line
// equal to `separator`, optionally ending in "\r"); empty documents are dropped.
std::vector<std::string_view> split_documents(std::string_view text, const std::string& separator) {
  std::vector<std::string_view> docs;
  if (separator.empty()) {
    if (!text.empty()) docs.push_back(text);
    return docs;
  }
  size_t doc_begin = 0, line_begin = 0;
  while (line_begin < text.size()) {
    size_t line_end = text.find('\n', line_begin);
    const size_t next = line_end == std::string_view::npos ? text.size() : line_end + 1;
    if (line_end == std::string_view::npos) line_end = text.size();
    std::string_view line = text.substr(line_begin, line_end - line_begin);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line == separator) {
      if (line_begin > doc_begin) docs.push_back(text.substr(doc_begin, line_begin - doc_begin));
      doc_begin = next;
    }
    line_begin = next;
  }
  if (doc_begin < text.size()) docs.push_back(text.substr(doc_begin));
  return docs;
}

// One split's shards, rolled over at document boundaries after shard_tokens tokens.
class SplitWriter {
 public:
  SplitWriter(std::string dir, std::string name, const core::Tokenizer& tok, int64_t shard_tokens)
      : dir_(std::move(dir)), name_(std::move(name)), tok_(tok), shard_tokens_(shard_tokens) {}
  void append(std::span<const int32_t> ids) {
    if (writer_ && writer_->tokens() >= shard_tokens_) close();
    if (!writer_) {
      char file[64];
      std::snprintf(file, sizeof file, "%s-%05zu.tok", name_.c_str(), manifest_.shards.size());
      manifest_.shards.push_back(file);
      writer_ = std::make_unique<core::TokenShardWriter>((std::filesystem::path(dir_) / file).string(),
                                                         tok_.vocab_size(), tok_.content_hash());
    }
    writer_->append_document(ids);
    manifest_.tokens += static_cast<int64_t>(ids.size());
    manifest_.documents += 1;
  }
  core::TokenSplitManifest finish() {
    close();
    return manifest_;
  }

 private:
  void close() {
    if (writer_) writer_->finish();
    writer_.reset();
  }
  std::string dir_, name_;
  const core::Tokenizer& tok_;
  int64_t shard_tokens_;
  std::unique_ptr<core::TokenShardWriter> writer_;
  core::TokenSplitManifest manifest_;
};

enum class DocSplit { train, val, test };
DocSplit split_of(int64_t index, uint64_t seed, double val_fraction, double test_fraction) {
  const double u = static_cast<double>(XXH3_64bits_withSeed(&index, sizeof index, seed)) * 0x1p-64;
  return u < val_fraction ? DocSplit::val : u < val_fraction + test_fraction ? DocSplit::test : DocSplit::train;
}

}  // namespace

int run_tokenize(const TokenizeOptions& o) {
  if (!(o.val_fraction >= 0 && o.val_fraction < 1))
    RETORT_INPUT_ERROR("--val-fraction " + std::to_string(o.val_fraction) + " is not in [0, 1)");
  if (!(o.test_fraction >= 0 && o.val_fraction + o.test_fraction < 1))
    RETORT_INPUT_ERROR("--test-fraction " + std::to_string(o.test_fraction) + " is negative or leaves no training documents");
  if (o.utf8_errors != "strict" && o.utf8_errors != "replace")
    RETORT_INPUT_ERROR("--utf8-errors '" + o.utf8_errors + "' is neither strict nor replace");
  if (o.shard_tokens < 1) RETORT_INPUT_ERROR("--shard-tokens must be at least 1");
  if (o.threads < 0) RETORT_INPUT_ERROR("--threads must be 0 (all cores) or more");
  for (const std::string& in : o.inputs)
    if (!std::filesystem::is_regular_file(in)) RETORT_INPUT_ERROR(in + ": input file does not exist");
  const auto tokenizer = core::open_tokenizer(o.tokenizer);
  const int32_t eos = tokenizer->eos_id();
  if (eos < 0) RETORT_INPUT_ERROR(o.tokenizer + ": the tokenizer has no EOS token to end documents with");
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec) RETORT_RUNTIME_ERROR(o.out_dir + ": cannot create (" + ec.message() + ")");
  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();

  uint64_t total_bytes = 0;
  for (const std::string& in : o.inputs) total_bytes += std::filesystem::file_size(in);
  SplitWriter train(o.out_dir, "train", *tokenizer, o.shard_tokens), val(o.out_dir, "val", *tokenizer, o.shard_tokens);
  const std::string test_dir = (std::filesystem::path(o.out_dir) / "test").string();
  if (o.test_fraction > 0) std::filesystem::create_directories(test_dir, ec);
  if (ec) RETORT_RUNTIME_ERROR(test_dir + ": cannot create (" + ec.message() + ")");
  SplitWriter test(test_dir, "val", *tokenizer, o.shard_tokens);
  const auto start = Clock::now();
  auto last_report = start;
  uint64_t done_bytes = 0;
  int64_t doc_index = 0, tokens = 0;
  const auto mb_per_s = [&] {
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    return s > 0 ? static_cast<double>(done_bytes) / 1e6 / s : 0.0;
  };

  for (const std::string& in : o.inputs) {
    std::string text = read_file(in);
    const size_t bad = core::utf8_invalid_offset(text);
    if (bad != std::string::npos) {
      if (o.utf8_errors == "strict")
        RETORT_INPUT_ERROR(in + ": not valid UTF-8 at byte offset " + std::to_string(bad) +
                           " (--utf8-errors replace substitutes U+FFFD)");
      text = core::utf8_replace_invalid(text);
    }
    const std::vector<std::string_view> docs = split_documents(text, o.separator);
    // Batches of documents: encoded in parallel, appended in order.
    constexpr size_t kBatchBytes = size_t{8} << 20;
    size_t first = 0;
    while (first < docs.size()) {
      size_t last = first, bytes = 0;
      while (last < docs.size() && (last == first || bytes < kBatchBytes)) bytes += docs[last++].size();
      std::vector<std::vector<int32_t>> ids(last - first);
      std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (size_t d = first; d < last; ++d) {
        try {
          ids[d - first] = tokenizer->encode(docs[d]);
          ids[d - first].push_back(eos);
        } catch (...) {
#pragma omp critical
          if (!error) error = std::current_exception();
        }
      }
      if (error) std::rethrow_exception(error);
      for (auto& doc : ids) {
        const DocSplit split = split_of(doc_index++, o.seed, o.val_fraction, o.test_fraction);
        (split == DocSplit::val ? val : split == DocSplit::test ? test : train).append(doc);
        tokens += static_cast<int64_t>(doc.size());
      }
      done_bytes += bytes;
      first = last;
      if (Clock::now() - last_report >= std::chrono::seconds(1)) {
        last_report = Clock::now();
        log::info("tokenize: {:.1f} of {:.1f} MB, {:.2f} MB/s, {} tokens", static_cast<double>(done_bytes) / 1e6,
                  static_cast<double>(total_bytes) / 1e6, mb_per_s(), tokens);
      }
    }
  }
  core::TokenShardManifest manifest;
  manifest.tokenizer = std::filesystem::absolute(o.tokenizer).string();  // export finds it from anywhere
  manifest.tokenizer_hash = tokenizer->content_hash();
  manifest.vocab_size = tokenizer->vocab_size();
  manifest.separator_id = eos;
  manifest.seed = o.seed;
  manifest.val_fraction = o.val_fraction;
  manifest.train = train.finish();
  manifest.val = val.finish();
  core::write_token_manifest(o.out_dir, manifest);
  const core::TokenSplitManifest test_split = test.finish();
  if (o.test_fraction > 0) {
    core::TokenShardManifest test_manifest = manifest;
    test_manifest.val_fraction = o.test_fraction;
    test_manifest.train = {};
    test_manifest.val = test_split;
    core::write_token_manifest(test_dir, test_manifest);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  log::info("tokenize: {} documents (train {}, val {}, test {}), {} tokens, {:.2f} MB in {:.2f} s: {:.2f} MB/s on {} threads",
            doc_index, manifest.train.documents, manifest.val.documents, test_split.documents, tokens, static_cast<double>(done_bytes) / 1e6,
            seconds, mb_per_s(), threads);
  return 0;
}

int run_shards_check(const ShardsCheckOptions& o) {
  core::TokenShardExpect expect;
  if (!o.tokenizer.empty()) {
    const auto tokenizer = core::open_tokenizer(o.tokenizer);
    expect.vocab_size = tokenizer->vocab_size();
    expect.tokenizer_hash = tokenizer->content_hash();
  }
  for (const char* split : {"train", "val"}) {
    const std::vector<core::TokenShard> shards = core::open_token_split(o.dir, split, expect);
    int64_t tokens = 0, documents = 0;
    for (const core::TokenShard& s : shards) {
      tokens += s.tokens();
      documents += static_cast<int64_t>(s.header().document_count);
    }
    std::printf("%s: %zu shards, %lld documents, %lld tokens\n", split, shards.size(), static_cast<long long>(documents),
                static_cast<long long>(tokens));
  }
  return 0;
}

}  // namespace retort::launch
