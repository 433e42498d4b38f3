"""Run the real Snakemake workflow in a scratch folder (used by the workflow tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PLANS_ONLY = ("--dry-run", "-n", "--summary")
"""Options with which Snakemake only plans: no job runs."""
real_runs_allowed = True
"""Whether the running test may run jobs (not only plan): ``conftest.py`` sets it per test,
true only in the slow lane (marked ``slow`` or ``slurm``), so ``make test`` stays fast."""


def run_workflow(
    workdir: Path, config: dict[str, Any] | None = None, *args: str, check: bool = True,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """``snakemake`` on the repo's Snakefile with ``config`` (default: embedded), in ``workdir``."""
    if not real_runs_allowed and not set(PLANS_ONLY) & set(args):
        raise AssertionError("a test that runs workflow jobs belongs to the slow lane: mark it "
                             "@pytest.mark.slow (or plan only: --dry-run, --summary)")
    workdir.mkdir(parents=True, exist_ok=True)
    cmd: list[str] = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--cores", "2"]
    cmd += args
    if config is not None:  # last: --configfile takes every argument after it
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd += ["--configfile", str(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def load_config(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "config" / name).read_text())


def planned_outputs(workdir: Path, config: dict[str, Any] | None = None, *args: str
                    ) -> dict[str, set[str]]:
    """The output files of every job a run of ``config`` in ``workdir`` needs, by rule
    (``snakemake --summary``: a plan, nothing runs)."""
    stdout = run_workflow(workdir, config, "--summary", *args).stdout
    lines = stdout[stdout.index("output_file\tdate\trule\t"):].splitlines()[1:]
    planned: dict[str, set[str]] = {}
    for line in lines:
        output, _, rule, *_ = line.split("\t")
        planned.setdefault(rule, set()).add(output)
    return planned
