#!/usr/bin/env bash
# e2e: the real `retort` binary: help for every subcommand, exit codes, `config check` on the
# example and on files users get wrong (each with its exact one-line message and exit code 2).
source "$(dirname "$0")/../lib.sh" "$@"
root=${2:?usage: test_cli.sh path/to/retort repo_root}

for cmd in train teach eval inspect launch "config check" "config docs" version; do
  # shellcheck disable=SC2086
  $retort $cmd --help >"$tmp/help" 2>&1 || fail "retort $cmd --help exited non-zero"
  grep -q "Usage" "$tmp/help" || fail "retort $cmd --help printed no usage"
done
expect 0 "" -- "$retort" version
grep -q "^retort " "$tmp/out" || fail "version prints no 'retort X.Y.Z'"
expect 2 "" -- "$retort" frobnicate
expect 2 "" -- "$retort"

# The example's teacher (runs/fmnist-teacher/final.safetensors) is trained by the quickstart: a
# config naming a teacher that does not exist is refused, so these checks name one that does.
: >"$tmp/teacher.safetensors"
have_teacher=(--set teacher.checkpoint="$tmp/teacher.safetensors")
expect 0 "" -- "$retort" config check "$root/examples/fashion_mnist/distill.yaml" "${have_teacher[@]}"
grep -q "temperature:" "$tmp/out" || fail "config check did not print the resolved distill section"
grep -q "bucket_mb:" "$tmp/out" || fail "config check did not fill defaults (comm.bucket_mb)"
expect 0 "" -- "$retort" config check "$root/examples/fashion_mnist/distill.yaml" --world-size 3 "${have_teacher[@]}"
expect 2 "retort: error: $root/examples/fashion_mnist/distill.yaml: teacher.checkpoint: '$tmp/none.safetensors' does not exist; retort train needs the teacher's weights there" -- \
  "$retort" config check "$root/examples/fashion_mnist/distill.yaml" --set teacher.checkpoint="$tmp/none.safetensors"

printf 'run:\n  name: x\n' >"$tmp/ok.yaml"
printf 'run:\n  name: x\ndistill:\n  temprature: 3\n' >"$tmp/typo.yaml"
expect 2 "retort: error: $tmp/typo.yaml:4:3: distill.temprature: unknown key (did you mean 'distill.temperature'?)" -- "$retort" config check "$tmp/typo.yaml"
expect 2 "retort: error: --set train.epochs=zero: train.epochs: expected an integer, got 'zero'" -- "$retort" config check "$tmp/ok.yaml" --set train.epochs=zero
expect 2 "retort: error: $tmp/none.yaml: config file does not exist" -- "$retort" config check "$tmp/none.yaml"
: >"$tmp/empty.yaml"
expect 2 "retort: error: $tmp/empty.yaml: file is empty" -- "$retort" config check "$tmp/empty.yaml"
printf 'run:\n  name: \xff\xfe\n' >"$tmp/latin.yaml"
expect 2 "retort: error: $tmp/latin.yaml: not valid UTF-8 (byte 0xff at offset 13); a config file is UTF-8 YAML" -- "$retort" config check "$tmp/latin.yaml"
head -c 10485760 /dev/urandom >"$tmp/garbage.yaml"
expect 2 "retort: error: $tmp/garbage.yaml: file is 10.0 MiB; a config file is at most 1 MiB of YAML" -- "$retort" config check "$tmp/garbage.yaml"
head -c 4000 /dev/urandom >"$tmp/small-garbage.yaml"
expect 2 "" -- "$retort" config check "$tmp/small-garbage.yaml"
printf 'run: {name: x}\nteacher: {checkpoint: t}\ncluster: {teachers: 1, students: 2}\n' >"$tmp/world.yaml"
expect 2 "retort: error: $tmp/world.yaml: cluster: teachers (1) + students (2) = 3 ranks, but the MPI world has 5" -- "$retort" config check "$tmp/world.yaml" --world-size 5
# The training engine's own checks (device, optimizer, schedule, data) run in `config check` too:
# a CUDA student with online (CPU) teachers and transport: nccl is refused there with exit 2 (the
# NCCL logits channel wants teacher logits on a GPU), or as "no CUDA" in a CPU-only build.
expect 2 "" -- "$retort" config check "$root/examples/fashion_mnist/distill.yaml" --set device=cuda --set transport=nccl
grep -q "^retort: error: device: cuda" "$tmp/err" || fail "config check with device=cuda, transport=nccl and online teachers: $(head -c 300 "$tmp/err")"

finish cli
