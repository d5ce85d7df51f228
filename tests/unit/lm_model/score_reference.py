#!/usr/bin/env python3
"""float64 numpy reference of `retort score` on a llama GGUF: next-token log-probabilities.

Reads the GGUF with gguf-py (dequantized by gguf.quants) and runs the transformer in llama.cpp's
own convention: q/k rows as stored in the GGUF with RoPE on adjacent pairs (2i, 2i+1), so the
Retort side (q/k rows un-permuted to HF order, rotate-half RoPE) is checked, not copied.
Usage: score_reference.py MODEL.gguf TOKENS.json  -> JSON list of logprobs of tokens[1:]
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def field(reader, key):
    f = reader.fields[key]
    return f.parts[f.data[0]][0]


def main():
    reader = GGUFReader(sys.argv[1])
    tokens = json.load(open(sys.argv[2]))
    w = {}
    for t in reader.tensors:
        w[t.name] = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(
            [int(d) for d in reversed(t.shape)])
    n_layers = int(field(reader, "llama.block_count"))
    n_heads = int(field(reader, "llama.attention.head_count"))
    n_kv = int(field(reader, "llama.attention.head_count_kv"))
    theta = float(field(reader, "llama.rope.freq_base"))
    eps = float(field(reader, "llama.attention.layer_norm_rms_epsilon"))
    dim = w["token_embd.weight"].shape[1]
    hd = dim // n_heads
    T = len(tokens)

    def rmsnorm(x, g):
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * g

    pos = np.arange(T, dtype=np.float64)[:, None]
    angle = pos * theta ** (-2.0 * np.arange(hd // 2) / hd)  # [T, hd/2]
    cos, sin = np.cos(angle), np.sin(angle)

    def rope_pairs(x, heads):  # x [T, heads*hd], pairs (2i, 2i+1) of each head
        x = x.reshape(T, heads, hd // 2, 2)
        a, b = x[..., 0], x[..., 1]
        c, s = cos[:, None, :], sin[:, None, :]
        return np.stack([a * c - b * s, b * c + a * s], axis=-1).reshape(T, heads * hd)

    x = w["token_embd.weight"][tokens]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(n_layers):
        p = f"blk.{l}."
        h = rmsnorm(x, w[p + "attn_norm.weight"])
        q = rope_pairs(h @ w[p + "attn_q.weight"].T, n_heads).reshape(T, n_heads, hd)
        k = rope_pairs(h @ w[p + "attn_k.weight"].T, n_kv).reshape(T, n_kv, hd)
        v = (h @ w[p + "attn_v.weight"].T).reshape(T, n_kv, hd)
        out = np.zeros((T, n_heads, hd))
        for hh in range(n_heads):
            g = hh // (n_heads // n_kv)
            s = q[:, hh] @ k[:, g].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            out[:, hh] = (s / s.sum(axis=1, keepdims=True)) @ v[:, g]
        x = x + out.reshape(T, dim) @ w[p + "attn_output.weight"].T
        h = rmsnorm(x, w[p + "ffn_norm.weight"])
        gate = h @ w[p + "ffn_gate.weight"].T
        act = gate / (1 + np.exp(-gate)) * (h @ w[p + "ffn_up.weight"].T)
        x = x + act @ w[p + "ffn_down.weight"].T
    head = w.get("output.weight", w["token_embd.weight"])
    z = rmsnorm(x, w["output_norm.weight"]) @ head.T
    m = z.max(axis=1, keepdims=True)
    lse = (np.log(np.exp(z - m).sum(axis=1, keepdims=True)) + m)[:, 0]
    print(json.dumps([float(z[i, tokens[i + 1]] - lse[i]) for i in range(T - 1)]))


if __name__ == "__main__":
    main()
