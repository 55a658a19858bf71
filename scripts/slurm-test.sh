#!/usr/bin/env bash
# scripts/slurm-test.sh - the slurm/ batch scripts on real SLURM clusters,
# brought up in a private temp dir and torn down on exit.
#
#   BUILD=build/rel bash scripts/slurm-test.sh     (or: make slurm-test)
#
# Each cluster: munged on a private socket and key, slurmctld and slurmd
# with a generated slurm.conf (proctrack/linuxproc: in a container
# proctrack/cgroup fails every step yet records the job COMPLETED with
# exit code 0, so every job is judged by its output too).
#
# Phase 1, one node (this host, as `slurmd -C` describes it), 2 ranks:
#   1 train.sbatch, 50 steps: exit code, job state, "done:"/"test: loss"
#     markers, its checkpoint in runs/<job id>, bitwise equal to the same
#     run under plain mpirun
#   2 train-mpirun.sbatch: the same, bitwise equal to job 1
#   3 train.sbatch sent USR1 mid-run (what --signal=B:USR1@60 does): it
#     requeues itself, resumes from its checkpoint and ends bitwise equal
#     to an uninterrupted run
#   4 a broken config: the checks above must call the job failed
#   5 multinode.sbatch as a 2-element array
# Phase 2, two nodes: network namespaces joined by a veth link (addresses
# 10.250.1.1-2 exist only there), each node with its own hostname and its
# own TmpFS. train.sbatch and train-mpirun.sbatch on 2 nodes x 1 rank
# (bitwise equal to job 1), multinode.sbatch on 2 nodes x 1 rank x 2 cores.
# Skipped, with a message, where namespaces cannot be made.
#
# After each phase the nodes must be idle (not drained, down or invalid).
# Daemons are stopped by pidfile. Prints "slurm-test: PASS ..." or
# "slurm-test: FAIL ..." last; exit status non-zero on failure.
# KEEP=1 keeps the temp dir; SLURM_TEST_ONE_NODE=1 skips phase 2.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BUILD="${BUILD:-build/rel}"
export AXON="$ROOT/$BUILD/bin/axon"
CMP="$ROOT/$BUILD/bin/tests/ckpt_compare"
CONFIG="$ROOT/configs/fashion_mlp.yaml"
SHORT=(--set training.max_steps=50 --set data.limit=5000)

