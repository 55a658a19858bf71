#!/usr/bin/env bash
# tests/multihost/test_netns.sh - two "hosts" without a cluster: two
# network namespaces joined by a veth link, one rank in each, Open MPI over
# TCP between them, the remote daemon started through an rsh agent that
# enters the other namespace. The checkpoint must equal the same training
# on one host (shared memory).
#
#   BUILD=build/rel bash tests/multihost/test_netns.sh    (or: make multihost-test)
#
# Host A = namespace $NS_A, 10.250.0.1; host B = $NS_B, 10.250.0.2 (the
# addresses exist only inside these namespaces). mpirun runs in A; A is
# its local host, B is reached through the agent. Needs root (ip netns);
# without it, or where namespaces cannot be made, the test SKIPs (exit 0).
# Prints "multihost-test: PASS|FAIL|SKIP ..." last.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
BUILD="${BUILD:-build/rel}"
AXON="$ROOT/$BUILD/bin/axon"
CMP="$ROOT/$BUILD/bin/tests/ckpt_compare"
CONFIG="$ROOT/configs/fashion_mlp.yaml"
# 50 steps, one BLAS thread per rank on both sides: with 2 ranks the
# gradient mean (a+b)/2 does not depend on the transport, so the runs
# agree bitwise, not only to the 1e-5 the test demands.
RUN=(--set training.max_steps=50 --set data.limit=5000)
export OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

say() { echo "multihost-test: $*"; }
skip() { say "SKIP: $*"; exit 0; }
failures=()
check() { # description, command...
  local what="$1"; shift
  if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what"; failures+=("$what"); fi
}

[ -x "$AXON" ] && [ -x "$CMP" ] || { say "FAIL: build first: $AXON, $CMP"; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
if ! command -v ip >/dev/null; then
  AXON_EXTRA_PKGS=iproute2 bash scripts/install-deps.sh || skip "cannot install iproute2"
fi

NS_A="axon-mh$$-a"; NS_B="axon-mh$$-b"
VETH_A="axmh$$a"; VETH_B="axmh$$b" # at most 15 characters
IP_A=10.250.0.1; IP_B=10.250.0.2; NET=10.250.0.0/24
WORK="$(mktemp -d "${TMPDIR:-/tmp}/axon-mh-XXXXXX")"
cleanup() {
  local ns pid
  for ns in "$NS_A" "$NS_B"; do
    # processes left in our namespaces (a daemon after a time-out) are ours
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null # takes its end of the veth with it
  done
  ip link del "$VETH_A" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- the two hosts -------------------------------------------------------
net() { # run one setup command; on error skip, naming the command
  local err
  err="$("$@" 2>&1)" || skip "cannot set up namespaces: '$*' failed: $err"
}
net ip netns add "$NS_A"
net ip netns add "$NS_B"
net ip link add "$VETH_A" type veth peer name "$VETH_B"
net ip link set "$VETH_A" netns "$NS_A"
net ip link set "$VETH_B" netns "$NS_B"
net ip -n "$NS_A" addr add "$IP_A/24" dev "$VETH_A"
net ip -n "$NS_B" addr add "$IP_B/24" dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do net ip -n "$ns" link set lo up; done
net ip -n "$NS_A" link set "$VETH_A" up
net ip -n "$NS_B" link set "$VETH_B" up

# The rsh agent: Open MPI calls it as `agent [options] HOST COMMAND...`
# to start its daemon on HOST; we run COMMAND in that host's namespace.
cat >"$WORK/agent.sh" <<EOF
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host="\$1"; shift
case "\$host" in
  $IP_A) ns=$NS_A ;;
  $IP_B) ns=$NS_B ;;
  *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
echo "\$host \$ns \$*" >>"$WORK/agent.log"
exec ip netns exec "\$ns" sh -c "\$*"
EOF
chmod +x "$WORK/agent.sh"
printf '%s slots=1\n%s slots=1\n' "$IP_A" "$IP_B" >"$WORK/hosts"
rx_bytes() { ip netns exec "$NS_B" cat "/sys/class/net/$VETH_B/statistics/rx_bytes" 2>/dev/null; }
rx0="$(rx_bytes)"

# ---- the runs ------------------------------------------------------------
say "2 ranks on 2 hosts ($NS_A $IP_A, $NS_B $IP_B) over TCP"
rc=0
timeout -k 5 120 ip netns exec "$NS_A" mpirun --hostfile "$WORK/hosts" -np 2 \
  --mca plm_rsh_agent "$WORK/agent.sh" --mca plm_rsh_no_tree_spawn 1 \
  --mca btl tcp,self --mca btl_tcp_if_include "$NET" --mca oob_tcp_if_include "$NET" \
  --bind-to none -x OPENBLAS_NUM_THREADS \
  "$AXON" train "$CONFIG" "${RUN[@]}" --set checkpoint.dir="$WORK/two" \
  --set logging.metrics="$WORK/two/metrics.jsonl" >"$WORK/two.out" 2>&1 || rc=$?
rx1="$(rx_bytes)"
say "the same on 1 host over shared memory"
timeout -k 5 120 scripts/mpirun.sh 2 "$AXON" train "$CONFIG" "${RUN[@]}" --quiet \
  --set checkpoint.dir="$WORK/one" --set logging.metrics="$WORK/one/metrics.jsonl" \
  >"$WORK/one.out" 2>&1 || { cat "$WORK/one.out"; say "FAIL: the one-host run failed"; exit 1; }

check "the two-host run exited 0 (got $rc)" test "$rc" = 0 || sed 's/^/        | /' "$WORK/two.out"
check "axon saw 2 ranks on 2 nodes, 1 per node" \
  grep -qs 'on 2 ranks, 2 nodes (1 per node)' "$WORK/two.out"
check "the agent started a daemon in $NS_B" grep -qs "^$IP_B $NS_B .*orted" "$WORK/agent.log"
check "gradients crossed the veth link (>10 MB into B: $(( (${rx1:-0} - ${rx0:-0}) / 1000000 )) MB)" \
  test $(( ${rx1:-0} - ${rx0:-0} )) -gt 10000000
check "the checkpoint equals the one-host run to 1e-5" \
  "$CMP" "$WORK/two/last.ckpt" "$WORK/one/last.ckpt" --tol 1e-5
check "... and bitwise" "$CMP" "$WORK/two/last.ckpt" "$WORK/one/last.ckpt" --exact

if [ ${#failures[@]} -eq 0 ]; then say "PASS (${SECONDS}s)"; exit 0; fi
say "FAIL (${failures[*]})"
exit 1
