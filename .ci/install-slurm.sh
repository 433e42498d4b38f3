#!/usr/bin/env bash
# Install a single-node SLURM (slurm-wlm) and MUNGE from Debian's packages, if absent.
# Idempotent: does nothing when slurmctld, slurmd, sbatch and munged are already on PATH.
# Used by CI (runs as root, no stdin) before tests/test_slurm.py; daemons are NOT started here,
# the test harness (tests/slurm_cluster.py) starts and stops its own throwaway cluster.
set -euo pipefail

needed=(slurmctld slurmd sbatch squeue scancel sinfo munged mungekey)
missing=()
for bin in "${needed[@]}"; do
    # munged lives in /usr/sbin, which may be missing from a non-login PATH.
    command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$bin")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-slurm: slurm and munge already installed"
    exit 0
fi
echo "install-slurm: missing ${missing[*]}; installing slurm-wlm and munge"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# slurm-wlm pulls slurmctld, slurmd and the client tools; munge provides munged and mungekey.
$SUDO apt-get install -y -q --no-install-recommends slurm-wlm munge </dev/null
echo "install-slurm: installed $(slurmd -V)"
