// Byte-level BPE: added-token split, pre-tokenizer steps, merge loop, byte-level decoding.
#include "core/text/byte_bpe_tokenizer.h"

#include <xxhash.h>

#include <algorithm>
#include <deque>

#include "core/base/error.h"
#include "core/text/byte_level.h"
#include "core/text/utf8.h"

namespace retort::core {
namespace {

std::vector<AddedTokenMatcher::Token> added_with(const ByteBpeSpec& spec, bool normalized) {
  std::vector<AddedTokenMatcher::Token> out;
  for (const AddedToken& t : spec.added)
    if (t.normalized == normalized) out.push_back({t.content, t.id});
  return out;
}

// Length-prefixed fields into one XXH3-64 stream.
class CanonicalHash {
 public:
  CanonicalHash() : state_(XXH3_createState()) { XXH3_64bits_reset(state_); }
  ~CanonicalHash() { XXH3_freeState(state_); }
  void add(std::string_view s) {
    add(static_cast<int64_t>(s.size()));
    XXH3_64bits_update(state_, s.data(), s.size());
  }
  void add(int64_t v) { XXH3_64bits_update(state_, &v, sizeof v); }
  uint64_t digest() const { return XXH3_64bits_digest(state_); }

 private:
  XXH3_state_t* state_;
};

}  // namespace

ByteBpeTokenizer::ByteBpeTokenizer(const ByteBpeSpec& spec)
    : raw_added_(added_with(spec, false)), normalized_added_(added_with(spec, true)),
      bos_id_(spec.bos_id), eos_id_(spec.eos_id) {
  const std::string& what = spec.source;
  tokens_ = spec.vocab;
  for (const AddedToken& t : spec.added) {
    if (t.id < 0) RETORT_INPUT_ERROR(what + ": added token '" + t.content + "' has a negative id");
    if (static_cast<size_t>(t.id) >= tokens_.size()) tokens_.resize(static_cast<size_t>(t.id) + 1);
    tokens_[static_cast<size_t>(t.id)] = t.content;
    if (t.special) specials_.push_back({t.content, t.id});
  }
  if (tokens_.empty()) RETORT_INPUT_ERROR(what + ": the vocabulary is empty");
  std::sort(specials_.begin(), specials_.end(), [](const SpecialToken& a, const SpecialToken& b) { return a.id < b.id; });
  for (const auto& [name, id] : {std::pair<const char*, int32_t>{"BOS", bos_id_}, {"EOS", eos_id_}, {"unknown", spec.unk_id}})
    if (id < -1 || id >= static_cast<int32_t>(tokens_.size()))
      RETORT_INPUT_ERROR(what + ": " + name + " token id " + std::to_string(id) + " is outside the vocabulary of " +
                         std::to_string(tokens_.size()));

  decoded_.resize(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id)
    if (!byte_level_decode(tokens_[id], decoded_[id])) decoded_[id] = tokens_[id];

  for (const PreTokenizeStep& step : spec.pre_tokenizer) {
    Step s{step.kind, nullptr};
    if (step.kind != PreTokenizeStep::Kind::prefix_space)
      s.regex = std::make_unique<RegexSplit>(step.pattern, step.kind == PreTokenizeStep::Kind::split_literal, what);
    steps_.push_back(std::move(s));
  }
  model_ = std::make_unique<BpeModel>(spec.vocab, spec.merges, spec.unk_id, spec.ignore_merges, what);

  CanonicalHash h;
  h.add("retort byte-level BPE v1");
  h.add(static_cast<int64_t>(tokens_.size()));
  for (const std::string& t : tokens_) h.add(t);
  h.add(static_cast<int64_t>(spec.merges.size()));
  for (const BpeMerge& m : spec.merges) {
    h.add(m.left);
    h.add(m.right);
  }
  h.add(static_cast<int64_t>(spec.added.size()));
  for (const AddedToken& t : spec.added) {
    h.add(t.content);
    h.add(static_cast<int64_t>(t.id) * 4 + (t.special ? 2 : 0) + (t.normalized ? 1 : 0));
  }
  h.add(static_cast<int64_t>(spec.pre_tokenizer.size()));
  for (const PreTokenizeStep& step : spec.pre_tokenizer) {
    h.add(static_cast<int64_t>(step.kind));
    h.add(step.pattern);
  }
  for (const int64_t v : {int64_t{spec.ignore_merges}, int64_t{spec.unk_id}, int64_t{bos_id_}, int64_t{eos_id_}}) h.add(v);
  hash_ = h.digest();
}

const std::string& ByteBpeTokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(tokens_.size()))
    RETORT_INPUT_ERROR("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(tokens_.size()));
  return tokens_[static_cast<size_t>(id)];
}

void ByteBpeTokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<std::string_view> pieces{text}, next;
  std::deque<std::string> owned;  // prefixed pieces (stable addresses)
  for (const Step& step : steps_) {
    next.clear();
    if (step.kind == PreTokenizeStep::Kind::prefix_space) {
      for (const std::string_view p : pieces) {
        if (p.starts_with(' ')) {
          next.push_back(p);
        } else {
          owned.emplace_back(1, ' ');
          owned.back().append(p);
          next.push_back(owned.back());
        }
      }
    } else {
      for (const std::string_view p : pieces) step.regex->split(p, next);
    }
    std::swap(pieces, next);
  }
  for (const std::string_view p : pieces) model_->encode_piece(p, out);
}

std::vector<int32_t> ByteBpeTokenizer::encode(std::string_view text) const {
  const size_t bad = utf8_invalid_offset(text);
  if (bad != std::string_view::npos) RETORT_INPUT_ERROR("text is not valid UTF-8 at byte offset " + std::to_string(bad));
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<TextSegment> segments, inner;
  raw_added_.split(text, segments);
  for (const TextSegment& seg : segments) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    inner.clear();
    normalized_added_.split(seg.text, inner);
    for (const TextSegment& s : inner) {
      if (s.id >= 0) {
        ids.push_back(s.id);
      } else {
        encode_plain(s.text, ids);
      }
    }
  }
  return ids;
}

std::string ByteBpeTokenizer::decode(std::span<const int32_t> ids) const {
  std::string text;
  for (const int32_t id : ids) {
    if (id < 0 || id >= static_cast<int32_t>(decoded_.size()))
      RETORT_INPUT_ERROR("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(decoded_.size()));
    text += decoded_[static_cast<size_t>(id)];
  }
  return text;
}

}  // namespace retort::core
