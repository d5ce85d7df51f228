#!/usr/bin/env bash
# `retort plot` on real files: a two-run chart with both panels, and the input errors (exit 2,
# naming the file or field). Usage: plot_cli.sh RETORT_BINARY
set -u
retort=${1:?usage: plot_cli.sh RETORT_BINARY}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$dir/scratch" "$dir/distill"
cat > "$dir/scratch/metrics.jsonl" <<'JSON'
{"kind":"train","step":50,"loss":1.5,"accuracy":0.5}
{"kind":"train","step":100,"loss":0.9,"accuracy":0.7}
{"kind":"eval","step":100,"test_accuracy":0.8,"test_errors":2000}
JSON
cat > "$dir/distill/metrics.jsonl" <<'JSON'
{"kind":"train","step":50,"loss":1.2,"kd":1.0}
{"kind":"train","step":100,"loss":0.6,"kd":0.5}
{"kind":"eval","step":100,"test_accuracy":0.85,"test_errors":1500}
JSON

"$retort" plot "$dir/scratch/metrics.jsonl" "$dir/distill" -o "$dir/out/both.svg" --title "s vs d" \
  || fail "plot of two runs exited $?"
svg="$dir/out/both.svg"
[ -s "$svg" ] || fail "no SVG written"
[ "$(grep -c '<polyline' "$svg")" = 4 ] || fail "expected 4 curves (2 runs x loss, test_accuracy)"
grep -q '>scratch</text>' "$svg" || fail "default label 'scratch' missing"
grep -q '>distill</text>' "$svg" || fail "default label 'distill' missing"
grep -q '>s vs d</text>' "$svg" || fail "title missing"

"$retort" plot "$dir/distill" -o "$dir/kd.svg" --y kd --label KD || fail "plot --y kd exited $?"
[ "$(grep -c '<polyline' "$dir/kd.svg")" = 1 ] || fail "expected one kd curve"
grep -q '>KD</text>' "$dir/kd.svg" || fail "--label not used"

expect_input_error() {  # expected-text args...
  local want=$1; shift
  local err
  err=$("$retort" "$@" 2>&1 >/dev/null)
  local rc=$?
  [ $rc = 2 ] || fail "'$*' exited $rc, expected 2 ($err)"
  [[ $err == *"$want"* ]] || fail "'$*' said '$err', expected it to mention '$want'"
}
expect_input_error "$dir/missing.jsonl" plot "$dir/missing.jsonl" -o "$dir/x.svg"
expect_input_error "'nosuchfield'" plot "$dir/scratch/metrics.jsonl" -o "$dir/x.svg" --y nosuchfield
expect_input_error "'epoch'" plot "$dir/scratch/metrics.jsonl" -o "$dir/x.svg" --x epoch
expect_input_error "2 --label values for 1" plot "$dir/scratch" -o "$dir/x.svg" --label a --label b
printf '{"step":1,"loss":1}\nnot json\n{"step":2,"loss":2}\n' > "$dir/bad.jsonl"
expect_input_error "bad.jsonl:2" plot "$dir/bad.jsonl" -o "$dir/x.svg"
[ ! -e "$dir/x.svg" ] || fail "an SVG was written despite an input error"
echo "plot_cli: all checks passed"
