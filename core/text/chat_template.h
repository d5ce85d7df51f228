// Chat prompts for `retort generate --chat`: only the ChatML template form SmolLM2 ships (with
// or without a default system message) is implemented; any other template is refused.
#pragma once
#include <string>
#include <vector>

namespace retort::core {

struct ChatMessage {
  std::string role, content;
};

// The chat template of a model: a GGUF's tokenizer.chat_template, or an HF directory's
// tokenizer_config.json "chat_template". Input error naming the file when there is none.
std::string read_chat_template(const std::string& model_path);

// Renders `messages` as the ChatML template would, adding "<|im_start|>assistant\n" when
// add_generation_prompt. Input error naming `what` for a template of another form.
std::string apply_chat_template(const std::string& chat_template, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt, const std::string& what);

}  // namespace retort::core
