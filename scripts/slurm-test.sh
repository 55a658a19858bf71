#!/usr/bin/env bash
# scripts/slurm-test.sh - the slurm/ batch scripts on a real one-node SLURM
# cluster, brought up in a private temp dir and torn down on exit.
#
#   BUILD=build/rel bash scripts/slurm-test.sh     (or: make slurm-test)
#
# munged on a private socket, slurmctld and slurmd with a generated
# slurm.conf (proctrack/linuxproc: in a container proctrack/cgroup fails
# every step yet records the job COMPLETED with exit code 0). Jobs, all
# with 2 ranks:
#   1 train.sbatch, 50 steps: exit code, job state, "done:"/"test: loss"
#     markers, its checkpoint in runs/<job id>, bitwise equal to the same
#     run under plain mpirun
#   2 train-mpirun.sbatch: the same, bitwise equal to job 1
#   3 train.sbatch sent USR1 mid-run (what --signal=B:USR1@60 does): it
#     requeues itself, resumes from its checkpoint and ends bitwise equal
#     to an uninterrupted run
#   4 a broken config: the checks above must call the job failed
#   5 multinode.sbatch as a 2-element array on the one node
# and the node must end idle (not drained, down or invalid). Daemons are
# stopped by pidfile on exit. Prints "slurm-test: PASS" or "slurm-test:
# FAIL ..." last; exit status non-zero on failure. KEEP=1 keeps the temp dir.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BUILD="${BUILD:-build/rel}"
export AXON="$ROOT/$BUILD/bin/axon"
CMP="$ROOT/$BUILD/bin/tests/ckpt_compare"
CONFIG="$ROOT/configs/fashion_mlp.yaml"
SHORT=(--set training.max_steps=50 --set data.limit=5000)

