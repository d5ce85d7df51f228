#!/usr/bin/env python3
"""Seed inputs for the IDX and GGUF fuzz targets from real files (standard library only):
Fashion-MNIST's IDX files cut to a few images (raw and gzip), the first 64 KiB of the real
SmolLM2 GGUF when it is cached, and a small complete GGUF v3 (metadata of every type, an F32
and a Q8_0 tensor). Usage: make_seeds.py SEED_ROOT REPO_ROOT"""
import glob
import gzip
import os
import struct
import sys

seed_root, repo = sys.argv[1], sys.argv[2]


def out(target, name, data):
    d = os.path.join(seed_root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


mnist = "/usr/share/datasets/fashion-mnist"
labels = os.path.join(mnist, "t10k-labels-idx1-ubyte.gz")
images = os.path.join(mnist, "t10k-images-idx3-ubyte.gz")
if os.path.exists(images):
    with gzip.open(images) as f:
        raw = f.read(16 + 3 * 28 * 28)
    three = raw[:4] + struct.pack(">I", 3) + raw[8:]
    out("fuzz_idx", "images3.idx", three)
    out("fuzz_idx", "images3.idx.gz", gzip.compress(three))
if os.path.exists(labels):
    with gzip.open(labels) as f:
        raw = f.read(8 + 40)
    forty = raw[:4] + struct.pack(">I", 40) + raw[8:]
    out("fuzz_idx", "labels40.idx", forty)
    out("fuzz_idx", "labels40.idx.gz", gzip.compress(forty))

for path in sorted(glob.glob(os.path.join(repo, "build", "models", "**", "*.gguf"), recursive=True))[:1]:
    with open(path, "rb") as f:
        out("fuzz_gguf", "smollm2-head.gguf", f.read(65536))


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, type_id, payload):
    return gguf_string(key) + struct.pack("<I", type_id) + payload


meta = [
    kv("general.architecture", 8, gguf_string("llama")),
    kv("general.alignment", 4, struct.pack("<I", 32)),
    kv("llama.block_count", 4, struct.pack("<I", 1)),
    kv("llama.rope.freq_base", 6, struct.pack("<f", 10000.0)),
    kv("a.bool", 7, struct.pack("<B", 1)),
    kv("a.i64", 11, struct.pack("<q", -5)),
    kv("a.f64", 12, struct.pack("<d", 0.25)),
    kv("a.u8", 0, struct.pack("<B", 7)),
    kv("a.i16", 3, struct.pack("<h", -2)),
    kv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 2) + gguf_string("a") + gguf_string("b")),
    kv("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, 2) + struct.pack("<ii", 1, 1)),
]
f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)
q8 = struct.pack("<e", 0.1) + bytes(range(32))  # one Q8_0 block: fp16 scale + 32 int8
tensors = [("w.f32", [4], 0, 0, f32), ("w.q8", [32], 8, 32, q8)]
infos = b"".join(gguf_string(n) + struct.pack("<I", len(d)) + b"".join(struct.pack("<Q", x) for x in d) +
                 struct.pack("<IQ", t, off) for n, d, t, off, _ in tensors)
head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)) + b"".join(meta) + infos
head += b"\0" * (-len(head) % 32)
data = f32 + b"\0" * (32 - len(f32)) + q8
out("fuzz_gguf", "small-v3.gguf", head + data)


# A byte-level BPE tokenizer.json (GPT-2 byte symbols, a few merges) and, when spm_train is
# installed, a small SentencePiece model trained on fortunes text; first byte = the form.
def byte_symbols():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    extra, out = 0, {}
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


import json
sym = byte_symbols()
vocab = {sym[b]: b for b in range(256)}
merges = ["Ġ t", "h e", "Ġt he", "i n", "e r"]
for m in merges:
    merged = m.replace(" ", "")
    vocab.setdefault(merged, len(vocab))
vocab["<|endoftext|>"] = len(vocab)
tok = {"version": "1.0",
       "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                         "rstrip": False, "normalized": False, "special": True}],
       "normalizer": None,
       "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
       "decoder": {"type": "ByteLevel"},
       "model": {"type": "BPE", "dropout": None, "unk_token": None, "vocab": vocab, "merges": merges}}
out("fuzz_tokenizer", "tokenizer-json", b"\0" + json.dumps(tok).encode())
for path in sorted(glob.glob(os.path.join(seed_root, "fuzz_gguf", "small-v3.gguf"))):
    with open(path, "rb") as f:
        out("fuzz_tokenizer", "gguf", b"\2" + f.read())

import shutil
import subprocess
import tempfile
fortunes = [p for p in glob.glob("/usr/share/games/fortunes/*") if os.path.isfile(p) and "." not in os.path.basename(p)]
if shutil.which("spm_train") and fortunes:
    with tempfile.TemporaryDirectory() as d:
        text = os.path.join(d, "text.txt")
        with open(text, "wb") as f:
            for p in fortunes[:3]:
                with open(p, "rb") as g:
                    f.write(g.read()[:200000])
        subprocess.run(["spm_train", "--input=" + text, "--model_prefix=" + os.path.join(d, "m"), "--vocab_size=200",
                        "--model_type=unigram", "--normalization_rule_name=identity", "--minloglevel=2"], check=False, capture_output=True)
        if os.path.exists(os.path.join(d, "m.model")):
            with open(os.path.join(d, "m.model"), "rb") as f:
                out("fuzz_tokenizer", "spm-model", b"\1" + f.read())
