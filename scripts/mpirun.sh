#!/usr/bin/env bash
# mpirun with the flags a single machine needs: allow root (containers, CI)
# and more ranks than cores. Usage: scripts/mpirun.sh NP program [args...]
set -euo pipefail
np="$1"; shift
flags=(--oversubscribe --bind-to none)
if [ "$(id -u)" -eq 0 ]; then flags+=(--allow-run-as-root); fi
# Shared-memory transport between ranks on one machine; quiet MCA noise.
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader,tcp}"
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
exec mpirun "${flags[@]}" -np "$np" "$@"
