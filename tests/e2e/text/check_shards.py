"""Checks a `retort tokenize` output directory against the corpus, independently of Retort's
reader: manifest and shard headers (magic, version, id width, vocabulary, counts, sizes), every
document ends with EOS, the documents decoded by `tokenizers` are the corpus's documents
(train in corpus order, val in corpus order, together all of them), and the validation share
is near the asked fraction. Usage: check_shards.py DIR REFERENCE.json CORPUS SEPARATOR VAL_FRACTION"""
import json
import os
import struct
import sys

import numpy as np
from tokenizers import Tokenizer


def documents(path, separator):
    docs, cur = [], []
    with open(path, encoding="utf-8", newline="") as f:
        for line in f.read().splitlines(keepends=True):
            if line.rstrip("\r\n") == separator:
                if cur:
                    docs.append("".join(cur))
                cur = []
            else:
                cur.append(line)
    if cur:
        docs.append("".join(cur))
    return docs


def read_split(out, manifest, split, eos):
    ids = []
    info = manifest["splits"][split]
    for name in info["shards"]:
        data = open(os.path.join(out, name), "rb").read()
        magic, version, id_bytes, vocab, _hash, count, ndocs, _sum, reserved = struct.unpack("<8sIIQQQQQQ", data[:64])
        assert magic == b"RTTOKENS" and version == 1 and reserved == 0, name
        assert vocab == manifest["vocab_size"] and id_bytes == (2 if vocab <= 65536 else 4), name
        assert len(data) == 64 + count * id_bytes, name
        shard = np.frombuffer(data[64:], dtype=np.uint16 if id_bytes == 2 else np.uint32).astype(np.int64)
        assert shard.size == 0 or shard[-1] == eos, f"{name} does not end with EOS"
        assert int((shard == eos).sum()) == ndocs, f"{name}: {ndocs} documents, {(shard == eos).sum()} EOS"
        ids.extend(shard.tolist())
    assert len(ids) == info["tokens"], split
    docs, cur = [], []
    for i in ids:
        if i == eos:
            docs.append(cur)
            cur = []
        else:
            cur.append(i)
    assert len(docs) == info["documents"], split
    return docs


def main(out, reference, corpus, separator, fraction):
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    eos = manifest["separator_id"]
    tok = Tokenizer.from_file(reference)
    want = documents(corpus, separator)
    split_docs = {s: [tok.decode(d, skip_special_tokens=False) for d in read_split(out, manifest, s, eos)] for s in ("train", "val")}
    # Each split is a subsequence of the corpus's documents, and together they are all of them.
    it = iter(range(len(want)))
    where = {}
    for s in ("train", "val"):
        pos = 0
        for d in split_docs[s]:
            while pos < len(want) and want[pos] != d:
                pos += 1
            assert pos < len(want), f"{s}: a document that is not in the corpus (or out of order): {d[:60]!r}"
            where.setdefault(pos, s)
            pos += 1
    total = len(split_docs["train"]) + len(split_docs["val"])
    assert total == len(want), f"{total} documents in the shards, {len(want)} in the corpus"
    share = len(split_docs["val"]) / total
    assert abs(share - float(fraction)) < 0.03, f"validation share {share:.3f}, asked {fraction}"
    print(f"{total} documents ({len(split_docs['val'])} val, share {share:.3f}), all decoded back")


if __name__ == "__main__":
    main(*sys.argv[1:])
