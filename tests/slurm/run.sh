#!/usr/bin/env bash
# Slurm, for real: starts munged, slurmctld and slurmd for this one machine from a generated
# config in a temporary directory (3 fake GPUs as GRES), then sbatch-es the launch/slurm/
# templates running a short distillation (1 teacher + 2 students): emulate_cpu.sbatch with
# mpirun and with srun --mpi=pmix, and distill_gpu.sbatch (srun, one rank per "GPU"). Checks
# each job's state, output, student checkpoint and final weights (bitwise equal across the three
# launchers), runs a short LM distillation (copy-task Llama teacher) from emulate_cpu.sbatch
# (bitwise equal to the same job launched directly), then preempts a longer job with SIGUSR1 to its batch script (scancel --batch): it
# must checkpoint, exit 75, requeue itself, resume and end bitwise-equal to an uninterrupted run.
# Stops what it started by PID. Exit 77 (skipped) only when the daemons cannot start.
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR}
build=$(cd "$build" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
retort=$build/bin/retort
started=$SECONDS
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
skip() { echo "SKIP (slurm): $*"; exit 77; }
[ -x "$retort" ] || { echo "FAIL: $retort is not built"; exit 1; }
# Run as if outside any allocation, whatever environment ctest was started from.
for v in $(env | grep -o '^SLURM_[A-Z_]*'); do unset "$v"; done

[ "$(id -u)" -eq 0 ] || skip "starting slurmd and munged needs root (uid $(id -u))"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm munge"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 ||
    skip "slurm-wlm/munge are not installed and apt-get install failed"
fi

tmp=$(mktemp -d /tmp/retort-slurm.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
  if [ -n "${SLURM_CONF:-}" ]; then timeout 10 scancel --quiet --user="$(id -un)" >/dev/null 2>&1; fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# start NAME COMMAND...: a daemon in the foreground of a background job; stays up 1 s or skip.
start() {
  local name=$1; shift
  "$@" >"$tmp/$name.out" 2>&1 &
  local pid=$!
  pids+=("$pid")
  sleep 1
  kill -0 "$pid" 2>/dev/null || skip "$name could not start: $(tail -3 "$tmp/$name.out" | tr '\n' ' ')"
}

# ---- munge and a one-node cluster -------------------------------------------------------
mungekey -c -k "$tmp/munge.key" >/dev/null 2>&1 || skip "mungekey could not create a key"
start munged munged -F -f -S "$tmp/munge.sock" --key-file="$tmp/munge.key" --log-file="$tmp/munged.log" \
  --pid-file="$tmp/munged.pid" --seed-file="$tmp/munged.seed"

host=$(hostname -s)
port=$((20000 + RANDOM % 9000))
mkdir -p "$tmp/state" "$tmp/spool"
for i in 0 1 2; do mknod "$tmp/gpu$i" c 1 3 2>/dev/null || : >"$tmp/gpu$i"; done
cat >"$tmp/gres.conf" <<EOF
NodeName=$host Name=gpu File=$tmp/gpu[0-2]
EOF
# 4 CPUs are declared (config_overrides) so 3 tasks per node fit on a 2-core machine.
cat >"$tmp/slurm.conf" <<EOF
ClusterName=retorttest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$tmp/munge.sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SlurmdParameters=config_overrides
ReturnToService=2
MessageTimeout=60
GresTypes=gpu
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=4 RealMemory=1000 Gres=gpu:3 State=UNKNOWN
PartitionName=retort Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
export SLURM_CONF=$tmp/slurm.conf
start slurmctld slurmctld -D -c -f "$SLURM_CONF"
start slurmd slurmd -D -f "$SLURM_CONF"
state=""
for _ in $(seq 1 30); do
  state=$(timeout 5 sinfo -h -n "$host" -o %T 2>/dev/null)
  [ "$state" = idle ] && break
  sleep 1
done
if [ "$state" != idle ]; then
  echo "FAIL: the node is '$state', not idle, 30 s after the daemons started"
  tail -5 "$tmp/slurmctld.log" "$tmp/slurmd.log" 2>/dev/null
  exit 1
fi
echo "cluster up in $((SECONDS - started)) s: node $host idle (slurmctld port $port)"

# ---- a teacher, trained here (supervised), then three distillation jobs -----------------
cat >"$tmp/teacher.yaml" <<EOF
run: {name: teacher, out_dir: $tmp/teacher}
cluster: {students: 1}
data: {train_fraction: 0.02}
student: {hidden: [32]}
train: {batch_size: 32, max_steps: 40}
logging: {progress: never}
EOF
timeout -k 10 150 "$retort" launch --emulate "$tmp/teacher.yaml" >"$tmp/teacher.log" 2>&1 || { echo "FAIL: teacher run: $(tail -5 "$tmp/teacher.log")"; exit 1; }

submit() {  # submit NAME [env assignments] -- sbatch options -- template
  local name=$1; shift
  sed "s|@OUT@|$tmp/$name|" >"$tmp/$name.yaml" <<EOF
run: {name: $name, out_dir: @OUT@}
cluster: {teachers: 1, students: 2}
data: {train_fraction: 0.02}
teacher: {checkpoint: $tmp/teacher/final.safetensors}
student: {hidden: [16]}
train: {batch_size: 32, max_steps: 40, checkpoint_every_steps: 20}
logging: {progress: never}
EOF
  local id
  id=$(env RETORT="$retort" "$@" "$tmp/$name.yaml" 2>&1) || { fail "$name: sbatch refused the job: $id"; return; }
  echo "$id" >"$tmp/$name.jobid"
  echo "submitted $name as job $id"
}
sb=(sbatch --parsable --chdir="$tmp" --time=5 --output="$tmp/%x-%j.out")
submit emulate_mpirun "${sb[@]}" --job-name=emulate_mpirun "$root/launch/slurm/emulate_cpu.sbatch"
submit emulate_srun env RETORT_VIA=srun "${sb[@]}" --job-name=emulate_srun --ntasks=3 --overcommit \
  "$root/launch/slurm/emulate_cpu.sbatch"
submit distill_gpu "${sb[@]}" --job-name=distill_gpu --nodes=1 --gpus-per-node=3 --ntasks-per-node=3 \
  --cpus-per-task=1 "$root/launch/slurm/distill_gpu.sbatch"

# ---- wait (bounded) and check every job -----------------------------------------------------
check_job() {  # check_job NAME "expected launcher line"
  local name=$1 launcher=$2 id state="" info=""
  [ -f "$tmp/$name.jobid" ] || return
  id=$(cat "$tmp/$name.jobid")
  while [ $((SECONDS - started)) -lt 160 ]; do
    info=$(timeout 5 scontrol show job "$id" -o 2>/dev/null)
    state=$(grep -o 'JobState=[A-Z_]*' <<<"$info")
    case $state in *PENDING* | *RUNNING* | *CONFIGURING* | *COMPLETING* | "") sleep 1 ;; *) break ;; esac
  done
  local out=$tmp/$name-$id.out
  echo "--- $name (job $id): $state $(grep -o 'ExitCode=[0-9:]*' <<<"$info")"
  [ -f "$out" ] && sed 's/^/    /' "$out" | grep -E "retort job|retort launch|done:" 
  [ "$state" = JobState=COMPLETED ] || fail "$name: job $id ended $state ($(grep -o 'Reason=[^ ]*' <<<"$info")): $(tail -5 "$out" 2>/dev/null)"
  grep -q 'ExitCode=0:0' <<<"$info" || fail "$name: job $id exit code is not 0:0"
  grep -qF "retort launch: $launcher" "$out" 2>/dev/null || fail "$name: output lacks the launcher line '$launcher'"
  grep -q "done: 40 steps, test accuracy" "$out" 2>/dev/null || fail "$name: output lacks the student's 'done: 40 steps' line"
  [ -f "$tmp/$name/final.safetensors" ] || fail "$name: no final.safetensors"
  local ckpt
  ckpt=$(ls -d "$tmp/$name"/checkpoints/step-* 2>/dev/null | tail -1)
  if [ -z "$ckpt" ]; then
    fail "$name: no student checkpoint in $tmp/$name/checkpoints"
  else
    "$retort" eval --checkpoint "$ckpt" >"$tmp/$name.eval" 2>&1 || fail "$name: checkpoint $ckpt does not verify: $(cat "$tmp/$name.eval")"
  fi
}
check_job emulate_mpirun "mpirun -np 3"
check_job emulate_srun "srun --mpi=pmix -n 3 --kill-on-bad-exit=1 --overcommit"
check_job distill_gpu "srun --mpi=pmix -n 3 --kill-on-bad-exit=1 $retort train $tmp/distill_gpu.yaml --set cluster.teachers=1 --set cluster.students=2"
for name in emulate_srun distill_gpu; do
  cmp -s "$tmp/emulate_mpirun/final.safetensors" "$tmp/$name/final.safetensors" ||
    fail "$name: final student weights differ from the mpirun job's"
