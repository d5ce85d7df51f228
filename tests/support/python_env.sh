#!/usr/bin/env bash
# The Python virtual environment of the test references (tokenizers, gguf, safetensors, numpy,
# sentencepiece from PyPI): made once under build/pyenv, shared by every suite (flock), never
# used by the product. Prints the interpreter's path; exits 1 naming what failed.
# Usage: PY=$(tests/support/python_env.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
env_dir=${RETORT_PYENV:-$root/build/pyenv}
packages=(numpy==1.26.4 gguf==0.10.0 tokenizers==0.20.3 safetensors==0.4.5 sentencepiece==0.2.0)
stamp="$env_dir/.retort-packages"
mkdir -p "$(dirname "$env_dir")"
exec 9>"$env_dir.lock"
flock 9
if [ ! -x "$env_dir/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${packages[*]}" ]; then
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "python_env.sh: python3 venv/ensurepip missing (apt-get install python3-venv)" >&2
    exit 1
  fi
  rm -rf "$env_dir"
  python3 -m venv "$env_dir" >&2 || { echo "python_env.sh: python3 -m venv $env_dir failed" >&2; exit 1; }
  "$env_dir/bin/pip" install -q --disable-pip-version-check "${packages[@]}" >&2 ||
    { echo "python_env.sh: pip install ${packages[*]} failed (PyPI unreachable?)" >&2; exit 1; }
  echo "${packages[*]}" >"$stamp"
fi
echo "$env_dir/bin/python"
