#!/usr/bin/env bash
# e2e across two emulated hosts: two network namespaces joined by a veth pair, each with its own
# hostname (hosta, hostb), run one 2-teacher + 2-student MLP distillation over TCP with
# node-local placement (mpirun in hosta; ranks 2-3 started in hostb through an rsh agent). The
# role table must put one teacher on each host, and the student must be bitwise equal to the
# same job on one host. The namespaces are removed however the test ends (trap).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for ip netns"; exit 77; }
command -v ip >/dev/null && command -v unshare >/dev/null || { echo "SKIP: needs ip and unshare"; exit 77; }

tag=$$
ns_a="retort-a-$tag" ns_b="retort-b-$tag"
veth_a="rva$tag" veth_b="rvb$tag"
net="10.201.$((tag % 200 + 20))"
ip_a="$net.1" ip_b="$net.2"
cleanup() {
  for ns in "$ns_a" "$ns_b"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  [ -n "${RETORT_TEST_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns_a" && ip netns add "$ns_b" || { echo "SKIP: ip netns add failed"; exit 77; }
ip link add "$veth_a" type veth peer name "$veth_b" || { fail "cannot create the veth pair"; exit 1; }
ip link set "$veth_a" netns "$ns_a" && ip link set "$veth_b" netns "$ns_b" || { fail "cannot move the veth ends"; exit 1; }
ip -n "$ns_a" addr add "$ip_a/24" dev "$veth_a" && ip -n "$ns_b" addr add "$ip_b/24" dev "$veth_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$veth_a" up && ip -n "$ns_b" link set "$veth_b" up

# The rsh agent Open MPI uses to start its daemon on "host" $ip_b: a shell in that namespace
# with its own hostname (remote-shell semantics: the arguments are one command line).
cat >"$tmp/rsh-agent.sh" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in
  $ip_a) exec ip netns exec $ns_a unshare --uts sh -c "hostname hosta; \$*" ;;
  $ip_b) exec ip netns exec $ns_b unshare --uts sh -c "hostname hostb; \$*" ;;
  *) echo "rsh-agent: unknown host \$host" >&2; exit 1 ;;
esac
AGENT
chmod +x "$tmp/rsh-agent.sh"
two_hosts=(mpirun --allow-run-as-root --oversubscribe --bind-to none --host "$ip_a:2,$ip_b:2"
           --mca plm_rsh_agent "$tmp/rsh-agent.sh" --mca btl tcp,self
           --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24" -x OMP_NUM_THREADS=1)
on_host_a=(ip netns exec "$ns_a" unshare --uts sh -c 'hostname hosta; exec "$@"' sh)

# Where each rank runs, as MPI sees it.
timeout 60 "${on_host_a[@]}" "${two_hosts[@]}" -np 4 sh -c 'echo "rank $OMPI_COMM_WORLD_RANK on $(hostname)"' \
  >"$tmp/hosts.log" 2>&1 || { fail "a 4-rank job across the namespaces failed: $(tail -n 5 "$tmp/hosts.log")"; exit 1; }
for r in 0 1; do grep -q "^rank $r on hosta$" "$tmp/hosts.log" || fail "rank $r is not on hosta: $(cat "$tmp/hosts.log")"; done
for r in 2 3; do grep -q "^rank $r on hostb$" "$tmp/hosts.log" || fail "rank $r is not on hostb: $(cat "$tmp/hosts.log")"; done

train_small_teacher 32 20
cat >"$tmp/distill.yaml" <<YAML
run: {name: multihost}
student: {hidden: [16]}
data: {train_fraction: 0.05}
teacher: {checkpoint: $tmp/teacher/final.safetensors}
cluster: {teachers: 2, students: 2, placement: node-local}
distill: {topk: 4}
train: {batch_size: 60, epochs: 1, max_steps: 40, log_every_steps: 10, eval_batch_size: 5000}
YAML

timeout 300 "${on_host_a[@]}" "${two_hosts[@]}" -np 4 "$retort" train "$tmp/distill.yaml" --set run.out_dir="$tmp/two" \
  >"$tmp/two.log" 2>&1 || fail "the two-host job failed: $(grep -i error "$tmp/two.log" | head -n 3)"
grep -q "roles: 2 teachers, 2 students, 2 nodes, placement node-local" "$tmp/two.log" ||
  fail "the role table does not see 2 nodes: $(grep -A4 'roles:' "$tmp/two.log")"
grep -qE "rank 0 +teacher 0 +node 0 " "$tmp/two.log" && grep -qE "rank 2 +teacher 1 +node 1 " "$tmp/two.log" ||
  fail "not one teacher per host: $(grep -A4 'roles:' "$tmp/two.log")"
for s in "rank 1 +student 0 +node 0 +served by teacher 0 " "rank 3 +student 1 +node 1 +served by teacher 1 "; do
  grep -qE "$s" "$tmp/two.log" || fail "a student is not served by its own host's teacher: $(grep -A4 'roles:' "$tmp/two.log")"
done

timeout 300 "${mpirun[@]}" -np 4 -x OMP_NUM_THREADS=1 "$retort" train "$tmp/distill.yaml" --set run.out_dir="$tmp/one" \
  >"$tmp/one.log" 2>&1 || fail "the one-host job failed: $(grep -i error "$tmp/one.log" | head -n 3)"
grep -q "2 nodes" "$tmp/one.log" && fail "the one-host job saw 2 nodes"
if [ -f "$tmp/two/final.safetensors" ] && [ -f "$tmp/one/final.safetensors" ]; then
  cmp -s "$tmp/two/final.safetensors" "$tmp/one/final.safetensors" ||
    fail "the student trained across two hosts differs from the one-host student"
else
  fail "a job wrote no final.safetensors"
fi
finish multihost