done

# ---- a short LM distillation from the same batch template: equal to the same job run directly
cat >"$tmp/lm-teacher.yaml" <<EOF
run: {name: lm-teacher, out_dir: $tmp/lm-teacher, seed: 3}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 1024}
student: {arch: llama, vocab_size: 16, dim: 32, n_layers: 1, n_heads: 2, ffn_dim: 64}
train: {batch_size: 16, epochs: 1, max_steps: 20}
logging: {progress: never}
EOF
timeout -k 10 150 "$retort" train "$tmp/lm-teacher.yaml" >"$tmp/lm-teacher.log" 2>&1 || fail "LM teacher run: $(tail -3 "$tmp/lm-teacher.log")"
cat >"$tmp/lm_distill.yaml" <<EOF
run: {name: lm_distill, out_dir: $tmp/lm_distill, seed: 5}
cluster: {teachers: 1, students: 2}
data: {dataset: copy_task, seq_len: 16, copy_train_size: 1024}
student: {arch: llama, vocab_size: 16, dim: 16, n_layers: 1, n_heads: 2, ffn_dim: 32}
teacher: {checkpoint: $tmp/lm-teacher/final.safetensors}
distill: {topk: 4, wire_dtype: bf16, temperature: 2}
train: {batch_size: 8, epochs: 1, max_steps: 20, checkpoint_every_steps: 10}
logging: {progress: never}
EOF
id=$(env RETORT="$retort" "${sb[@]}" --job-name=lm_distill "$root/launch/slurm/emulate_cpu.sbatch" "$tmp/lm_distill.yaml" 2>&1) ||
  fail "lm_distill: sbatch refused the job: $id"
