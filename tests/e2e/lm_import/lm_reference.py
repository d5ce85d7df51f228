# Float64 reference forwards of a Llama GGUF on a fixed token sequence, written independently of
# Retort: (1) llama.cpp's convention, from the GGUF tensors as stored (q/k rows in llama.cpp's
# order, RoPE on adjacent pairs), and (2) Hugging Face's convention (RoPE on halves) from the
# tensors Retort imported (lm_tensor_dump import). Equal mean NLLs mean Retort's un-permutation
# and name mapping are right. Prints the mean NLL; with --retort-nll X also requires
# |X - ref| <= 1e-4 |ref|. Usage: python lm_reference.py LM_TENSOR_DUMP FILE.gguf TOKENS.json
import argparse
import json
import struct
import subprocess
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

ap = argparse.ArgumentParser()
ap.add_argument("dump")
ap.add_argument("gguf")
ap.add_argument("tokens")
ap.add_argument("--retort-nll", type=float)
args = ap.parse_args()
tokens = np.array(json.load(open(args.tokens)), dtype=np.int64)

reader = GGUFReader(args.gguf)


def field(key):
    f = reader.fields[key]
    return f.parts[f.data[0]][0]


cfg = dict(d=int(field("llama.embedding_length")), L=int(field("llama.block_count")),
           H=int(field("llama.attention.head_count")), KV=int(field("llama.attention.head_count_kv")),
           theta=float(field("llama.rope.freq_base")),
           eps=float(field("llama.attention.layer_norm_rms_epsilon")))
hd = cfg["d"] // cfg["H"]
gguf_w = {t.name: np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32) for t in reader.tensors}


def rmsnorm(x, w):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + cfg["eps"]) * w.astype(np.float64)


def angles(T):
    freq = cfg["theta"] ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)  # [hd/2]
    a = np.arange(T, dtype=np.float64)[:, None] * freq[None, :]          # [T, hd/2]
    return np.cos(a)[:, None, :], np.sin(a)[:, None, :]                  # [T, 1, hd/2]


def rope_pairs(x):  # llama.cpp: rotate (x[2i], x[2i+1]); x [T, heads, hd]
    c, s = angles(x.shape[0])
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def rope_halves(x):  # HF: rotate (x[i], x[i + hd/2])
    c, s = angles(x.shape[0])
    x0, x1 = x[..., : hd // 2], x[..., hd // 2:]
    return np.concatenate([x0 * c - x1 * s, x0 * s + x1 * c], axis=-1)


def forward(w, names, rope):
    """Mean NLL of tokens[1:] given the prefixes; names maps role -> tensor name (layer i via {i})."""
    mat = lambda n: w[n].astype(np.float64)
    T = len(tokens)
    x = mat(names["embed"])[tokens]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    group = cfg["H"] // cfg["KV"]
    for i in range(cfg["L"]):
        n = {k: v.format(i=i) for k, v in names.items()}
        h = rmsnorm(x, w[n["attn_norm"]])
        q = rope((h @ mat(n["q"]).T).reshape(T, cfg["H"], hd))
        k = rope((h @ mat(n["k"]).T).reshape(T, cfg["KV"], hd))
        v = (h @ mat(n["v"]).T).reshape(T, cfg["KV"], hd)
        att = np.empty((T, cfg["H"], hd))
        for head in range(cfg["H"]):
            s = q[:, head] @ k[:, head // group].T / np.sqrt(hd) + mask
            p = np.exp(s - s.max(axis=1, keepdims=True))
            att[:, head] = (p / p.sum(axis=1, keepdims=True)) @ v[:, head // group]
        x = x + att.reshape(T, -1) @ mat(n["o"]).T
        h = rmsnorm(x, w[n["ffn_norm"]])
        g, u = h @ mat(n["gate"]).T, h @ mat(n["up"]).T
        x = x + (g / (1 + np.exp(-g)) * u) @ mat(n["down"]).T
    x = rmsnorm(x, w[names["norm"]])
    logits = x @ mat(names["head"] if names["head"] in w else names["embed"]).T
    m = logits.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse[:-1] - logits[np.arange(T - 1), tokens[1:]]))


gguf_names = dict(embed="token_embd.weight", norm="output_norm.weight", head="output.weight",
                  attn_norm="blk.{i}.attn_norm.weight", q="blk.{i}.attn_q.weight", k="blk.{i}.attn_k.weight",
                  v="blk.{i}.attn_v.weight", o="blk.{i}.attn_output.weight", ffn_norm="blk.{i}.ffn_norm.weight",
                  gate="blk.{i}.ffn_gate.weight", up="blk.{i}.ffn_up.weight", down="blk.{i}.ffn_down.weight")
nll_gguf = forward(gguf_w, gguf_names, rope_pairs)
del gguf_w

proc = subprocess.run([args.dump, "import", args.gguf], stdout=subprocess.PIPE, check=True)
buf, pos, hf_w = proc.stdout, 0, {}
while pos < len(buf):
    (n,) = struct.unpack_from("<I", buf, pos)
    name = buf[pos + 4: pos + 4 + n].decode()
    (count,) = struct.unpack_from("<Q", buf, pos + 4 + n)
    pos += 12 + n
    if name == "config":
        pos += count
        continue
    hf_w[name] = np.frombuffer(buf, dtype="<f4", count=count, offset=pos)
    pos += 4 * count
for name, arr in list(hf_w.items()):  # matrices are HF's [out, in]; only down_proj's rows are the width
    if arr.size != cfg["d"]:
        hf_w[name] = arr.reshape(cfg["d"], -1) if name.endswith("down_proj.weight") else arr.reshape(-1, cfg["d"])
p = "model.layers.{i}."
hf_names = dict(embed="model.embed_tokens.weight", norm="model.norm.weight", head="lm_head.weight",
                attn_norm=p + "input_layernorm.weight", q=p + "self_attn.q_proj.weight",
                k=p + "self_attn.k_proj.weight", v=p + "self_attn.v_proj.weight", o=p + "self_attn.o_proj.weight",
                ffn_norm=p + "post_attention_layernorm.weight", gate=p + "mlp.gate_proj.weight",
                up=p + "mlp.up_proj.weight", down=p + "mlp.down_proj.weight")
nll_hf = forward(hf_w, hf_names, rope_halves)

print(f"mean NLL over {len(tokens) - 1} tokens: llama.cpp convention from the GGUF {nll_gguf:.12f}, "
      f"HF convention from Retort's import {nll_hf:.12f}")
if abs(nll_hf - nll_gguf) > 1e-9 * abs(nll_gguf):
    sys.exit("lm_reference: Retort's imported tensors give another model than the GGUF (q/k permutation or mapping)")
if args.retort_nll is not None:
    rel = abs(args.retort_nll - nll_gguf) / abs(nll_gguf)
    print(f"retort score mean NLL {args.retort_nll:.12f}: relative difference {rel:.3e}")
    if rel > 1e-4:
        sys.exit("lm_reference: retort score differs from the float64 reference by more than 1e-4 relative")
