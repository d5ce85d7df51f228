// import_lm: HF directories (F32/BF16/F16, one file or shards, Qwen2 biases, tied heads),
// llama.cpp GGUF files (q/k un-permuted back to HF's layout), Retort weights files and
// checkpoint directories give the same HF-named fp32 tensors; each failure is an input error
// naming the file and the tensor (or key); export_hf round trips; inspect lists foreign models.
#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

#include "core/base/error.h"
#include "core/checkpoint/durable_io.h"
#include "core/checkpoint/safetensors.h"
#include "core/lm/hf_export.h"
#include "core/lm/lm_import.h"
#include "core/lm/model_inspect.h"
#include "tests/unit/formats/model_files.h"

namespace fs = std::filesystem;
using namespace retort::core;
using namespace retort::test;
using nlohmann::json;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("retort_lm_import_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void require_same_tensors(const ImportedLm& lm, const TensorMap& t) {
  REQUIRE(lm.tensors.size() == t.size());
  for (const auto& [name, sv] : t) {
    INFO(name);
    REQUIRE(lm.tensors.count(name) == 1);
    REQUIRE(lm.tensors.at(name) == sv.second);
  }
}

void require_import_error(const fs::path& path, const std::vector<std::string>& fragments) {
  try {
    import_lm(path.string());
    FAIL("imported " << path);
  } catch (const retort::Error& e) {
    REQUIRE(e.kind() == retort::ErrorKind::input);
    INFO(e.message());
    REQUIRE(e.message().find('\n') == std::string::npos);
    for (const auto& f : fragments) REQUIRE(e.message().find(f) != std::string::npos);
  }
}

std::vector<std::string> names_of(const TensorMap& t) {
  std::vector<std::string> n;
  for (const auto& [name, _] : t) n.push_back(name);
  return n;
}

}  // namespace

TEST_CASE("hf_tensor_shapes lists HF's LlamaForCausalLM parameters", "[lm_import]") {
  LlamaConfig c;
  c.vocab_size = 16, c.dim = 32, c.n_layers = 2, c.n_heads = 2, c.n_kv_heads = 1, c.ffn_dim = 48, c.max_seq_len = 64;
  const auto shapes = hf_tensor_shapes(c);
  const TensorMap t = tiny_tensors(false, false, 1);
  REQUIRE(shapes.size() == t.size());
  for (const auto& [name, shape] : shapes) REQUIRE(t.at(name).first == shape);
  REQUIRE(shapes.front().first == "model.embed_tokens.weight");
  REQUIRE(shapes.back().first == "lm_head.weight");
  c.tie_embeddings = true, c.qkv_bias = true;
  const TensorMap tq = tiny_tensors(true, true, 1);
  REQUIRE(hf_tensor_shapes(c).size() == tq.size());
  for (const auto& [name, shape] : hf_tensor_shapes(c)) REQUIRE(tq.at(name).first == shape);
}

TEST_CASE("HF directories in F32, BF16, F16 and shards import exactly", "[lm_import]") {
  const TensorMap t = tiny_tensors(false, false, 7);
  for (const char* dtype : {"F32", "BF16", "F16"}) {
    for (int shards : {1, 3}) {
      INFO(dtype << " shards " << shards);
      const fs::path dir = fresh_dir(std::string("hf_") + dtype + std::to_string(shards));
      write_hf_dir(dir, tiny_hf_config(), t, dtype, shards);
      const ImportedLm lm = import_lm(dir.string());
      REQUIRE(lm.kind == "hf");
      REQUIRE(lm.config.dim == 32);
      REQUIRE(lm.config.n_kv_heads == 1);
      REQUIRE_FALSE(lm.config.tie_embeddings);
      require_same_tensors(lm, t);
    }
  }
  SECTION("Qwen2 with biases, tied") {
    const TensorMap tq = tiny_tensors(true, true, 8);
    const fs::path dir = fresh_dir("qwen2");
    write_hf_dir(dir, tiny_hf_config("Qwen2ForCausalLM", true), tq, "BF16");
    const ImportedLm lm = import_lm(dir.string());
    REQUIRE(lm.config.qkv_bias);
    REQUIRE(lm.config.tie_embeddings);
    require_same_tensors(lm, tq);
  }
  SECTION("a tied model may carry lm_head.weight when it equals the embedding") {
    TensorMap tied = tiny_tensors(true, false, 9);
    tied["lm_head.weight"] = tied.at("model.embed_tokens.weight");
    const fs::path dir = fresh_dir("tied_copy");
    write_hf_dir(dir, tiny_hf_config("LlamaForCausalLM", true), tied, "F32");
    const ImportedLm lm = import_lm(dir.string());
    REQUIRE(lm.tensors.count("lm_head.weight") == 0);
    tied["lm_head.weight"].second[3] += 1.f;
    write_hf_dir(dir, tiny_hf_config("LlamaForCausalLM", true), tied, "F32");
    require_import_error(dir, {(dir / "model.safetensors").string(), "lm_head.weight differs"});
  }
}

