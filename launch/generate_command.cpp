// `retort generate MODEL --prompt TEXT`: streams a Llama-family model's continuation of a
// prompt (or, with --chat, its reply through the model's ChatML chat template) to stdout,
// greedy or sampled, stopping at EOS or --max-new-tokens.
#include <cstdio>

#include "core/base/error.h"
#include "core/lm/llama_model.h"
#include "core/lm/lm_import.h"
#include "core/model/cpu_compute.h"
#include "core/text/chat_template.h"
#include "core/text/generate.h"
#include "core/text/tokenizer.h"
#include "core/text/utf8.h"
#include "launch/commands.h"

namespace retort::launch {

int run_generate(const GenerateCommandOptions& o) {
  if (o.max_new_tokens < 1) RETORT_INPUT_ERROR("--max-new-tokens must be at least 1");
  if (core::utf8_invalid_offset(o.prompt) != std::string::npos) RETORT_INPUT_ERROR("--prompt is not valid UTF-8");
  const auto tokenizer = core::open_tokenizer(o.tokenizer.empty() ? o.model : o.tokenizer);
  std::string text = o.prompt;
  if (o.chat) text = core::apply_chat_template(core::read_chat_template(o.model), {{"user", o.prompt}}, true, o.model);
  const std::vector<int32_t> prompt = tokenizer->encode(text);

  core::ImportedLm imported = core::import_lm(o.model);
  if (imported.config.vocab_size < tokenizer->vocab_size())
    RETORT_INPUT_ERROR(o.model + ": the model's vocabulary (" + std::to_string(imported.config.vocab_size) +
                       ") is smaller than its tokenizer's (" + std::to_string(tokenizer->vocab_size()) + ")");
  core::LlamaModel model(imported.config, core::cpu_compute());
  model.load_tensors(imported.tensors, o.model);
  imported.tensors.clear();

  core::GenerateOptions g;
  g.max_new_tokens = o.max_new_tokens;
  g.sampling = {o.greedy, o.temperature, o.top_k, o.top_p, o.seed};
  if (tokenizer->eos_id() >= 0) g.stop_ids.push_back(tokenizer->eos_id());
  // Stream: print the decoded text as it grows, holding back a cut multi-byte character.
  std::vector<int32_t> generated;
  size_t printed = 0;
  core::generate(model, prompt, g, [&](int32_t id) {
    generated.push_back(id);
    const std::string so_far = tokenizer->decode(generated);
    size_t end = so_far.size();
    while (end > printed && core::utf8_invalid_offset(std::string_view(so_far).substr(printed, end - printed)) != std::string::npos) --end;
    std::fwrite(so_far.data() + printed, 1, end - printed, stdout);
    std::fflush(stdout);
    printed = end;
  });
  const std::string all = tokenizer->decode(generated);
  std::fwrite(all.data() + printed, 1, all.size() - printed, stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace retort::launch
