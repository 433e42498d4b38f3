"""Run the real Snakemake workflow in a scratch folder (used by the workflow tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def run_workflow(
    workdir: Path, config: dict[str, Any] | None = None, *args: str, check: bool = True,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """``snakemake`` on the repo's Snakefile with ``config`` (default: embedded), in ``workdir``."""
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