lm_deadline=$((SECONDS + 120))
state=""
while [ $SECONDS -lt $lm_deadline ]; do
  info=$(timeout 5 scontrol show job "$id" -o 2>/dev/null)
  state=$(grep -o 'JobState=[A-Z_]*' <<<"$info")
  case $state in *PENDING* | *RUNNING* | *CONFIGURING* | *COMPLETING* | "") sleep 1 ;; *) break ;; esac
done
out=$tmp/lm_distill-$id.out
echo "--- lm_distill (job $id): $state"
grep -E "retort job|retort launch|done:" "$out" 2>/dev/null | sed 's/^/    /'
[ "$state" = JobState=COMPLETED ] || fail "lm_distill: job $id ended $state: $(tail -5 "$out" 2>/dev/null)"
grep -q "done: 20 steps, validation perplexity" "$out" 2>/dev/null || fail "lm_distill: no 'done: 20 steps' line"
sed "s|out_dir: $tmp/lm_distill|out_dir: $tmp/lm_distill-reference|" "$tmp/lm_distill.yaml" >"$tmp/lm_distill-reference.yaml"
timeout -k 10 150 "$retort" launch --emulate "$tmp/lm_distill-reference.yaml" >"$tmp/lm_distill-reference.log" 2>&1 ||
  fail "lm_distill: reference run failed: $(tail -3 "$tmp/lm_distill-reference.log")"
cmp -s "$tmp/lm_distill/final.safetensors" "$tmp/lm_distill-reference/final.safetensors" ||
  fail "lm_distill: the Slurm job's student differs from the same job launched directly"

