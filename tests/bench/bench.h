// retort_bench: benchmarks register themselves by name; each prints one JSON object per line
// (shape, median seconds, achieved rate) next to a same-run baseline (see baselines.h).
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace retort::bench {

struct Args {
  std::vector<std::string> rest;  // arguments after the benchmark name
  int repeats = 20;               // --repeats N (median over at least this many runs)
  bool quick = false;             // --quick: small shapes (used by the smoke test)
};

using BenchFn = std::function<int(const Args&)>;

struct Registration {
  Registration(const char* name, const char* help, BenchFn fn);
};

// Print one JSON line on stdout (rank 0 only when under MPI).
void emit(const nlohmann::json& record);

// Median of a list of seconds.
double median(std::vector<double> seconds);

// Run fn `repeats` times after one warm-up and return the median wall seconds.
double time_median(int repeats, const std::function<void()>& fn);

}  // namespace retort::bench

#define RETORT_BENCH_CONCAT2(a, b) a##b
#define RETORT_BENCH_CONCAT(a, b) RETORT_BENCH_CONCAT2(a, b)
#define RETORT_BENCH(name, help, fn) \
  static ::retort::bench::Registration RETORT_BENCH_CONCAT(retort_bench_reg_, __LINE__)(name, help, fn)