TEST_CASE("a llama.cpp GGUF imports as the HF tensors (q/k un-permuted)", "[lm_import]") {
  for (bool tied : {false, true}) {
    const TensorMap t = tiny_tensors(tied, false, 11);
    const fs::path path = fresh_dir(tied ? "gguf_tied" : "gguf") / "tiny.gguf";
    tiny_gguf(t, tied).write(path);
    const ImportedLm lm = import_lm(path.string());
    REQUIRE(lm.kind == "gguf");
    REQUIRE(lm.config.tie_embeddings == tied);
    REQUIRE(lm.config.vocab_size == 16);
    REQUIRE(lm.config.n_heads == 2);
    REQUIRE(lm.config.n_kv_heads == 1);
    REQUIRE(lm.config.max_seq_len == 64);
    REQUIRE(lm.config.norm_eps == static_cast<double>(1e-5f));
    require_same_tensors(lm, t);
  }
}

TEST_CASE("Retort weights files and checkpoint directories import", "[lm_import]") {
  const TensorMap t = tiny_tensors(false, false, 13);
  const json spec = {{"arch", "llama"},
                     {"llama", {{"vocab_size", 16}, {"dim", 32}, {"n_layers", 2}, {"n_heads", 2}, {"n_kv_heads", 1},
                                {"ffn_dim", 48}, {"max_seq_len", 64}}},
                     {"dropout", 0.0}};
  const auto image = safetensors_image(t, names_of(t), "F32", {{"retort.model", spec.dump()}});
  const fs::path dir = fresh_dir("retort");
  GgufWriter::write_bytes(dir / "final.safetensors", image);
  const ImportedLm lm = import_lm((dir / "final.safetensors").string());
  REQUIRE(lm.kind == "retort");
  require_same_tensors(lm, t);

  const fs::path step = dir / "checkpoints" / "step-00000004";
  fs::create_directories(step);
  GgufWriter::write_bytes(step / "model.safetensors", image);
  const json manifest = {{"format", "retort-checkpoint-1"},
                         {"files", {{"model.safetensors", {{"bytes", image.size()}, {"xxh3", xxh3_hex(image)}}}}}};
  write_text(step / "manifest.json", manifest.dump());
  const ImportedLm from_ckpt = import_lm(step.string());
  REQUIRE(from_ckpt.kind == "retort-checkpoint");
  require_same_tensors(from_ckpt, t);

  json mlp = {{"arch", "mlp"}};
  GgufWriter::write_bytes(dir / "mlp.safetensors", safetensors_image(t, names_of(t), "F32", {{"retort.model", mlp.dump()}}));
  require_import_error(dir / "mlp.safetensors", {"mlp.safetensors", "not a language model"});
  GgufWriter::write_bytes(dir / "plain.safetensors", safetensors_image(t, names_of(t), "F32"));
  require_import_error(dir / "plain.safetensors", {"plain.safetensors", "no retort.model metadata"});
}

