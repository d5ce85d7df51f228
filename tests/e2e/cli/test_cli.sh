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
# CUDA students and teachers (teacher.device auto = device) with transport: nccl are accepted in a
# CUDA build, refused as "no CUDA" in a CPU-only one; online CPU teachers with transport: nccl are
# refused where the config loads (the NCCL logits channel carries logits between GPUs).
expect 2 "retort: error: --set transport=nccl: transport: nccl carries the teacher logits between GPUs, but teacher.device is cpu: use transport: auto (logits over mpi, gradients over nccl) or teacher.device: cuda" -- \
  "$retort" config check "$root/examples/fashion_mnist/distill.yaml" --set device=cuda --set teacher.device=cpu --set transport=nccl
expect 2 "retort: error: --set transport=nccl: transport: nccl needs device: cuda" -- \
  "$retort" config check "$root/examples/fashion_mnist/distill.yaml" --set teacher.device=cuda --set transport=nccl
if "$retort" version 2>/dev/null | grep -q "cuda/nccl"; then
  "$retort" config check "$root/examples/fashion_mnist/distill.yaml" --set device=cuda --set transport=nccl "${have_teacher[@]}" >"$tmp/out" 2>"$tmp/err" ||
    fail "config check of GPU teachers and students over nccl in a CUDA build: $(head -c 300 "$tmp/err")"
else
  expect 2 "" -- "$retort" config check "$root/examples/fashion_mnist/distill.yaml" --set device=cuda --set transport=nccl
  grep -q "^retort: error: device: cuda, but this build has no CUDA" "$tmp/err" || fail "config check with device=cuda, transport=nccl in a CPU build: $(head -c 300 "$tmp/err")"
fi

finish cli