n_checks=0; failures=(); notes=()
say() { echo "slurm-test: [${SECONDS}s] $*"; }
check() { # description, command...: record the outcome of one check
  local what="$1"; shift
  n_checks=$((n_checks + 1))
  if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what"; failures+=("$what"); fi
}
die() { # the cluster cannot go on: show its logs, the summary, exit 1
  local f
  for f in "${C:-/nonexistent}"/log/*.log; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
  done
  say "FAIL ($*${failures[*]:+; failed before: ${failures[*]}})"
  exit 1
}

[ -x "$AXON" ] && [ -x "$CMP" ] || { say "FAIL: build first: $AXON, $CMP"; exit 1; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  AXON_EXTRA_PKGS="slurm-wlm munge" bash scripts/install-deps.sh ||
    { say "FAIL: could not install slurm-wlm munge"; exit 1; }
fi
# Nothing of an enclosing SLURM job or of another cluster may leak in.
for v in $(compgen -e | grep '^SLURM_'); do unset "$v"; done

T="$(mktemp -d "${TMPDIR:-/tmp}/axon-slurm-XXXXXX")"
chmod 0755 "$T" # munged wants its socket directory world-searchable
C="" # the running cluster's directory
SL=() # prefix for SLURM commands: enters the controller's namespace
NS_A="axon-sl$$-a"; NS_B="axon-sl$$-b"; VETH_A="axsl$$a"; VETH_B="axsl$$b"

# ---- daemons ---------------------------------------------------------------
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_pidfile() { # TERM, then KILL after 10 s, the daemon a pidfile names
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
pidfiles() { ls "$C"/pid/*.pid 2>/dev/null; }
cluster_down() { # cancel jobs, stop the daemons of cluster $C by pidfile
  [ -n "$C" ] || return 0
  local f p link left=0
  if pid_alive "$C/pid/slurmctld.pid"; then
    scancel_all
    for _ in $(seq 30); do [ -z "$("${SL[@]}" squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for f in "$C/pid/slurmd-"*.pid "$C/pid/slurmctld.pid" "$C/pid/munged.pid"; do
    stop_pidfile "$f"
  done
  # Anything still working in the cluster's dir (a step daemon or rank
  # that outlived its slurmd) is ours: stop it by pid.
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = $$ ] && continue
    link="$(readlink "$p/cwd" 2>/dev/null)" || continue
    case "$link" in "$C"|"$C"/*) kill -KILL "${p#/proc/}" 2>/dev/null ;; esac
  done
  for f in $(pidfiles); do pid_alive "$f" && left=1; done
  [ "$left" = 0 ] || echo "slurm-test: WARNING: a daemon of $C survived" >&2
  C=""
}
scancel_all() {
  local ids
  ids="$("${SL[@]}" squeue -h -o %A 2>/dev/null)"
  [ -z "$ids" ] || "${SL[@]}" scancel --quiet $ids 2>/dev/null
}
netns_down() {
  local ns pid
  for ns in "$NS_A" "$NS_B"; do
    [ -e "/run/netns/$ns" ] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null # takes its end of the veth with it
  done
  ip link del "$VETH_A" 2>/dev/null
  return 0
}
teardown() {
  set +e
  cluster_down
  netns_down
  if [ -n "${KEEP:-}" ]; then echo "slurm-test: kept $T" >&2; else rm -rf "$T"; fi
}
trap teardown EXIT
trap 'exit 1' INT TERM

# A port pair (p, p+1) that no socket uses, below the kernel's ephemeral
# range (so no outgoing connection can take it between this check and the
# daemons' bind): 20000 up to the range's start.
free_port() {
  local p lo
  lo="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
  [ "$lo" -gt 21000 ] 2>/dev/null || lo=32768
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % (lo - 20002)))
    if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q . &&
       ! ss -Htan "sport = :$((p + 1))" 2>/dev/null | grep -q .; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# ---- a cluster -------------------------------------------------------------
# cluster_up NAME CTLD_HOST CTLD_ADDR NODE_LINES: a cluster in $T/NAME with
# munged, the config and the directories; the caller starts slurmctld and
# slurmd (where they run differs). Sets C, W and SLURM_CONF.
cluster_up() {
  local name="$1" host="$2" addr="$3" nodes="$4" port
  C="$T/$name"; W="$C/work"
  mkdir -p "$C/munge" "$C/pid" "$C/state" "$C/spool" "$C/log" "$C/tmp" "$W"
  chmod 0755 "$C" "$C/munge"
  export SLURM_CONF="$C/slurm.conf"
  port="$(free_port)" || die "no free port"
  dd if=/dev/urandom of="$C/munge/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$C/munge/munge.key"
  SOCK="$C/munge/munge.sock"
  munged --socket="$SOCK" --key-file="$C/munge/munge.key" \
    --pid-file="$C/pid/munged.pid" --seed-file="$C/munge/munged.seed" \
    --log-file="$C/log/munged.log" || die "munged did not start"
  munge -S "$SOCK" -n | unmunge -S "$SOCK" >/dev/null || die "munge round trip failed"
  touch "$C/plugstack.conf"
  cat >"$SLURM_CONF" <<EOF
# generated by scripts/slurm-test.sh: a private test cluster
ClusterName=axon$name
SlurmctldHost=$host($addr)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start
AuthInfo=socket=$SOCK,cred_expire=10
SchedulerParameters=sched_interval=2
StateSaveLocation=$C/state
SlurmdSpoolDir=$C/spool/%n
SlurmctldPidFile=$C/pid/slurmctld.pid
SlurmdPidFile=$C/pid/slurmd-%n.pid
SlurmctldLogFile=$C/log/slurmctld.log
SlurmdLogFile=$C/log/slurmd-%n.log
PlugStackConfig=$C/plugstack.conf
TmpFS=$C/tmp
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SwitchType=switch/none
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MailProg=/bin/true
KillWait=5
$nodes
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  say "cluster $name: ports $port/$((port + 1)), dir $C"
}
node_states() { "${SL[@]}" sinfo -h -N -o '%T' 2>/dev/null | sort -u | tr '\n' ' '; }
wait_idle() { # wait until all N nodes are idle
  local n="$1"
  for _ in $(seq 60); do
    [ "$("${SL[@]}" sinfo -h -N -o '%T' 2>/dev/null | grep -cx idle)" = "$n" ] && return 0
    sleep 0.5
  done
  die "nodes not idle: $("${SL[@]}" sinfo -N 2>&1 | tail -n +2 | tr '\n' ';')"
}
# Before each job: a drained, down or invalid node would leave it pending
# until the time-out; stop instead, with SLURM's reason.
require_nodes() {
  local s
  for s in $(node_states); do
    case "$s" in
      idle|allocated|mixed|completing) ;;
      *) die "a node is $s: $("${SL[@]}" sinfo -h -R -o '%E' 2>/dev/null)" ;;
    esac
  done
}

# ---- jobs ------------------------------------------------------------------
job_field() { # id key: a field of `scontrol show job` (kept MinJobAge=300 s)
  "${SL[@]}" scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
# submit_wait sbatch-args...: sbatch --wait from the work dir; sets JOB
# (the id) and JOB_RC (sbatch's exit code, which is the job's)
submit_wait() {
  local out
  out="$(cd "$W" && timeout 120 "${SL[@]}" sbatch --parsable --wait "$@" 2>"$W/sbatch.err")"
  JOB_RC=$?
  JOB="${out%%;*}"
  [ -n "$JOB" ] || { cat "$W/sbatch.err" >&2; die "sbatch failed: $*"; }
}
# submit_array sbatch-args...: like submit_wait for a job array, but polls
# itself: sbatch --wait sleeps 2, 8, then 32 s between looks, which would
# double the time of two elements run one after the other
submit_array() {
  local out
  out="$(cd "$W" && "${SL[@]}" sbatch --parsable "$@" 2>"$W/sbatch.err")"
  JOB="${out%%;*}"
  [ -n "$JOB" ] || { cat "$W/sbatch.err" >&2; die "sbatch failed: $*"; }
  for _ in $(seq 240); do
    [ -z "$("${SL[@]}" squeue -h -j "$JOB" 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  echo "        array job $JOB still in the queue after 120 s"
}
# array_states N: every one of the N elements of array job $JOB is
# COMPLETED with ExitCode 0:0
array_states() {
  local lines
  lines="$("${SL[@]}" scontrol -o show job "$JOB" 2>/dev/null)"
  [ "$(grep -c 'JobState=COMPLETED .*ExitCode=0:0 ' <<<"$lines")" = "$1" ] && return 0
  grep -o 'ArrayTaskId=[0-9]* .*JobState=[A-Z]*\|ExitCode=[0-9:]*' <<<"$lines" | sed 's/^/        /'
  return 1
}
# job_ok ID OUT RC: the verdict on a training job. All of: sbatch exit 0,
# state COMPLETED, ExitCode 0:0, the trainer's final markers in its output.
# An exit code alone is not enough: a step that never launched can still
# leave the job COMPLETED with exit code 0.
job_ok() {
  local id="$1" out="$2" rc="$3" bad=()
  [ "$rc" = 0 ] || bad+=("sbatch exit $rc")
  [ "$(job_field "$id" JobState)" = COMPLETED ] || bad+=("state $(job_field "$id" JobState)")
  [ "$(job_field "$id" ExitCode)" = 0:0 ] || bad+=("ExitCode $(job_field "$id" ExitCode)")
  [ -f "$out" ] || bad+=("no output file $out")
  grep -qs '^done: ' "$out" || bad+=("no 'done:' line")
  grep -qs '^test: loss' "$out" || bad+=("no 'test: loss' line")
  [ ${#bad[@]} -eq 0 ] && return 0
  echo "        job $id not ok: ${bad[*]}"
  return 1
}
show_output() { [ -f "$1" ] && sed 's/^/        | /' "$1" | tail -n 12; }
reads_ckpt() { # ckpt out: ckpt_compare reads from the checkpoint as many
  # parameters as the job's output announced, and they are numbers
  local n first
  [ -f "$1" ] || return 1
  n="$("$CMP" "$1" --print 2>/dev/null | wc -l)"
  first="$("$CMP" "$1" --print 2>/dev/null | head -n 3 | tr '\n' ' ')"
  grep -qE '^-?[0-9]' <<<"$first" && [ "$n" -gt 0 ] &&
    grep -qs "^total params: $n " "$2"
}
same_ckpt() { "$CMP" "$1" "$2" --exact >/dev/null; }
ref_run() { # dir args...: the same training under plain mpirun, no SLURM
  local d="$1"; shift
  # one BLAS thread per rank like the jobs (--cpus-per-task=1): thread
  # count changes the summation order, and the comparison is bitwise
  OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 \
    "$ROOT/scripts/mpirun.sh" 2 "$AXON" train "$CONFIG" --quiet "$@" \
    --set checkpoint.dir="$d" --set logging.metrics="$d/metrics.jsonl" >/dev/null 2>&1
}
# array_ok ID N: each of the N elements of array job ID ended
# with its markers and no error line, and wrote its checkpoint
array_ok() {
  local id="$1" n="$2" i o bad=0
  for ((i = 0; i < n; i++)); do
    o="$W/axon-multi-${id}_$i.out"
    if ! grep -qs '^done: ' "$o" || ! grep -qs '^test: loss' "$o" || grep -qs 'error' "$o" ||
       ! reads_ckpt "$W/runs/${id}_$i/last.ckpt" "$o"; then
      echo "        element $i not ok"; show_output "$o"; bad=1
    fi
  done
  return "$bad"
}
daemons_alive() { local f; for f in $(pidfiles); do pid_alive "$f" || return 1; done; }

# ============================================================================
say "phase 1: one node"
NODE="$(slurmd -C | head -n 1)" # exactly as slurmd sees it, else it is inval
NODENAME="$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$NODE")"
[ -n "$NODENAME" ] || die "slurmd -C printed no NodeName: $NODE"
cluster_up one "$NODENAME" 127.0.0.1 "$NODE NodeAddr=127.0.0.1 State=UNKNOWN"
mkdir -p "$C/spool/$NODENAME"
slurmctld -f "$SLURM_CONF" || die "slurmctld did not start"
slurmd -f "$SLURM_CONF" || die "slurmd did not start"
wait_idle 1

# ---- 1: train.sbatch
require_nodes; say "job 1: slurm/train.sbatch, 2 ranks, 50 steps"
submit_wait "$ROOT/slurm/train.sbatch" "$CONFIG" "${SHORT[@]}"
J1="$JOB"; O1="$W/axon-$J1.out"; CK1="$W/runs/$J1/last.ckpt"
check "train.sbatch job $J1 completed with its markers" job_ok "$J1" "$O1" "$JOB_RC" ||
  show_output "$O1"
check "2 ranks on 1 node, 1 BLAS thread each" \
  grep -qs 'on 2 ranks, 1 node (2 per node), 1 BLAS thread per rank' "$O1"
check "run directory runs/$J1 holds a readable last.ckpt" reads_ckpt "$CK1" "$O1"
ref_run "$T/ref50" "${SHORT[@]}"
check "its checkpoint equals the plain mpirun run bitwise" same_ckpt "$CK1" "$T/ref50/last.ckpt"

# ---- 2: train-mpirun.sbatch
require_nodes; say "job 2: slurm/train-mpirun.sbatch, 2 ranks, 50 steps"
submit_wait "$ROOT/slurm/train-mpirun.sbatch" "$CONFIG" "${SHORT[@]}"
J2="$JOB"; O2="$W/axon-$J2.out"
check "train-mpirun.sbatch job $J2 completed with its markers" job_ok "$J2" "$O2" "$JOB_RC" ||
  show_output "$O2"
check "its checkpoint equals job $J1's bitwise" same_ckpt "$W/runs/$J2/last.ckpt" "$CK1"

# ---- 3: requeue on USR1, resume
require_nodes
say "job 3: slurm/train.sbatch, USR1 after the first checkpoint -> requeue -> resume"
LONG=(--set training.max_steps=400 --set training.epochs=100 --set data.limit=5000
      --set checkpoint.every_steps=50 --set checkpoint.every_epochs=0
      --set checkpoint.keep_last=0)
J3="$(cd "$W" && "${SL[@]}" sbatch --parsable "$ROOT/slurm/train.sbatch" "$CONFIG" "${LONG[@]}")"
J3="${J3%%;*}"; O3="$W/axon-$J3.out"
[ -n "$J3" ] || die "sbatch failed for job 3"
ref_run "$T/ref400" "${LONG[@]}" &
ref_pid=$!
for _ in $(seq 300); do [ -e "$W/runs/$J3/last.ckpt" ] && break; sleep 0.1; done
if [ -e "$W/runs/$J3/last.ckpt" ]; then
  "${SL[@]}" scancel --batch --signal=USR1 "$J3"
  for _ in $(seq 120); do
    case "$(job_field "$J3" JobState)" in COMPLETED|FAILED|CANCELLED|TIMEOUT) break ;; esac
    sleep 1
  done
fi
wait "$ref_pid"
check "requeued job $J3 completed with its markers" job_ok "$J3" "$O3" 0 || show_output "$O3"
check "it was requeued once (Restarts=1)" test "$(job_field "$J3" Restarts)" = 1
check "the trap requeued it" grep -qs 'requeueing' "$O3"
check "the second start resumed from runs/$J3" grep -qs "^resumed from runs/$J3/last.ckpt" "$O3"
check "the resumed run equals an uninterrupted one bitwise" \
  same_ckpt "$W/runs/$J3/last.ckpt" "$T/ref400/last.ckpt"

# ---- 4: a broken config must be seen failing
require_nodes; say "job 4: a broken config"
sed 's/type: dense, name: fc2/type: no_such_layer, name: fc2/' "$CONFIG" >"$T/broken.yaml"
grep -q no_such_layer "$T/broken.yaml" || die "could not break $CONFIG (no 'type: dense, name: fc2')"
submit_wait "$ROOT/slurm/train.sbatch" "$T/broken.yaml" "${SHORT[@]}"
J4="$JOB"; O4="$W/axon-$J4.out"
check "the broken job $J4 is judged failed" eval '! job_ok "$J4" "$O4" "$JOB_RC" >/dev/null'
check "sbatch --wait returned non-zero" test "$JOB_RC" != 0
check "its state is FAILED with a non-zero exit code" \
  eval '[ "$(job_field "$J4" JobState)" = FAILED ] && [ "$(job_field "$J4" ExitCode)" != 0:0 ]'
check "no 'done:' marker, an 'axon: error' line" \
  eval '! grep -qs "^done: " "$O4" && grep -qs "axon: error" "$O4"'

# ---- 5: multinode.sbatch as an array on the one node
require_nodes; say "job 5: slurm/multinode.sbatch, array 0-1, 1 node x 2 ranks each"
submit_array --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --array=0-1 \
  "$ROOT/slurm/multinode.sbatch" "$CONFIG" "${SHORT[@]}"
J5="$JOB"
check "both elements COMPLETED with ExitCode 0:0" array_states 2
check "both elements completed with markers and checkpoints" array_ok "$J5" 2
check "they trained with different learning rates" \
  eval 'grep -qs "training.lr=0.01" "$W/axon-multi-${J5}_0.out" &&
        grep -qs "training.lr=0.02" "$W/axon-multi-${J5}_1.out" &&
        ! same_ckpt "$W/runs/${J5}_0/last.ckpt" "$W/runs/${J5}_1/last.ckpt"'

check "the node is idle (not drained, down or invalid)" test "$(node_states)" = "idle "
check "munged, slurmctld and slurmd still run" daemons_alive
cluster_down

# ============================================================================
# Phase 2: two nodes. Node axnN lives in namespace N (network: its end of
# the veth; UTS: its hostname; mount: its own TmpFS, as PMIx keys its
# directories by job and step only). slurmctld runs beside axn1.
phase2() {
  say "phase 2: two nodes in network namespaces"
  local err hw cmd n
  if [ -n "${SLURM_TEST_ONE_NODE:-}" ]; then notes+=("phase 2 skipped (SLURM_TEST_ONE_NODE)"); return; fi
  if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! command -v nsenter >/dev/null ||
     ! err="$(unshare --uts --mount --propagation private true 2>&1)"; then
    notes+=("phase 2 skipped: needs root, ip, nsenter and unshare --uts --mount ${err:-}")
    say "SKIP phase 2: needs root, ip, nsenter and unshare --uts --mount ${err:-}"; return
  fi
  for cmd in "ip netns add $NS_A" "ip netns add $NS_B" \
             "ip link add $VETH_A type veth peer name $VETH_B" \
             "ip link set $VETH_A netns $NS_A" "ip link set $VETH_B netns $NS_B" \
             "ip -n $NS_A addr add 10.250.1.1/24 dev $VETH_A" \
             "ip -n $NS_B addr add 10.250.1.2/24 dev $VETH_B" \
             "ip -n $NS_A link set lo up" "ip -n $NS_B link set lo up" \
             "ip -n $NS_A link set $VETH_A up" "ip -n $NS_B link set $VETH_B up"; do
    if ! err="$($cmd 2>&1)"; then
      notes+=("phase 2 skipped: '$cmd' failed: $err")
      say "SKIP phase 2: '$cmd' failed: $err"; netns_down; return
    fi
  done
  hw="$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')"
  cluster_up two axn1 10.250.1.1 "NodeName=axn1 NodeAddr=10.250.1.1 $hw State=UNKNOWN
NodeName=axn2 NodeAddr=10.250.1.2 $hw State=UNKNOWN"
  SL=(nsenter --net="/run/netns/$NS_A")
  for n in 1 2; do mkdir -p "$C/spool/axn$n" "$C/tmp-axn$n"; done
  start_node() { # N NS extra-daemon: the daemons of node axnN in its namespaces
    nsenter --net="/run/netns/$2" unshare --uts --mount --propagation private sh -c "
      mount --bind '$C/tmp-axn$1' '$C/tmp' && hostname axn$1 && $3 slurmd -f '$SLURM_CONF'"
  }
  start_node 1 "$NS_A" "slurmctld -f '$SLURM_CONF' &&" || die "slurmctld/slurmd of axn1 did not start"
  start_node 2 "$NS_B" "" || die "slurmd of axn2 did not start"
  wait_idle 2

  require_nodes; say "job 6: slurm/train.sbatch, 2 nodes x 1 rank"
  submit_wait --nodes=2 --ntasks-per-node=1 "$ROOT/slurm/train.sbatch" "$CONFIG" "${SHORT[@]}"
  J6="$JOB"; O6="$W/axon-$J6.out"
  check "train.sbatch job $J6 completed with its markers" job_ok "$J6" "$O6" "$JOB_RC" ||
    show_output "$O6"
  check "2 ranks on 2 nodes (axn1, axn2), 1 per node" \
    eval 'grep -qs "on 2 ranks, 2 nodes (1 per node)" "$O6" && grep -qs "axn\[1-2\]" "$O6"'
  check "its checkpoint equals job $J1's (one node) bitwise" same_ckpt "$W/runs/$J6/last.ckpt" "$CK1"

  require_nodes; say "job 7: slurm/train-mpirun.sbatch, 2 nodes x 1 rank"
  submit_wait --nodes=2 --ntasks-per-node=1 "$ROOT/slurm/train-mpirun.sbatch" "$CONFIG" "${SHORT[@]}"
  J7="$JOB"; O7="$W/axon-$J7.out"
  check "train-mpirun.sbatch job $J7 completed with its markers" job_ok "$J7" "$O7" "$JOB_RC" ||
    show_output "$O7"
  check "2 ranks on 2 nodes, 1 per node" grep -qs "on 2 ranks, 2 nodes (1 per node)" "$O7"
  check "its checkpoint equals job $J1's bitwise" same_ckpt "$W/runs/$J7/last.ckpt" "$CK1"

  require_nodes; say "job 8: slurm/multinode.sbatch, array 0-1, 2 nodes x 1 rank x 2 cores"
  submit_array --nodes=2 --ntasks-per-node=1 --cpus-per-task=2 --array=0-1 \
    "$ROOT/slurm/multinode.sbatch" "$CONFIG" "${SHORT[@]}"
  J8="$JOB"
  check "both elements COMPLETED with ExitCode 0:0" array_states 2
  check "both elements completed with markers and checkpoints" array_ok "$J8" 2
  check "each ran 2 ranks on 2 nodes with 2 BLAS threads" \
    eval 'grep -qs "on 2 ranks, 2 nodes (1 per node), 2 BLAS threads per rank" "$W/axon-multi-${J8}_0.out" &&
          grep -qs "on 2 ranks, 2 nodes (1 per node), 2 BLAS threads per rank" "$W/axon-multi-${J8}_1.out"'

  check "both nodes are idle" test "$(node_states)" = "idle "
  check "munged, slurmctld and both slurmd still run" daemons_alive
  cluster_down
  SL=()
  netns_down
}
phase2

for n in "${notes[@]}"; do say "note: $n"; done
if [ ${#failures[@]} -eq 0 ]; then
  say "PASS ($n_checks checks, ${SECONDS}s)"
  exit 0
fi
say "FAIL (${#failures[@]} of $n_checks checks: ${failures[*]})"
exit 1