TEST_CASE("import failures name the file and the tensor or key", "[lm_import]") {
  const TensorMap t = tiny_tensors(false, false, 17);
  const fs::path dir = fresh_dir("errors");
  const std::string st = (dir / "model.safetensors").string();
  auto hf_with = [&](const TensorMap& tensors, const std::string& dtype = "F32") {
    fs::remove_all(dir);
    write_hf_dir(dir, tiny_hf_config(), tensors, dtype);
  };
  SECTION("unknown architecture") {
    write_hf_dir(dir, tiny_hf_config("GPT2LMHeadModel"), t, "F32");
    require_import_error(dir, {(dir / "config.json").string(), "unknown architecture GPT2LMHeadModel"});
    GgufWriter w;
    w.str("general.architecture", "gpt2");
    w.write(dir / "gpt2.gguf");
    require_import_error(dir / "gpt2.gguf", {"gpt2.gguf", "unknown architecture gpt2"});
  }
  SECTION("missing, extra and wrongly shaped tensors") {
    TensorMap missing = t;
    missing.erase("model.norm.weight");
    hf_with(missing);
    require_import_error(dir, {st, "tensor model.norm.weight is missing"});
    TensorMap extra = t;
    extra["model.layers.2.mlp.up_proj.weight"] = t.at("model.layers.1.mlp.up_proj.weight");
    hf_with(extra);
    require_import_error(dir, {st, "unexpected tensor model.layers.2.mlp.up_proj.weight"});
    TensorMap shape = t;
    shape["model.layers.0.self_attn.k_proj.weight"].first = {32, 16};
    hf_with(shape);
    require_import_error(dir, {st, "tensor model.layers.0.self_attn.k_proj.weight has shape [32,16], the config needs [16,32]"});
    auto w = tiny_gguf(t, false);
    w.tensor("blk.0.attn_qkv.weight", {32}, retort::core::ggml::F32, std::vector<uint8_t>(128));
    w.write(dir / "extra.gguf");
    require_import_error(dir / "extra.gguf", {"extra.gguf", "unexpected tensor blk.0.attn_qkv.weight"});
  }
  SECTION("unsupported dtype and quantization type") {
    hf_with(t);
    auto image = safetensors_image(t, names_of(t), "F32");
    const std::string header(image.begin() + 8, image.begin() + 200);
    const size_t at = header.find("F32");  // the first tensor's dtype (JSON keys are sorted)
    std::memcpy(image.data() + 8 + at, "I32", 3);
    GgufWriter::write_bytes(st, image);
    require_import_error(dir, {st, "tensor 'lm_head.weight' has dtype I32"});
    auto w = tiny_gguf(t, true);
    w.tensor("output.weight", {32, 16}, 20 /* IQ4_NL */, std::vector<uint8_t>(16 * 18));
    w.write(dir / "iq4.gguf");
    require_import_error(dir / "iq4.gguf", {"iq4.gguf", "tensor output.weight", "IQ4_NL cannot be dequantized"});
  }
  SECTION("truncated files and offsets out of range") {
    hf_with(t, "BF16");
    auto image = read_file(st);
    image.resize(image.size() - 10);
    GgufWriter::write_bytes(st, image);
    require_import_error(dir, {st, "model.norm.weight' has data_offsets outside the file"});
    auto gguf = tiny_gguf(t, false).bytes();
    gguf.resize(gguf.size() - 100);
    GgufWriter::write_bytes(dir / "cut.gguf", gguf);
    require_import_error(dir / "cut.gguf", {"cut.gguf", "tensor output.weight", "outside the data section"});
    auto far = tiny_gguf(t, false);
    far.tensor("blk.9.ffn_up.weight", {32}, retort::core::ggml::F32, {}, 1 << 20);
    far.write(dir / "far.gguf");
    require_import_error(dir / "far.gguf", {"far.gguf", "tensor blk.9.ffn_up.weight", "outside the data section"});
  }
  SECTION("GGUF version and metadata type unknown") {
    auto w = tiny_gguf(t, false);
    w.version = 7;
    w.write(dir / "v7.gguf");
    require_import_error(dir / "v7.gguf", {"v7.gguf", "GGUF version 7 is not supported"});
    auto w2 = tiny_gguf(t, false);
    w2.raw_kv("llama.expert_count", 77, {});
    w2.write(dir / "type77.gguf");
    require_import_error(dir / "type77.gguf", {"type77.gguf", "metadata llama.expert_count has unknown value type 77"});
  }
  SECTION("an index that lists a tensor its shard lacks") {
    fs::remove_all(dir);
    write_hf_dir(dir, tiny_hf_config(), t, "F32", 2);
    const auto bytes = read_file((dir / "model.safetensors.index.json").string());
    json index = json::parse(bytes.begin(), bytes.end());
    index["weight_map"]["model.norm.weight"] = "model-00002-of-00002.safetensors";
    index["weight_map"]["lm_head.weight"] = "model-00001-of-00002.safetensors";
    write_text(dir / "model.safetensors.index.json", index.dump());
    require_import_error(dir, {"is not listed for this shard"});
  }
  SECTION("not a model at all") {
    require_import_error(dir / "nothing.bin", {"nothing.bin", "no such file"});
    write_text(dir / "notes.txt", "hello");
    require_import_error(dir / "notes.txt", {"notes.txt", "not a model"});
    fs::create_directories(dir / "empty");
    require_import_error(dir / "empty", {"empty", "neither config.json"});
  }
}

