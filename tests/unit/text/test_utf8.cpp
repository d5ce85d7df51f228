// UTF-8 validation offsets and U+FFFD replacement (maximal subparts, as Python's "replace").
#include <catch2/catch.hpp>

#include "core/text/byte_level.h"
#include "core/text/utf8.h"

using namespace retort::core;

TEST_CASE("utf8_invalid_offset finds the first ill-formed byte") {
  CHECK(utf8_invalid_offset("plain ascii text, long enough for the fast path") == std::string_view::npos);
  CHECK(utf8_invalid_offset("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == std::string_view::npos);
  CHECK(utf8_invalid_offset("abc\xFF") == 3);
  CHECK(utf8_invalid_offset("0123456789\xC3") == 10);            // truncated at the end
  CHECK(utf8_invalid_offset("ab\xC0\xAF") == 2);                  // overlong '/'
  CHECK(utf8_invalid_offset("ab\xED\xA0\x80") == 2);              // surrogate U+D800
  CHECK(utf8_invalid_offset("ab\xF4\x90\x80\x80") == 2);          // above U+10FFFF
  CHECK(utf8_invalid_offset("ab\xE2\x82x") == 2);                 // bad continuation
}

TEST_CASE("utf8_replace_invalid substitutes one U+FFFD per maximal subpart") {
  const std::string r = "\xEF\xBF\xBD";
  CHECK(utf8_replace_invalid("ok") == "ok");
  CHECK(utf8_replace_invalid("a\xFF" "b") == "a" + r + "b");
  CHECK(utf8_replace_invalid("a\xE2\x82" "b") == "a" + r + "b");        // one truncated sequence
  CHECK(utf8_replace_invalid("a\xC0\xAF" "b") == "a" + r + r + "b");    // C0 is never valid
  CHECK(utf8_replace_invalid("\xF0\x9F\x98") == r);
  CHECK(utf8_invalid_offset(utf8_replace_invalid("x\xFF\xFE\xC3")) == std::string_view::npos);
}

TEST_CASE("byte-level alphabet: 256 distinct symbols that decode back") {
  const auto& symbols = byte_level_symbols();
  CHECK(symbols['A'] == "A");
  CHECK(symbols[' '] == "\xC4\xA0");   // U+0120 'Ġ'
  CHECK(symbols['\n'] == "\xC4\x8A");  // U+010A 'Ċ'
  std::string all;
  for (int b = 0; b < 256; ++b) all += symbols[b];
  std::string bytes;
  REQUIRE(byte_level_decode(all, bytes));
  REQUIRE(bytes.size() == 256);
  for (int b = 0; b < 256; ++b) CHECK(static_cast<unsigned char>(bytes[b]) == b);
  std::string out;
  CHECK_FALSE(byte_level_decode("\xE4\xB8\xAD", out));  // U+4E2D is not in the alphabet
}
