# Every tensor of a GGUF file as Retort dequantizes it (lm_tensor_dump gguf) against
# gguf.quants.dequantize, bit for bit. Prints the tensor count per type; exits 1 on a mismatch.
# Usage: python compare_gguf_dequant.py LM_TENSOR_DUMP FILE.gguf [REQUIRED_TYPE...]
import collections
import struct
import subprocess
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

tool, path, required = sys.argv[1], sys.argv[2], set(sys.argv[3:])
reader = GGUFReader(path)
proc = subprocess.Popen([tool, "gguf", path], stdout=subprocess.PIPE)


def read(n):
    data = proc.stdout.read(n)
    if len(data) != n:
        sys.exit(f"compare_gguf_dequant: stream ended early ({len(data)} of {n} bytes)")
    return data


per_type = collections.Counter()
elements = 0
for t in reader.tensors:
    (name_len,) = struct.unpack("<I", read(4))
    name = read(name_len).decode()
    (count,) = struct.unpack("<Q", read(8))
    got = np.frombuffer(read(4 * count), dtype="<f4")
    if name != t.name:
        sys.exit(f"compare_gguf_dequant: tensor order differs: Retort {name}, gguf {t.name}")
    ref = np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(-1)
    if ref.size != got.size:
        sys.exit(f"compare_gguf_dequant: {name}: {got.size} elements, gguf-py {ref.size}")
    diff = np.nonzero(ref.view(np.uint32) != got.view(np.uint32))[0]
    if diff.size:
        k = diff[0]
        sys.exit(f"compare_gguf_dequant: {name} ({t.tensor_type.name}): {diff.size} elements differ, "
                 f"first at {k}: Retort {got[k]!r}, gguf-py {ref[k]!r}")
    per_type[t.tensor_type.name] += 1
    elements += got.size
if proc.stdout.read(1):
    sys.exit("compare_gguf_dequant: Retort streamed more tensors than the file has")
if proc.wait() != 0:
    sys.exit(f"compare_gguf_dequant: lm_tensor_dump exited {proc.returncode}")
missing = required - set(per_type)
if missing:
    sys.exit(f"compare_gguf_dequant: the file has no tensor of type {sorted(missing)}")
print(f"{len(reader.tensors)} tensors, {elements} elements bitwise equal to gguf-py: "
      + ", ".join(f"{k} x{v}" for k, v in sorted(per_type.items())))
