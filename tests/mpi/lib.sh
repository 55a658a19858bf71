# tests/mpi/lib.sh - helpers shared by the integration tests.
# Sourced; expects $AXON (the binary) and $BUILD from scripts/run-tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
: "${BUILD:=build/rel}"
: "${AXON:=$PWD/$BUILD/bin/axon}"
CMP="$PWD/$BUILD/bin/tests/ckpt_compare"
MPIRUN="$PWD/scripts/mpirun.sh"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/axon-it-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
FASHION=/usr/share/datasets/fashion-mnist

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# axon_np NP args... : run axon on NP ranks (quiet MPI), with a time limit
axon_np() {
  local np="$1"; shift
  timeout 300 "$MPIRUN" "$np" "$AXON" "$@"
}

# expect_exit CODE PATTERN NP args... : axon must exit CODE and print PATTERN
expect_exit() {
  local code="$1" pat="$2" np="$3"; shift 3
  local out rc=0
  out="$(axon_np "$np" "$@" 2>&1)" || rc=$?
  [ "$rc" -eq "$code" ] || { echo "$out" >&2; fail "expected exit $code, got $rc: axon $*"; }
  grep -qE -- "$pat" <<<"$out" || { echo "$out" >&2; fail "output lacks /$pat/: axon $*"; }
  ok "exit $code /$pat/ ($np ranks): ${*: -1}"
}