# ---- preemption: SIGUSR1 to the batch script -> checkpoint, exit 75, requeue, resume -----
cat >"$tmp/preempt.yaml" <<EOF
run: {name: preempt, out_dir: $tmp/preempt}
cluster: {teachers: 1, students: 2}
data: {train_fraction: 0.02}
teacher: {checkpoint: $tmp/teacher/final.safetensors}
student: {hidden: [512]}   # ~3 ms a step on a quiet 2-core machine: still running when the signal lands
train: {batch_size: 32, epochs: 100, max_steps: 3000, checkpoint_every_steps: 100}
logging: {progress: never}
EOF
id=$(env RETORT="$retort" "${sb[@]}" --job-name=preempt "$root/launch/slurm/emulate_cpu.sbatch" "$tmp/preempt.yaml" 2>&1) ||
  fail "preempt: sbatch refused the job: $id"
deadline=$((SECONDS + 60))
until ls -d "$tmp"/preempt/checkpoints/step-* >/dev/null 2>&1 || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
timeout 10 scancel --batch --signal=USR1 "$id" || fail "preempt: scancel --batch --signal=USR1 failed"
# An uninterrupted reference while Slurm requeues the job.
sed "s|out_dir: $tmp/preempt|out_dir: $tmp/preempt-reference|" "$tmp/preempt.yaml" >"$tmp/preempt-reference.yaml"
timeout -k 10 150 "$retort" launch --emulate "$tmp/preempt-reference.yaml" >"$tmp/preempt-reference.log" 2>&1 || fail "preempt: reference run failed"
info=""
preempt_deadline=$((SECONDS + 150))
while [ $SECONDS -lt $preempt_deadline ]; do
  info=$(timeout 5 scontrol show job "$id" -o 2>/dev/null)
  state=$(grep -o 'JobState=[A-Z_]*' <<<"$info")
  restarts=$(grep -o 'Restarts=[0-9]*' <<<"$info")
  [ "$state" = JobState=COMPLETED ] && [ "$restarts" != Restarts=0 ] && break
  case $state in *FAILED* | *CANCELLED* | *TIMEOUT* | *NODE_FAIL*) break ;; esac
  if [ "$state" = JobState=PENDING ] && [ "$restarts" != Restarts=0 ] && [ -z "${nudged:-}" ]; then
    # Slurm delays a requeued job's start (Reason=BeginTime); this test cluster need not wait
    # the full delay, but the job's old credential is revoked at requeue time with one-second
    # resolution: a start in the same second is refused ("Job credential revoked"). Start it a
    # few seconds later.
    echo "requeued job $id pending: $(grep -o 'Reason=[^ ]*' <<<"$info") $(grep -o 'StartTime=[^ ]*' <<<"$info")"
    timeout 10 scontrol update JobId="$id" StartTime=now+3 && nudged=1
  fi
  sleep 1
done
out=$tmp/preempt-$id.out
echo "--- preempt (job $id): $state $restarts $(grep -o 'ExitCode=[0-9:]*' <<<"$info")"
grep -E "retort job|stop requested|job stopped|requeueing|done:" "$out" 2>/dev/null | sed 's/^/    /'
if ! { [ "$state" = JobState=COMPLETED ] && [ "$restarts" = Restarts=1 ]; }; then
  fail "preempt: job $id is $state $restarts, expected COMPLETED after 1 requeue"
  echo "    slurmd.log (last lines):"; tail -n 15 "$tmp/slurmd.log" | sed 's/^/      /'
  echo "    slurmctld.log (last lines):"; tail -n 15 "$tmp/slurmctld.log" | sed 's/^/      /'
fi
grep -q "job stopped: exit code 75 (preempted" "$out" 2>/dev/null || fail "preempt: no exit-75 line in $out"
grep -q "preempted, checkpoint written; requeueing" "$out" 2>/dev/null || fail "preempt: the template did not requeue"
grep -q "restart count 1" "$out" 2>/dev/null || fail "preempt: no second run (restart count 1) in $out"
cmp -s "$tmp/preempt-reference/final.safetensors" "$tmp/preempt/final.safetensors" ||
  fail "preempt: final student weights differ from the uninterrupted run"

echo "slurm test took $((SECONDS - started)) s"
if [ "$failures" -gt 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "slurm: all checks passed"
