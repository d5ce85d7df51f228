// Recognition of the ChatML Jinja template (exact text, "\n" escapes or newlines alike) and
// its rendering.
#include "core/text/chat_template.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/base/error.h"
#include "core/checkpoint/gguf.h"

namespace retort::core {
namespace {

const std::string kLoopBegin = "{% for message in messages %}";
const std::string kSystemBegin = "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n";
const std::string kSystemEnd = "<|im_end|>\n' }}{% endif %}";
const std::string kMessage =
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

std::string with_newlines(const std::string& t) {
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '\\' && i + 1 < t.size() && t[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += t[i];
    }
  }
  return out;
}

}  // namespace

std::string read_chat_template(const std::string& model_path) {
  namespace fs = std::filesystem;
  if (fs::is_directory(model_path)) {
    const fs::path config = fs::path(model_path) / "tokenizer_config.json";
    std::ifstream in(config);
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (!in || j.is_discarded() || !j.contains("chat_template") || !j["chat_template"].is_string())
      RETORT_INPUT_ERROR(config.string() + ": no chat_template string");
    return j["chat_template"];
  }
  const GgufFile gguf = open_gguf(model_path);
  return gguf.get_string("tokenizer.chat_template");
}

std::string apply_chat_template(const std::string& chat_template, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt, const std::string& what) {
  const std::string t = with_newlines(chat_template);
  std::string default_system;
  bool has_default_system = false, ok = t.starts_with(kLoopBegin);
  if (ok) {
    std::string rest = t.substr(kLoopBegin.size());
    if (rest.starts_with(kSystemBegin)) {
      const size_t end = rest.find(kSystemEnd, kSystemBegin.size());
      ok = end != std::string::npos;
      if (ok) {
        default_system = rest.substr(kSystemBegin.size(), end - kSystemBegin.size());
        has_default_system = default_system.find('\'') == std::string::npos;
        ok = has_default_system;
        rest = rest.substr(end + kSystemEnd.size());
      }
    }
    ok = ok && rest == kMessage;
  }
  if (!ok)
    RETORT_INPUT_ERROR(what + ": the chat template is not the ChatML form retort generate implements "
                       "(<|im_start|>role\\ncontent<|im_end|>\\n per message, optional default system message)");
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0 && has_default_system && messages[0].role != "system")
      out += "<|im_start|>system\n" + default_system + "<|im_end|>\n";
    out += "<|im_start|>" + messages[i].role + "\n" + messages[i].content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace retort::core