n_checks=0; failures=()
say() { echo "slurm-test: $*"; }
check() { # description, command...: record the outcome of one check
  local what="$1"; shift
  n_checks=$((n_checks + 1))
  if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what"; failures+=("$what"); fi
}
die() { # setup failed: nothing else can be checked
  failures+=("$*"); say "FAIL: $*"
  for f in "${T:-/nonexistent}"/log/*.log; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
  done
  exit 1
}

[ -x "$AXON" ] && [ -x "$CMP" ] || { say "FAIL: build first: $AXON, $CMP"; exit 1; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  AXON_EXTRA_PKGS="slurm-wlm munge" bash scripts/install-deps.sh ||
    { say "FAIL: could not install slurm-wlm munge"; exit 1; }
fi
# Nothing of an enclosing SLURM job or of another cluster may leak in.
for v in $(compgen -e | grep '^SLURM_'); do unset "$v"; done

# ---- the cluster ---------------------------------------------------------
T="$(mktemp -d "${TMPDIR:-/tmp}/axon-slurm-XXXXXX")"
chmod 0755 "$T" # munged wants its socket directory world-searchable
mkdir -p "$T/munge" "$T/state" "$T/spool" "$T/log" "$T/tmp" "$T/work"
chmod 0755 "$T/munge"
export SLURM_CONF="$T/slurm.conf"
PIDFILES=("$T/slurmd.pid" "$T/slurmctld.pid" "$T/munge/munged.pid")

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_pidfile() { # TERM, then KILL after 10 s, the daemon a pidfile names
  local f="$1" pid i
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
teardown() {
  set +e
  if pid_alive "$T/slurmctld.pid"; then
    scancel --quiet $(squeue -h -o %A 2>/dev/null) 2>/dev/null
    for _ in $(seq 30); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for f in "${PIDFILES[@]}"; do stop_pidfile "$f"; done
  # Anything still working in our temp dir (a step daemon or rank that
  # outlived its slurmd) is ours: stop it by pid.
  local p link
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = $$ ] && continue
    link="$(readlink "$p/cwd" 2>/dev/null)" || continue
    case "$link" in "$T"|"$T"/*) kill -KILL "${p#/proc/}" 2>/dev/null ;; esac
  done
  local left=0
  for f in "${PIDFILES[@]}"; do pid_alive "$f" && left=1; done
  [ "$left" = 0 ] || echo "slurm-test: WARNING: a daemon survived teardown" >&2
  if [ -n "${KEEP:-}" ]; then echo "slurm-test: kept $T" >&2; else rm -rf "$T"; fi
}
trap teardown EXIT
trap 'exit 1' INT TERM

free_port() { # a TCP port nobody listens on, from 20000-59999
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q . &&
       ! ss -Htln "sport = :$((p + 1))" 2>/dev/null | grep -q .; then
      echo "$p"; return 0
    fi
  done
  return 1
}
PORT="$(free_port)" || die "no free port"
# The node exactly as slurmd sees it (CPUs, RealMemory), else it is inval.
NODE="$(slurmd -C | head -n 1)"
NODENAME="$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$NODE")"
[ -n "$NODENAME" ] || die "slurmd -C printed no NodeName: $NODE"

dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$T/munge/munge.key"
SOCK="$T/munge/munge.sock"
munged --socket="$SOCK" --key-file="$T/munge/munge.key" \
  --pid-file="$T/munge/munged.pid" --seed-file="$T/munge/munged.seed" \
  --log-file="$T/log/munged.log" || die "munged did not start"
munge -S "$SOCK" -n | unmunge -S "$SOCK" >/dev/null || die "munge round trip failed"

touch "$T/plugstack.conf"
cat >"$SLURM_CONF" <<EOF
# generated by scripts/slurm-test.sh: a private one-node cluster
ClusterName=axontest
SlurmctldHost=$NODENAME(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start
AuthInfo=socket=$SOCK,cred_expire=10
SchedulerParameters=sched_interval=2
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
PlugStackConfig=$T/plugstack.conf
TmpFS=$T/tmp
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
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF" || die "slurmctld did not start"
slurmd -f "$SLURM_CONF" || die "slurmd did not start"

node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -n 1; }
for _ in $(seq 60); do [ "$(node_state)" = idle ] && break; sleep 0.5; done
[ "$(node_state)" = idle ] || die "node not idle: $(sinfo -N 2>&1 | tail -n 1)"
say "cluster up: node $NODENAME, ports $PORT/$((PORT + 1)), dir $T"

# ---- helpers over jobs ---------------------------------------------------
W="$T/work"
job_field() { # id key: a field of `scontrol show job` (kept MinJobAge=300 s)
  scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
# submit_wait OUTVAR sbatch-args...: sbatch --wait in the work dir; sets
# JOB (id) and JOB_RC (sbatch's exit code, the job's)
submit_wait() {
  local out
  out="$(cd "$W" && timeout 240 sbatch --parsable --wait "$@" 2>"$W/sbatch.err")"
  JOB_RC=$?
  JOB="${out%%;*}"
  [ -n "$JOB" ] || { cat "$W/sbatch.err" >&2; die "sbatch failed: $*"; }
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
  grep -q '^done: ' "$out" 2>/dev/null || bad+=("no 'done:' line")
  grep -q '^test: loss' "$out" 2>/dev/null || bad+=("no 'test: loss' line")
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
    grep -q "^total params: $n " "$2"
}
same_ckpt() { "$CMP" "$1" "$2" --exact >/dev/null; }
ref_run() { # dir args...: the same training under plain mpirun, no SLURM
  local d="$1"; shift
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 \
    "$ROOT/scripts/mpirun.sh" 2 "$AXON" train "$CONFIG" --quiet "$@" \
    --set checkpoint.dir="$d" --set logging.metrics="$d/metrics.jsonl" >/dev/null 2>&1
}

# ---- 1: train.sbatch -----------------------------------------------------
say "job 1: slurm/train.sbatch, 2 ranks, 50 steps"
submit_wait "$ROOT/slurm/train.sbatch" "$CONFIG" "${SHORT[@]}"
J1="$JOB"; O1="$W/axon-$J1.out"
check "train.sbatch job $J1 completed with its markers" job_ok "$J1" "$O1" "$JOB_RC" ||
  show_output "$O1"
check "2 ranks on 1 node, 1 BLAS thread each" \
  grep -q 'on 2 ranks, 1 node (2 per node), 1 BLAS thread per rank' "$O1"
check "run directory runs/$J1 holds a readable last.ckpt" reads_ckpt "$W/runs/$J1/last.ckpt" "$O1"
ref_run "$T/ref50" "${SHORT[@]}"
check "its checkpoint equals the plain mpirun run bitwise" \
  same_ckpt "$W/runs/$J1/last.ckpt" "$T/ref50/last.ckpt"

# ---- 2: train-mpirun.sbatch ----------------------------------------------
say "job 2: slurm/train-mpirun.sbatch, 2 ranks, 50 steps"
submit_wait "$ROOT/slurm/train-mpirun.sbatch" "$CONFIG" "${SHORT[@]}"
J2="$JOB"; O2="$W/axon-$J2.out"
check "train-mpirun.sbatch job $J2 completed with its markers" job_ok "$J2" "$O2" "$JOB_RC" ||
  show_output "$O2"
check "its checkpoint equals job $J1's bitwise" \
  same_ckpt "$W/runs/$J2/last.ckpt" "$W/runs/$J1/last.ckpt"

# ---- 3: requeue on USR1, resume ------------------------------------------
say "job 3: slurm/train.sbatch, USR1 after the first checkpoint -> requeue -> resume"
LONG=(--set training.max_steps=400 --set training.epochs=100 --set data.limit=5000
      --set checkpoint.every_steps=50 --set checkpoint.every_epochs=0
      --set checkpoint.keep_last=0)
J3="$(cd "$W" && sbatch --parsable "$ROOT/slurm/train.sbatch" "$CONFIG" "${LONG[@]}")"
J3="${J3%%;*}"; O3="$W/axon-$J3.out"
ref_run "$T/ref400" "${LONG[@]}" &
ref_pid=$!
for _ in $(seq 600); do [ -e "$W/runs/$J3/last.ckpt" ] && break; sleep 0.1; done
if [ -e "$W/runs/$J3/last.ckpt" ]; then
  scancel --batch --signal=USR1 "$J3"
  for _ in $(seq 180); do
    case "$(job_field "$J3" JobState)" in COMPLETED|FAILED|CANCELLED|TIMEOUT) break ;; esac
    sleep 1
  done
fi
wait "$ref_pid"
check "requeued job $J3 completed with its markers" job_ok "$J3" "$O3" 0 || show_output "$O3"
check "it was requeued once (Restarts=1)" test "$(job_field "$J3" Restarts)" = 1
check "the trap requeued it" grep -q 'requeueing' "$O3"
check "the second start resumed from runs/$J3" grep -q "^resumed from runs/$J3/last.ckpt" "$O3"
check "the resumed run equals an uninterrupted one bitwise" \
  same_ckpt "$W/runs/$J3/last.ckpt" "$T/ref400/last.ckpt"

# ---- 4: a broken config must be seen failing ------------------------------
say "job 4: a broken config"
sed 's/type: dense, name: fc2/type: no_such_layer, name: fc2/' "$CONFIG" >"$T/broken.yaml"
submit_wait "$ROOT/slurm/train.sbatch" "$T/broken.yaml" "${SHORT[@]}"
J4="$JOB"; O4="$W/axon-$J4.out"
check "the broken job $J4 is judged failed" eval '! job_ok "$J4" "$O4" "$JOB_RC" >/dev/null'
check "sbatch --wait returned non-zero" test "$JOB_RC" != 0
check "its state is FAILED with a non-zero exit code" \
  eval '[ "$(job_field "$J4" JobState)" = FAILED ] && [ "$(job_field "$J4" ExitCode)" != 0:0 ]'
check "no 'done:' marker, an 'axon: error' line" \
  eval '! grep -q "^done: " "$O4" && grep -q "axon: error" "$O4"'

# ---- 5: multinode.sbatch as an array on one node ---------------------------
say "job 5: slurm/multinode.sbatch, array 0-1, 1 node x 2 ranks each"
submit_wait --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --array=0-1 \
  "$ROOT/slurm/multinode.sbatch" "$CONFIG" "${SHORT[@]}"
J5="$JOB"
for i in 0 1; do
  O="$W/axon-multi-${J5}_$i.out"
  check "array element $i completed with its markers, no error" \
    eval 'grep -q "^done: " "$O" && grep -q "^test: loss" "$O" && ! grep -q "error" "$O"' ||
    show_output "$O"
  check "element $i has its checkpoint in runs/${J5}_$i" reads_ckpt "$W/runs/${J5}_$i/last.ckpt" "$O"
done
check "sbatch --wait on the array returned 0" test "$JOB_RC" = 0
check "the elements trained with different learning rates" \
  eval 'grep -q "training.lr=0.01" "$W/axon-multi-${J5}_0.out" &&
        grep -q "training.lr=0.02" "$W/axon-multi-${J5}_1.out" &&
        ! same_ckpt "$W/runs/${J5}_0/last.ckpt" "$W/runs/${J5}_1/last.ckpt"'

# ---- the node ------------------------------------------------------------
check "the node is idle (not drained, down or invalid)" test "$(node_state)" = idle
daemons_alive() { local f; for f in "${PIDFILES[@]}"; do pid_alive "$f" || return 1; done; }
check "munged, slurmctld and slurmd are still running" daemons_alive

if [ ${#failures[@]} -eq 0 ]; then
  say "PASS ($n_checks checks, ${SECONDS}s)"
  exit 0
fi
for f in "$T"/log/slurmctld.log "$T"/log/slurmd.log; do echo "--- $f"; tail -n 15 "$f"; done
say "FAIL (${#failures[@]} of $n_checks checks: ${failures[*]})"
exit 1
