// libFuzzer target: bytes as an IDX file (raw, or gzip when they start with the gzip magic) ->
// read_idx for ranks 1 and 3, checking the result holds exactly product(dims) bytes.
#include <cstdlib>

#include "core/data/idx.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = retort::fuzz::write_input("input.idx", data, size);
  for (int rank : {1, 3}) {
    retort::fuzz::expect_clean_errors("fuzz_idx", [&] {
      const retort::core::IdxArray a = retort::core::read_idx(path, rank);
      int64_t n = 1;
      for (int64_t d : a.dims) n *= d;
      if (static_cast<int>(a.dims.size()) != rank || static_cast<int64_t>(a.data.size()) != n) std::abort();
    });
  }
  return 0;
}
