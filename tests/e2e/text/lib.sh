# Shared prelude of the text e2e tests, sourced with "$@" = retort binary, repo root. Sets
# retort, root, here, tmp, PY (the reference venv), fail/finish/expect, and corpus helpers.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"  # retort, tmp, fail/finish/expect
root=${2:?usage: $(basename "$0") path/to/retort repo_root}
here=$root/tests/e2e/text
python_env() { PY=$("$root/tests/support/python_env.sh") || { echo "FAIL: no Python reference environment"; exit 1; }; }
# fortunes_corpus FILE: the English fortune files (Debian's fortunes, fortunes-min), ~2.5 MB.
fortunes_corpus() {
  local dir=/usr/share/games/fortunes
  [ -d "$dir" ] || { echo "FAIL: $dir missing (apt-get install fortunes; launch/setup.sh does)"; exit 1; }
  find "$dir" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' | sort | xargs cat >"$1"
}
# jargon_corpus FILE: the Jargon File as plain text (Debian's jargon-text), ~1.7 MB.
jargon_corpus() {
  local gz=/usr/share/doc/jargon-text/jargon.txt.gz
  [ -f "$gz" ] || { echo "FAIL: $gz missing (apt-get install jargon-text; launch/setup.sh does)"; exit 1; }
  zcat "$gz" >"$1"
}
# check_ids TOKENIZER REFERENCE_JSON TEXT: retort's ids equal the reference's, and decode
# gives TEXT back byte for byte.
check_ids() {
  local tok=$1 ref=$2 text=$3 name; name=$(basename "$text")
  "$retort" tokenizer encode "$tok" --file "$text" >"$tmp/$name.ids" 2>"$tmp/err" || { fail "encode $name: $(cat "$tmp/err")"; return; }
  "$PY" "$here/reference.py" compare "$ref" "$text" "$tmp/$name.ids" || fail "$name: ids differ from tokenizers"
  "$retort" tokenizer decode "$tok" --file "$tmp/$name.ids" >"$tmp/$name.back" 2>"$tmp/err" || { fail "decode $name: $(cat "$tmp/err")"; return; }
  cmp -s "$text" "$tmp/$name.back" || fail "$name: decode(encode(x)) != x"
}
