// The `retort` command line: subcommands train, teach, eval, inspect, launch, config, version,
// tokenizer, tokenize, shards, generate.
// Every failure ends as one line on stderr and exit code 2 (bad input) or 1 (runtime failure).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>

#include "core/base/error.h"
#include "core/config/load.h"
#include "core/distill/lm_cache.h"
#include "launch/commands.h"

namespace {

int print(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  return 0;
}

int report(const retort::Error& e) {
  // Input errors are the user's to fix: the message names file, key and position. Runtime
  // errors also carry the source location, for bug reports.
  const std::string text = e.kind() == retort::ErrorKind::input ? e.message() : std::string(e.what());
  std::fprintf(stderr, "retort: error: %s\n", text.c_str());
  return e.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace retort::launch;
  CLI::App app{"retort: distributed knowledge distillation (teacher inference pool + data-parallel students)"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");

  JobOptions job;
  auto add_job = [&](CLI::App* cmd) {
    cmd->add_option("config", job.config_file, "Job config (YAML); see docs/config.md")->required();
    cmd->add_option("--set", job.overrides, "Override a config key: --set key.path=value (repeatable)");
  };

  auto* train = app.add_subcommand("train", "Train: distillation when the config has a teacher section, else supervised (run under mpirun/srun)");
  add_job(train);
  train->add_option("--stop-after-step", job.stop_after_step,
                    "Write a checkpoint and exit 0 after this global step (the next run resumes there)");
  auto* teach = app.add_subcommand("teach", "Offline mode: run only the teacher pool and write logits shards to teacher.cache_dir");
  add_job(teach);
  std::string teach_stats_dir;
  teach->get_option("config")->required(false);
  teach->add_option("--stats", teach_stats_dir, "Print an existing LM targets cache's bytes per token (total and per part) and exit");
  teach->add_option("--from-cache", job.from_cache,
                    "LM top-k: write the config's cache by truncating this top-k' cache (k' >= k) of the same teacher and data, no teacher forward");

  EvalOptions eval;
  auto* eval_cmd = app.add_subcommand("eval", "Evaluate a checkpoint on the test set (accuracy, loss, errors)");
  eval_cmd->add_option("--checkpoint", eval.checkpoints,
                       "Checkpoint (.safetensors with its manifest); language models: repeat it to evaluate several against one teacher pass")
      ->required();
  eval_cmd->add_option("--config", eval.config_file, "Config for the data section (default: built-in defaults)");
  eval_cmd->add_option("--set", eval.overrides, "Override a config key (repeatable)");
  eval_cmd->add_option("--split", eval.split, "Language models: val, or test (data.dir/test from retort tokenize --test-fraction)")
      ->check(CLI::IsMember({"val", "test"}))
      ->capture_default_str();
  eval_cmd->add_option("--json", eval.json_file, "Also append the results to this file as one JSON line");

  std::string inspect_file;
  auto* inspect = app.add_subcommand("inspect", "Print a checkpoint's tensors and manifest, or a logits cache's index");
  inspect->add_option("file", inspect_file, "A .safetensors checkpoint or a cache index")->required();

  LaunchOptions launch;
  auto* launch_cmd = app.add_subcommand("launch", "Start a job with the right launcher (mpirun, srun, or --emulate on this machine)");
  launch_cmd->add_option("config", launch.config_file, "Job config (YAML)")->required();
  launch_cmd->add_option("--set", launch.overrides, "Override a config key (repeatable)");
  launch_cmd->add_option("--teachers", launch.teachers, "Teacher ranks (default: cluster.teachers)");
  launch_cmd->add_option("--students", launch.students, "Student ranks (default: cluster.students)");
  launch_cmd->add_flag("--emulate", launch.emulate, "Run every rank on this machine (single-node emulation)");
  launch_cmd->add_option("--max-restarts", launch.max_restarts, "Restart from the last good checkpoint up to N times");

  auto* config = app.add_subcommand("config", "Check a config or generate its reference");
  config->require_subcommand(1);
  CheckOptions check;
  auto* check_cmd = config->add_subcommand("check", "Validate a config and print it fully resolved (defaults filled)");
  check_cmd->add_option("config", check.config_file, "Job config (YAML)")->required();
  check_cmd->add_option("--set", check.overrides, "Override a config key (repeatable)");
  check_cmd->add_option("--world-size", check.world_size, "Also check the cluster shape against an MPI world of N ranks");
  std::string docs_output;
  auto* docs_cmd = config->add_subcommand("docs", "Print docs/config.md (the reference generated from the schema)");
  docs_cmd->add_option("--output", docs_output, "Write to this file instead of stdout");

  PlotOptions plot;
  auto* plot_cmd = app.add_subcommand("plot", "Draw a run's curves from metrics.jsonl as an SVG (no Python needed)");
  plot_cmd->add_option("metrics", plot.metrics_files, "metrics.jsonl of one or more runs")->required();
  plot_cmd->add_option("-o,--output", plot.output, "SVG file to write")->required();
  plot_cmd->add_option("--label", plot.labels, "Curve label per metrics file (repeatable)");
  plot_cmd->add_option("--x", plot.x_key, "Field on the x axis")->capture_default_str();
  plot_cmd->add_option("--y", plot.y_keys, "Field(s) to plot (repeatable; default: loss and test_accuracy)");
  plot_cmd->add_option("--title", plot.title, "Chart title");

  ScoreOptions score;
  auto* score_cmd = app.add_subcommand("score", "Print the log-probability of every next token of a token sequence under a Llama model (JSON lines)");
  score_cmd->add_option("model", score.model, "HF model directory, .gguf, Retort LM weights .safetensors or checkpoint directory")->required();
  score_cmd->add_option("--tokens", score.tokens_file, "JSON array of token ids")->required();
  score_cmd->add_flag("--batch-invariant", score.batch_invariant, "Run the forward in the batch-invariant Compute");
  score_cmd->add_option("--max-tokens", score.max_tokens, "Score only the first N tokens");

  auto* tokenizer_cmd = app.add_subcommand("tokenizer", "Train a SentencePiece tokenizer, or encode/decode text with any tokenizer");
  tokenizer_cmd->require_subcommand(1);
  TokenizerTrainOptions tokenizer_train;
  auto* tokenizer_train_cmd = tokenizer_cmd->add_subcommand("train", "Train a SentencePiece BPE model (byte fallback) into DIR/tokenizer.model");
  tokenizer_train_cmd->add_option("corpus", tokenizer_train.corpus, "UTF-8 text files, one sentence per line")->required();
  tokenizer_train_cmd->add_option("--vocab", tokenizer_train.vocab_size, "Vocabulary size")->required();
  tokenizer_train_cmd->add_option("--out", tokenizer_train.out_dir, "Output directory")->required();
  tokenizer_train_cmd->add_option("--max-sentences", tokenizer_train.max_sentences, "Train on a sample of this many lines (0: all)");
  TokenizerIoOptions tokenizer_io;
  auto* tokenizer_encode_cmd = tokenizer_cmd->add_subcommand("encode", "Print the token ids of a text (stdin or --file) as one JSON array");
  auto* tokenizer_decode_cmd = tokenizer_cmd->add_subcommand("decode", "Print the text of a JSON array of token ids (stdin or --file)");
  for (CLI::App* cmd : {tokenizer_encode_cmd, tokenizer_decode_cmd}) {
    cmd->add_option("tokenizer", tokenizer_io.tokenizer, "tokenizer.json, SentencePiece .model, .gguf, or a model directory")->required();
    cmd->add_option("--file", tokenizer_io.file, "Read this file instead of stdin");
  }
  tokenizer_encode_cmd->add_flag("--lines", tokenizer_io.lines, "Encode each line separately (no newline): one JSON array per line");

  TokenizeOptions tokenize;
  auto* tokenize_cmd = app.add_subcommand("tokenize", "Tokenize UTF-8 text files into train/validation token shards (docs/text.md)");
  tokenize_cmd->add_option("inputs", tokenize.inputs, "UTF-8 text files (one document each, or split by --separator)")->required();
  tokenize_cmd->add_option("--tokenizer", tokenize.tokenizer, "tokenizer.json, SentencePiece .model, .gguf, or a model directory")->required();
  tokenize_cmd->add_option("--out", tokenize.out_dir, "Output directory for the shards and manifest.json")->required();
  tokenize_cmd->add_option("--separator", tokenize.separator, "A line equal to this ends a document (e.g. '%' for fortune files)");
  tokenize_cmd->add_option("--val-fraction", tokenize.val_fraction, "Fraction of documents in the validation split")->capture_default_str();
  tokenize_cmd->add_option("--test-fraction", tokenize.test_fraction, "Fraction of documents held out as the test split (OUT/test)")->capture_default_str();
  tokenize_cmd->add_option("--seed", tokenize.seed, "Seed of the train/validation split")->capture_default_str();
  tokenize_cmd->add_option("--threads", tokenize.threads, "Threads (0: all cores)")->capture_default_str();
  tokenize_cmd->add_option("--utf8-errors", tokenize.utf8_errors, "strict (input error) or replace (U+FFFD)")->capture_default_str();
  tokenize_cmd->add_option("--shard-tokens", tokenize.shard_tokens, "Start a new shard after this many tokens")->capture_default_str();
  auto* shards_cmd = app.add_subcommand("shards", "Token shard directories");
  shards_cmd->require_subcommand(1);
  ShardsCheckOptions shards_check;
  auto* shards_check_cmd = shards_cmd->add_subcommand("check", "Validate a token shard directory (manifest, headers, checksums) and print its counts");
  shards_check_cmd->add_option("dir", shards_check.dir, "Output directory of retort tokenize")->required();
  shards_check_cmd->add_option("--tokenizer", shards_check.tokenizer, "Also require that the shards were made with this tokenizer");

  GenerateCommandOptions generate;
  auto* generate_cmd = app.add_subcommand("generate", "Stream a language model's continuation of a prompt (docs/text.md)");
  generate_cmd->add_option("model", generate.model, "HF model directory or .gguf (its tokenizer is used)")->required();
  generate_cmd->add_option("--tokenizer", generate.tokenizer, "Use this tokenizer (tokenizer.json, .model, .gguf, model directory) instead of the model's");
  generate_cmd->add_option("--prompt", generate.prompt, "The prompt text")->required();
  generate_cmd->add_option("--max-new-tokens", generate.max_new_tokens, "Stop after this many new tokens")->capture_default_str();
  generate_cmd->add_option("--temperature", generate.temperature, "Sampling temperature (0: greedy)")->capture_default_str();
  generate_cmd->add_option("--top-p", generate.top_p, "Nucleus sampling mass")->capture_default_str();
  generate_cmd->add_option("--top-k", generate.top_k, "Sample among the k most likely tokens (0: all)")->capture_default_str();
  generate_cmd->add_option("--seed", generate.seed, "Sampling seed")->capture_default_str();
  generate_cmd->add_flag("--greedy", generate.greedy, "Always take the most likely token");
  generate_cmd->add_flag("--chat", generate.chat, "Wrap the prompt as a user message in the model's chat template");

  auto* export_cmd = app.add_subcommand("export", "Write a model in another ecosystem's format");
  export_cmd->require_subcommand(1);
  ExportOptions export_options;
  auto* export_hf_cmd = export_cmd->add_subcommand("hf", "Write a Hugging Face model directory (config.json + fp32 model.safetensors)");
  export_hf_cmd->add_option("checkpoint", export_options.source, "Retort LM weights .safetensors or checkpoint directory (or an HF directory / .gguf)")->required();
  export_hf_cmd->add_option("out_dir", export_options.out_dir, "Directory to write (must not exist or be empty)")->required();

  auto* version = app.add_subcommand("version", "Print the version and the build's backends");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    if (*train) return run_train(job);
    if (*teach && !teach_stats_dir.empty()) return print(retort::core::lm_cache_stats(teach_stats_dir));
    if (*teach && job.config_file.empty()) RETORT_INPUT_ERROR("retort teach: give a job config (or --stats DIR)");
    if (*teach) return run_teach(job);
    if (*eval_cmd) return run_eval(eval);
    if (*inspect && retort::core::is_lm_cache_index(inspect_file))
      return print(retort::core::describe_lm_cache(inspect_file));
    if (*inspect) return run_inspect(inspect_file);
    if (*launch_cmd) return run_launch(launch);
    if (*check_cmd) return run_config_check(check);
    if (*docs_cmd) {
      const std::string md = retort::core::config_docs_markdown();
      if (docs_output.empty()) {
        std::cout << md;
      } else {
        std::ofstream out(docs_output);
        if (!(out << md)) RETORT_RUNTIME_ERROR("cannot write " + docs_output);
      }
      return 0;
    }
    if (*export_hf_cmd) return run_export_hf(export_options);
    if (*version) return run_version();
    if (*plot_cmd) return run_plot(plot);
    if (*score_cmd) return run_score(score);
    if (*tokenizer_train_cmd) return run_tokenizer_train(tokenizer_train);
    if (*tokenizer_encode_cmd) return run_tokenizer_encode(tokenizer_io);
    if (*tokenizer_decode_cmd) return run_tokenizer_decode(tokenizer_io);
    if (*tokenize_cmd) return run_tokenize(tokenize);
    if (*shards_check_cmd) return run_shards_check(shards_check);
    if (*generate_cmd) return run_generate(generate);
  } catch (const retort::Error& e) {
    return report(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "retort: error: %s\n", e.what());
    return 1;
  }
  return 2;
}