TEST_CASE("export_hf writes a directory that imports to the same model", "[hf_export]") {
  for (bool qwen : {false, true}) {
    const TensorMap t = tiny_tensors(qwen, qwen, 19);
    const fs::path src = fresh_dir(qwen ? "export_src_qwen" : "export_src");
    write_hf_dir(src, tiny_hf_config(qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM", qwen), t, "BF16", 2);
    const ImportedLm lm = import_lm(src.string());
    const fs::path out = fresh_dir(qwen ? "export_out_qwen" : "export_out");
    std::string tokenizer_dir;
    const HfExportSummary s = export_hf(lm, out.string(), [&](const std::string& dir) {
      tokenizer_dir = dir;
      return json{{"bos_token_id", 1}, {"eos_token_id", 2}};
    });
    REQUIRE(tokenizer_dir == out.string());
    REQUIRE(s.architecture == (qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    REQUIRE(s.tensors == static_cast<int64_t>(t.size()));
    REQUIRE(s.bytes == static_cast<int64_t>(fs::file_size(out / "model.safetensors")));
    const auto bytes = read_file((out / "config.json").string());
    const json config = json::parse(bytes.begin(), bytes.end());
    REQUIRE(config.at("torch_dtype") == "float32");
    REQUIRE(config.at("eos_token_id") == 2);
    REQUIRE(config.at("tie_word_embeddings") == qwen);
    const auto file = parse_safetensors(read_file((out / "model.safetensors").string()), "exported");
    REQUIRE(file.metadata.at("format") == "pt");
    const ImportedLm back = import_lm(out.string());
    REQUIRE(to_json(back.config) == to_json(lm.config));
    require_same_tensors(back, t);
    REQUIRE_THROWS_WITH(export_hf(lm, out.string()), Catch::Contains("not an empty directory"));
  }
  ImportedLm broken = import_lm((fs::temp_directory_path() / ("retort_lm_import_" + std::to_string(::getpid())) /
                                 "export_src").string());
  broken.tensors.erase("model.layers.1.mlp.down_proj.weight");
  REQUIRE_THROWS_WITH(export_hf(broken, fresh_dir("export_broken").string()),
                      Catch::Contains("the model has no tensor model.layers.1.mlp.down_proj.weight"));
}

TEST_CASE("inspect lists GGUF files and HF directories with the config they map to", "[inspect]") {
  const TensorMap t = tiny_tensors(false, false, 23);
  const fs::path dir = fresh_dir("inspect");
  tiny_gguf(t, false).write(dir / "tiny.gguf");
  write_hf_dir(dir / "hf", tiny_hf_config(), t, "BF16");
  write_hf_dir(dir / "gpt2", tiny_hf_config("GPT2LMHeadModel"), t, "F16");
  REQUIRE(is_foreign_model((dir / "tiny.gguf").string()));
  REQUIRE(is_foreign_model((dir / "hf").string()));
  REQUIRE_FALSE(is_foreign_model(dir.string()));
  std::ostringstream gguf, hf, gpt2;
  inspect_foreign_model((dir / "tiny.gguf").string(), gguf);
  REQUIRE_THAT(gguf.str(), Catch::Contains("GGUF version 3") && Catch::Contains("metadata llama.block_count = 2") &&
                               Catch::Contains("tokenizer.ggml.tokens = array of string [16]") &&
                               Catch::Contains("llama config {\"dim\":32") &&
                               Catch::Contains("blk.1.attn_k.weight") && Catch::Contains("shape [16,32]"));
  inspect_foreign_model((dir / "hf").string(), hf);
  REQUIRE_THAT(hf.str(), Catch::Contains("model.safetensors (21 tensors)") &&
                             Catch::Contains("model.layers.0.mlp.down_proj.weight") && Catch::Contains("BF16 shape [32,48]"));
  inspect_foreign_model((dir / "gpt2").string(), gpt2);
  REQUIRE_THAT(gpt2.str(), Catch::Contains("not importable: ") && Catch::Contains("unknown architecture GPT2LMHeadModel"));
}
