// The subcommands behind the `retort` CLI, one function each; main.cpp only parses arguments.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace retort::launch {

struct JobOptions {
  std::string config_file;
  std::vector<std::string> overrides;
  int64_t stop_after_step = 0;  // > 0: checkpoint and exit 0 after this global step
};
struct EvalOptions {
  std::string checkpoint;
  std::string config_file;
  std::vector<std::string> overrides;
};
struct CheckOptions {
  std::string config_file;
  std::vector<std::string> overrides;
  int world_size = 0;  // 0 = do not check
};
struct LaunchOptions {
  std::string config_file;
  std::vector<std::string> overrides;
  int teachers = 0;  // 0 = from the config
  int students = 0;
  bool emulate = false;
  int max_restarts = 0;
};

struct PlotOptions {
  std::vector<std::string> metrics_files;  // metrics.jsonl of one or more runs (one curve each)
  std::vector<std::string> labels;         // curve labels (default: the run directory names)
  std::string output;                      // .svg file to write
  std::string x_key = "step";              // JSON field on the x axis
  std::vector<std::string> y_keys;         // fields to plot (default: loss, and test_accuracy from eval records)
  std::string title;
};

int run_train(const JobOptions& options);
int run_plot(const PlotOptions& options);
int run_teach(const JobOptions& options);
int run_eval(const EvalOptions& options);
int run_inspect(const std::string& file);
int run_launch(const LaunchOptions& options);
int run_config_check(const CheckOptions& options);
int run_version();

}  // namespace retort::launch
