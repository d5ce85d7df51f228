# Checks a `retort export hf` directory with the safetensors package: config.json's keys, and
# model.safetensors holding exactly the tensors of the source model (as Retort imported it,
# from lm_tensor_dump import), in F32, with HF names and shapes, bit for bit.
# Usage: python check_export.py LM_TENSOR_DUMP SOURCE EXPORT_DIR
import json
import os
import struct
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file

dump, source, out = sys.argv[1:4]
config = json.load(open(os.path.join(out, "config.json")))
proc = subprocess.run([dump, "import", source], stdout=subprocess.PIPE, check=True)
buf, pos, ref, src_config = proc.stdout, 0, {}, None
while pos < len(buf):
    (n,) = struct.unpack_from("<I", buf, pos)
    name = buf[pos + 4: pos + 4 + n].decode()
    (count,) = struct.unpack_from("<Q", buf, pos + 4 + n)
    pos += 12 + n
    if name == "config":
        src_config = json.loads(buf[pos: pos + count])
        pos += count
    else:
        ref[name] = np.frombuffer(buf, dtype="<f4", count=count, offset=pos)
        pos += 4 * count

expect = {"architectures": ["Qwen2ForCausalLM" if src_config["qkv_bias"] else "LlamaForCausalLM"],
          "hidden_size": src_config["dim"], "intermediate_size": src_config["ffn_dim"],
          "num_hidden_layers": src_config["n_layers"], "num_attention_heads": src_config["n_heads"],
          "num_key_value_heads": src_config["n_kv_heads"], "vocab_size": src_config["vocab_size"],
          "max_position_embeddings": src_config["max_seq_len"], "rope_theta": src_config["rope_theta"],
          "rms_norm_eps": src_config["norm_eps"], "tie_word_embeddings": src_config["tie_embeddings"],
          "torch_dtype": "float32", "hidden_act": "silu", "rope_scaling": None}
for key, value in expect.items():
    if config.get(key, "<absent>") != value:
        sys.exit(f"check_export: config.json {key} = {config.get(key, '<absent>')!r}, expected {value!r}")

tensors = load_file(os.path.join(out, "model.safetensors"))
if set(tensors) != set(ref):
    sys.exit(f"check_export: tensor names differ: only exported {sorted(set(tensors) - set(ref))}, "
             f"only in the source {sorted(set(ref) - set(tensors))}")
d, ffn = src_config["dim"], src_config["ffn_dim"]
for name, t in tensors.items():
    if t.dtype != np.float32:
        sys.exit(f"check_export: {name} is {t.dtype}, expected float32")
    if name.endswith("norm.weight") or name.endswith("bias"):
        ok = t.ndim == 1
    elif name.endswith("down_proj.weight"):
        ok = t.shape == (d, ffn)
    else:
        ok = t.ndim == 2 and t.shape[1] == d
    if not ok or not np.array_equal(t.reshape(-1).view(np.uint32), ref[name].view(np.uint32)):
        sys.exit(f"check_export: {name} {t.shape} differs from the source's tensor")
print(f"{out}: config.json keys as expected, {len(tensors)} F32 tensors bitwise equal to the source")
