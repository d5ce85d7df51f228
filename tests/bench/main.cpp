// retort_bench entry point: `retort_bench NAME [--repeats N] [--quick] [args]`, or `--list`.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>

#include "core/base/error.h"
#include "tests/bench/bench.h"

namespace retort::bench {
namespace {
struct Entry {
  std::string help;
  BenchFn fn;
};
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;
  return r;
}
}  // namespace

Registration::Registration(const char* name, const char* help, BenchFn fn) {
  registry()[name] = Entry{help, std::move(fn)};
}

void emit(const nlohmann::json& record) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) std::cout << record.dump() << std::endl;
}

double median(std::vector<double> s) {
  if (s.empty()) return 0;
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

double time_median(int repeats, const std::function<void()>& fn) {
  fn();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < std::max(repeats, 1); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(t);
}

}  // namespace retort::bench

static void usage() {
  std::fprintf(stderr, "usage: retort_bench NAME [--repeats N] [--quick] [args]\nbenchmarks:\n");
  for (const auto& [name, entry] : retort::bench::registry())
    std::fprintf(stderr, "  %-12s %s\n", name.c_str(), entry.help.c_str());
}

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rc = 0;
  try {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "--list")) {
      usage();
      rc = argc < 2 ? 2 : 0;
    } else {
      auto it = retort::bench::registry().find(argv[1]);
      if (it == retort::bench::registry().end()) {
        std::fprintf(stderr, "retort_bench: unknown benchmark '%s'\n", argv[1]);
        usage();
        rc = 2;
      } else {
        retort::bench::Args args;
        for (int i = 2; i < argc; ++i) {
          if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) args.repeats = std::atoi(argv[++i]);
          else if (!std::strcmp(argv[i], "--quick")) args.quick = true;
          else args.rest.emplace_back(argv[i]);
        }
        rc = it->second.fn(args);
      }
    }
  } catch (const retort::Error& e) {
    std::fprintf(stderr, "retort_bench: error: %s\n", e.what());
    rc = e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "retort_bench: error: %s\n", e.what());
    rc = 1;
  }
  MPI_Finalize();
  return rc;
}
