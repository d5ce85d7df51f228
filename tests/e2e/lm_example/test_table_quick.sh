#!/usr/bin/env bash
# e2e smoke test of the tiny-LM table script: examples/tiny_lm/run_table.sh --quick (one small
# fortune file, a 4-step schedule, scratch and the top-32 row over 2 seeds, the top-8 and sampled
# rows; teacher targets from the caches: one top-32 teach for both seeds, top-8 truncated from it,
# one sampled teach) writes results.md with a number in every column that has one, the export
# check (HF directory and checkpoint score the same test perplexity), the plot and the generations.
source "$(dirname "$0")/../lib.sh"
root=${2:?usage: test_table_quick.sh RETORT ROOT}
start=$(date +%s)
timeout 900 "$root/examples/tiny_lm/run_table.sh" --quick --out "$tmp/table" --retort "$retort" >"$tmp/table.log" 2>&1 ||
  { fail "run_table.sh --quick: $(tail -n 15 "$tmp/table.log")"; finish e2e_lm_table_quick; }
secs=$(( $(date +%s) - start ))
results=$tmp/table/results.md
[ -f "$results" ] || { fail "no results.md"; finish e2e_lm_table_quick; }
cat "$results"
num='[0-9]+(\.[0-9]+)?'
grep -qE "^\| teacher \(SmolLM2-135M-Instruct\) \| — \| $num \|" "$results" || fail "no teacher row with a perplexity"
grep -qE "^\| student from scratch \(CE only\) \| 2 \| $num ± $num \| $num \| $num \| — \|" "$results" || fail "no scratch row (2 seeds, mean ± std)"
grep -qE "^\| distilled, top-32 \+ tail \| 2 \| $num ± $num \| $num \| $num \| -?$num% \| $num \| $num \| $num \| $num \|$" "$results" || fail "no top-32 row"
grep -qE "^\| distilled, top-8 \+ tail \| 1 \| $num \| $num \| $num \| -?$num% \| $num \| $num \| $num \| $num \(truncated from topk32\) \|$" "$results" ||
  fail "no top-8 row truncated from the top-32 cache"
grep -qE "^\| distilled, sampled n = 16 \| 1 \| $num \| $num \| $num \| -?$num% \| $num \| $num \| $num \| $num \|$" "$results" || fail "no sampled row"
[ "$(ls "$tmp/table" | grep -c '^cache-[^.]*$')" -eq 3 ] || fail "not 3 caches (top-32, top-8, sampled): $(ls -d "$tmp"/table/cache-*)"
grep -qE "from the HF directory perplexity $num over [0-9]+ tokens" "$results" || fail "no export check in results.md"
grep -q "nan\|inf" "$results" && fail "results.md holds a nan or inf"
grep -c "<polyline" "$tmp/table/plots/ppl_vs_tokens.svg" | grep -qx 2 || fail "the plot does not have 2 curves"
grep -qE "^\| The trouble with computers is \| .+ \| .+ \| .+ \|$" "$results" || fail "no generations row"
echo "run_table.sh --quick: $secs s"
finish e2e_lm_table_quick
