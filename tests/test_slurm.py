"""Run Snakemake through a real single-node SLURM cluster with the project's SLURM profile.

The cluster (see ``tests/slurm_cluster.py``) needs Debian's ``slurm-wlm`` and ``munge``;
``.ci/install-slurm.sh`` installs them. When they are missing these tests fail (CI must
run them); deselect them with ``-m 'not slurm'``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from slurm_cluster import PARTITION, SlurmCluster, slurm_cluster

# Each test takes tens of seconds (SLURM polling), hence also `slow`.
pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SLURM_PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
TINY_CONFIG = ROOT / "config" / "test-tiny.yaml"
#: Snakemake's SLURM executor logs one such line per submitted job.
SUBMITTED_RE = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")

SMOKE_SNAKEFILE = """\
rule all:
    input: "gpu.txt"

rule cpu_step:
    output: "cpu.txt"
    threads: 64
    shell: "echo job=$SLURM_JOB_ID cpus=$SLURM_CPUS_PER_TASK > {output}"

rule gpu_step:
    input: "cpu.txt"
    output: "gpu.txt"
    resources: gpu=1
    shell: "cat {input} > {output}; echo job=$SLURM_JOB_ID cuda=$CUDA_VISIBLE_DEVICES >> {output}"
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[SlurmCluster]:
    """One throwaway cluster shared by the tests of this module, always stopped at the end."""
    with slurm_cluster() as running:
        yield running


def write_test_profile(folder: Path, cluster: SlurmCluster) -> Path:
    """Write profiles/slurm/config.yaml adapted to the test cluster into ``folder``.

    Fills in partition and account, drops conda, polls with ``squeue`` (no accounting
    here) and early, keeps the SLURM logs of successful jobs and caps threads at the
    node's CPUs.
    """
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    # No conda here: jobs use this test's Python environment, like the local run.
    profile.pop("software-deployment-method")
    profile["default-resources"].update(
        slurm_partition=PARTITION, slurm_account="sruqtest", mem_mb=1000
    )
    profile.update(
        {
            "retries": 0,
            "max-threads": cluster.node.cpus,
            "slurm-status-command": "squeue",
            "slurm-init-seconds-before-status-checks": 1,
            "slurm-keep-successful-logs": True,
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def start_snakemake(args: list[str], env: dict[str, str] | None, log: Path) -> subprocess.Popen:
    """Start Snakemake with ``args`` in the background, its output going to ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "snakemake", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def finish_snakemake(proc: subprocess.Popen, log: Path, timeout: float) -> str:
    """Wait for a run from :func:`start_snakemake`; return its log, or fail showing it."""
    outcome = "failed"
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        outcome = f"timed out after {timeout:.0f} s"
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, f"{' '.join(map(str, proc.args))} {outcome}:\n{text[-6000:]}"
    return text


def run_snakemake(args: list[str], env: dict[str, str] | None, log: Path, timeout: float) -> str:
    """Run Snakemake with ``args`` to the end; return its log, or fail showing it."""
    return finish_snakemake(start_snakemake(args, env, log), log, timeout)


def run_through_slurm(
    cluster: SlurmCluster, workdir: Path, snakefile: Path, extra: list[str], timeout: float
) -> dict[str, str]:
    """Run a workflow with the test profile; return {SLURM job id: rule} of submitted jobs.

    Asserts that every job Snakemake ran outside the main process went through SLURM:
    its SLURM log exists under .snakemake/slurm_logs/rule_<rule>/ and ``squeue`` saw it
    finish as COMPLETED under this run's job name.
    """
    profile = write_test_profile(workdir.parent / f"{workdir.name}-profile", cluster)
    log = run_snakemake(
        [
            "--snakefile",
            str(snakefile),
            "--directory",
            str(workdir),
            "--workflow-profile",
            str(profile),
            *extra,
        ],
        env=cluster.env,
        log=workdir.parent / f"{workdir.name}.log",
        timeout=timeout,
    )
    submitted = {job: Path(path) for job, path in SUBMITTED_RE.findall(log)}
    remote_rules = set(re.findall(r"^rule (\w+):", log, flags=re.MULTILINE))
    assert submitted, f"no job was submitted to SLURM:\n{log[-3000:]}"
    logdir = workdir / ".snakemake" / "slurm_logs"
    for path in submitted.values():
        assert path.is_file() and path.is_relative_to(logdir), path
    # Logs are at slurm_logs/rule_<rule>/[<wildcards>/]<job id>.log
    rules = {
        job: path.relative_to(logdir).parts[0].removeprefix("rule_")
        for job, path in submitted.items()
    }
    assert set(rules.values()) == remote_rules
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)  # type: ignore[union-attr]
    seen = cluster.run(
        "squeue", "--states=all", "--noheader", "--format=%i|%T|%k", "--name", run_id
    )
    # The plugin comments each job with rule_<rule>[_wildcards_<values>].
    states = {
        job: (state, comment.split("_wildcards_")[0])
        for job, state, comment in (line.split("|") for line in seen.split())
    }
    assert states == {job: ("COMPLETED", f"rule_{rule}") for job, rule in rules.items()}
    return rules


def test_smoke_workflow_runs_cpu_and_gpu_jobs_through_slurm(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    """Two rules, one asking for a GPU, run as SLURM jobs and see SLURM's allocation."""
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(SMOKE_SNAKEFILE)
    workdir = tmp_path / "work"
    rules = run_through_slurm(cluster, workdir, snakefile, [], timeout=180)

    assert sorted(rules.values()) == ["cpu_step", "gpu_step"]
    job_of = {rule: job for job, rule in rules.items()}
    cpus = cluster.node.cpus
    assert (workdir / "gpu.txt").read_text().split() == [
        f"job={job_of['cpu_step']}",
        f"cpus={cpus}",
        f"job={job_of['gpu_step']}",
        "cuda=0",
    ]


def test_tiny_workflow_through_slurm_matches_local_run(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    """The real workflow on the tiny config gives the same metric tables via SLURM as locally."""
    snakefile = ROOT / "Snakefile"
    assert snakefile.is_file() and TINY_CONFIG.is_file(), "workflow or tiny config missing"
    config = ["--configfile", str(TINY_CONFIG)]

    # The local run and the SLURM run (mostly waiting for status polls) go side by side.
    local = tmp_path / "local"
    local_log = tmp_path / "local.log"
    local_run = start_snakemake(
        ["--snakefile", str(snakefile), "--directory", str(local), "--cores", "2", *config],
        env=None,
        log=local_log,
    )
    via_slurm = tmp_path / "slurm"
    try:
        run_through_slurm(cluster, via_slurm, snakefile, config, timeout=900)
    except BaseException:
        local_run.kill()
        local_run.wait()
        raise
    finish_snakemake(local_run, local_log, timeout=900)

    tables = sorted(p.relative_to(local) for p in local.glob("results/tables/*.csv"))
    assert tables, "the local run produced no results/tables/*.csv"
    assert tables == sorted(
        p.relative_to(via_slurm) for p in via_slurm.glob("results/tables/*.csv")
    )
    for table in tables:
        assert (via_slurm / table).read_bytes() == (local / table).read_bytes(), table
