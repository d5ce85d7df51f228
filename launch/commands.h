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
  std::string from_cache;       // retort teach: derive the top-k cache from this larger-k one
};
struct EvalOptions {
  std::vector<std::string> checkpoints;  // one; language models: several against one teacher run
  std::string config_file;
  std::vector<std::string> overrides;
  std::string split = "val";  // language models: val | test (data.dir/test)
  std::string json_file;      // non-empty: also append the results there as one JSON line
};
struct CheckOptions {
  std::string config_file;
  std::vector<std::string> overrides;
  int world_size = 0;  // 0 = do not check
};
struct ExportOptions {
  std::string source;   // anything core::import_lm reads (Retort LM weights / checkpoint, HF dir, .gguf)
  std::string out_dir;  // the HF model directory to write (must not exist or be empty)
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

struct ScoreOptions {
  std::string model;        // HF directory, .gguf, Retort LM weights or checkpoint (core/lm/lm_import.h)
  std::string tokens_file;  // a JSON array of token ids
  bool batch_invariant = false;
  int64_t max_tokens = 0;   // > 0: score only the first N tokens
};

struct TokenizerTrainOptions {
  std::vector<std::string> corpus;  // UTF-8 text files, one sentence per line
  std::string out_dir;
  int vocab_size = 8000;
  int64_t max_sentences = 0;  // > 0: a seeded sample of this many lines
};
struct TokenizerIoOptions {
  std::string tokenizer;  // tokenizer.json, .model, .gguf or a model directory
  std::string file;       // input file; empty: stdin
  bool lines = false;     // encode: each line separately, one JSON array per line
};
struct GenerateCommandOptions {
  std::string model;  // HF directory or .gguf (core/lm/lm_import.h); its tokenizer too
  std::string tokenizer;  // non-empty: this tokenizer instead of the model's (e.g. Retort weights)
  std::string prompt;
  int64_t max_new_tokens = 128;
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;
  uint64_t seed = 0;
  bool greedy = false;
  bool chat = false;  // apply the model's ChatML chat template to the prompt
};
struct ShardsCheckOptions {
  std::string dir;        // a `retort tokenize` output directory
  std::string tokenizer;  // non-empty: the shards must have been made with it
};
struct TokenizeOptions {
  std::string tokenizer;
  std::vector<std::string> inputs;  // UTF-8 text files
  std::string out_dir;
  std::string separator;            // non-empty: a line equal to it ends a document
  double val_fraction = 0.0;
  double test_fraction = 0.0;       // > 0: held-out test documents into out_dir/test
  uint64_t seed = 0;
  int threads = 0;                  // 0: all cores
  std::string utf8_errors = "strict";  // strict | replace
  int64_t shard_tokens = 100'000'000;
};

int run_train(const JobOptions& options);
int run_plot(const PlotOptions& options);
int run_teach(const JobOptions& options);
int run_eval(const EvalOptions& options);
int run_inspect(const std::string& file);
int run_launch(const LaunchOptions& options);
int run_config_check(const CheckOptions& options);
int run_export_hf(const ExportOptions& options);
int run_version();
int run_score(const ScoreOptions& options);
int run_tokenizer_train(const TokenizerTrainOptions& options);
int run_tokenizer_encode(const TokenizerIoOptions& options);
int run_tokenizer_decode(const TokenizerIoOptions& options);
int run_tokenize(const TokenizeOptions& options);
int run_shards_check(const ShardsCheckOptions& options);
int run_generate(const GenerateCommandOptions& options);

}  // namespace retort::launch
