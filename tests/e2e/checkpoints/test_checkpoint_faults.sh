#!/usr/bin/env bash
# e2e: checkpoint failures in a distillation job (1 teacher + 2 students through real mpirun).
# A kill between write and rename, a corrupted newest checkpoint (flipped byte, truncated file,
# deleted manifest) and a full disk: each resume falls back to the last good checkpoint, no
# partial file survives the next start, and the final weights equal an uninterrupted run.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
rank_prefix=()  # what each rank runs before retort (a file-size limit in test 3)
job() {  # job OUT_DIR [retort args...]: one distillation run; its exit code
  local out=$1; shift
  timeout 300 "${mpirun[@]}" -np 3 "${rank_prefix[@]}" "$retort" train "$tmp/distill.yaml" --set run.out_dir="$out" "$@" \
    >>"$out.log" 2>&1
}
same() { cmp -s "$tmp/whole/final.safetensors" "$1/final.safetensors" || fail "$2: final weights differ from the uninterrupted run"; }

cat >"$tmp/distill.yaml" <<YAML
run: {name: distill}
student: {hidden: [64]}
data: {train_fraction: 0.05}
teacher: {checkpoint: $tmp/teacher/final.safetensors}
cluster: {teachers: 1, students: 2}
train: {batch_size: 60, epochs: 1, max_steps: 30, log_every_steps: 10, checkpoint_every_steps: 10, keep_checkpoints: 3, eval_batch_size: 5000}
YAML
train_small_teacher 32 20
job "$tmp/whole" || { fail "uninterrupted run"; exit 1; }

# 1. Killed between writing checkpoint 20 and its rename: the job fails, the restart removes the
#    partial checkpoint, resumes from step 10 and ends equal.
rank_prefix=(env RETORT_FAULT_CKPT_BEFORE_RENAME=20)
job "$tmp/kill" && fail "the fault hook did not stop the job"
rank_prefix=()
[ -d "$tmp/kill/checkpoints/step-00000020.tmp" ] || fail "no partial checkpoint left by the kill (did the hook fire?)"
job "$tmp/kill" || fail "restart after a kill during checkpoint write"
grep -q "removing the partial checkpoint" "$tmp/kill.log" || fail "the partial checkpoint was not reported"
grep -q "resumed from step 10" "$tmp/kill.log" || fail "did not resume from step 10 after the kill"
ls "$tmp/kill/checkpoints" | grep -q "\.tmp" && fail "a partial checkpoint survived the restart"
same "$tmp/kill" "kill during checkpoint write"

# 2. The newest checkpoint corrupted three ways: resume falls back to the previous one.
for how in flip truncate manifest; do
  out="$tmp/corrupt-$how"
  job "$out" --stop-after-step 20 || fail "$how: first part"
  newest="$out/checkpoints/step-00000020"
  case $how in
    flip) printf '\xff' | dd of="$newest/model.safetensors" bs=1 seek=200 conv=notrunc status=none ;;
    truncate) truncate -s 100 "$newest/model.safetensors" ;;
    manifest) rm "$newest/manifest.json" ;;
  esac
  job "$out" || fail "$how: resume"
  grep -q "resumed from step 10" "$out.log" || fail "$how: did not fall back to step 10 ($(grep -i -m2 'warn\|error' "$out.log"))"
  same "$out" "corrupt newest checkpoint ($how)"
done

# 3. A full disk (file size limit below one checkpoint): a clean error naming the file, a
#    non-zero exit, the previous checkpoint intact; the next run resumes and ends equal.
job "$tmp/full" --stop-after-step 10 || fail "full disk: first part"
# Each rank ignores SIGXFSZ (so writes past the limit fail with EFBIG) and may write 64 KB per file.
rank_prefix=(sh -c 'trap "" XFSZ; ulimit -f 128; exec "$@"' rank)
job "$tmp/full" && fail "a checkpoint into a full disk exited 0"
rank_prefix=()
grep -qE "error: .*(File too large|No space|cannot write).*step-00000020" "$tmp/full.log" ||
  fail "full disk: no clean error naming the checkpoint file: $(grep -m3 -i error "$tmp/full.log")"
[ ! -d "$tmp/full/checkpoints/step-00000020" ] || fail "full disk: a checkpoint that failed to write was published"
job "$tmp/full" || fail "full disk: resume"
grep -q "resumed from step 10" "$tmp/full.log" || fail "full disk: did not resume from the intact step 10"
same "$tmp/full" "full disk"

finish "checkpoint faults"
