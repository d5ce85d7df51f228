# Writes a small random Llama-family model as a Hugging Face directory, the way transformers'
# save_pretrained lays it out: config.json + model.safetensors, or (--shards N) N shard files and
# model.safetensors.index.json. --dtype bf16 stores bfloat16 (written here: numpy has none).
# Usage: python make_hf_dir.py OUT_DIR [--dtype f32|bf16|f16] [--shards N] [--qwen2] [--tied]
import argparse
import json
import os
import struct

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--dtype", default="bf16", choices=["f32", "bf16", "f16"])
ap.add_argument("--shards", type=int, default=1)
ap.add_argument("--qwen2", action="store_true")
ap.add_argument("--tied", action="store_true")
args = ap.parse_args()

d, ffn, layers, heads, kv, vocab = 64, 160, 2, 4, 2, 96
hd = d // heads
config = {"architectures": ["Qwen2ForCausalLM" if args.qwen2 else "LlamaForCausalLM"],
          "model_type": "qwen2" if args.qwen2 else "llama", "hidden_size": d, "intermediate_size": ffn,
          "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv,
          "vocab_size": vocab, "max_position_embeddings": 128, "rope_theta": 10000.0, "rms_norm_eps": 1e-5,
          "tie_word_embeddings": args.tied, "hidden_act": "silu", "rope_scaling": None,
          "torch_dtype": {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[args.dtype]}
rng = np.random.default_rng(1234)
tensors = {"model.embed_tokens.weight": rng.normal(0, 0.5, (vocab, d))}
for i in range(layers):
    p = f"model.layers.{i}."
    tensors[p + "input_layernorm.weight"] = 1 + rng.normal(0, 0.1, d)
    for name, rows in (("q", heads * hd), ("k", kv * hd), ("v", kv * hd)):
        tensors[p + f"self_attn.{name}_proj.weight"] = rng.normal(0, d ** -0.5, (rows, d))
        if args.qwen2:
            tensors[p + f"self_attn.{name}_proj.bias"] = rng.normal(0, 0.1, rows)
    tensors[p + "self_attn.o_proj.weight"] = rng.normal(0, d ** -0.5, (d, d))
    tensors[p + "post_attention_layernorm.weight"] = 1 + rng.normal(0, 0.1, d)
    tensors[p + "mlp.gate_proj.weight"] = rng.normal(0, d ** -0.5, (ffn, d))
    tensors[p + "mlp.up_proj.weight"] = rng.normal(0, d ** -0.5, (ffn, d))
    tensors[p + "mlp.down_proj.weight"] = rng.normal(0, ffn ** -0.5, (d, ffn))
tensors["model.norm.weight"] = 1 + rng.normal(0, 0.1, d)
if not args.tied:
    tensors["lm_head.weight"] = rng.normal(0, d ** -0.5, (vocab, d))


def encode(a):
    a32 = np.ascontiguousarray(a, dtype=np.float32)
    if args.dtype == "f32":
        return "F32", a32.tobytes()
    if args.dtype == "f16":
        return "F16", a32.astype(np.float16).tobytes()
    u = a32.view(np.uint32)  # bf16: round to nearest even (no NaNs here)
    return "BF16", ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()


def write_safetensors(path, names):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in names:
        dtype, blob = encode(tensors[name])
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


os.makedirs(args.out, exist_ok=True)
json.dump(config, open(os.path.join(args.out, "config.json"), "w"), indent=2)
names = list(tensors)
if args.shards == 1:
    write_safetensors(os.path.join(args.out, "model.safetensors"), names)
else:
    weight_map = {}
    for s in range(args.shards):
        file = f"model-{s + 1:05d}-of-{args.shards:05d}.safetensors"
        part = names[s::args.shards]
        write_safetensors(os.path.join(args.out, file), part)
        weight_map.update({n: file for n in part})
    json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map},
              open(os.path.join(args.out, "model.safetensors.index.json"), "w"), indent=2)
