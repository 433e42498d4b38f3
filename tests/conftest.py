"""Shared test fixtures: the reference data mirror and tiny images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_mirror() -> Path | None:
    """Reference data (Set5, Set14, T91, golden vectors): $SRUQ_DATA_MIRROR or ../shared/data."""
    env = os.environ.get("SRUQ_DATA_MIRROR")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (candidate / "benchmarks" / "Set5").is_dir():
            return candidate
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Only a test of the slow lane (marked ``slow`` or ``slurm``) may run workflow jobs;
    set before its fixtures (``tiny_run``) are made."""
    import workflow_runner

    workflow_runner.real_runs_allowed = any(
        item.get_closest_marker(name) for name in ("slow", "slurm"))


@pytest.fixture(scope="session")
def mirror() -> Path:
    found = find_mirror()
    if found is None:
        pytest.skip("reference data not found: set SRUQ_DATA_MIRROR to the shared/data folder")
    return found


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One real run of config/test-tiny.yaml, shared by every test module that needs a
    finished run: baselines, two trained networks (one with MC dropout), sparse coding,
    FD, an edge, an x8 and a TTA variant, a deep ensemble, the results viewer."""
    from workflow_runner import load_config, run_workflow

    workdir = tmp_path_factory.mktemp("tiny")
    run_workflow(workdir, load_config("test-tiny.yaml"))
    return workdir


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors gain nothing from a thread pool, which only waits on a busy machine:
    a module that uses this (``pytestmark = pytest.mark.usefixtures("one_thread")``) runs
    torch on one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
