"""A throwaway single-node SLURM cluster on localhost, for tests of the SLURM profile.

Starts ``munged``, ``slurmctld`` and ``slurmd`` (Debian's ``munge`` and ``slurm-wlm``
packages, installed by ``.ci/install-slurm.sh``) as foreground child processes whose
configuration, key, sockets, pid files, logs and state all live under one private
folder, so nothing touches ``/etc`` and no systemd is needed. The node advertises one
fake GPU (``Gres=gpu:fake:1`` backed by ``/dev/null``) so that rules with
``resources: gpu=1`` (submitted with ``--gpus=1``) can be scheduled too.

Accounting is off (``accounting_storage/none``), so ``sacct`` does not work; Snakemake's
SLURM executor must poll with ``squeue``, which only sees finished jobs for
``MinJobAge`` seconds, hence the generous value below.

Clients (``sbatch``, ``squeue``, Snakemake itself) find the cluster through the
``SLURM_CONF`` variable of :attr:`SlurmCluster.env`.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: Programs the harness needs; all come from the ``slurm-wlm`` and ``munge`` packages.
REQUIRED_PROGRAMS = (
    "munged",
    "mungekey",
    "slurmctld",
    "slurmd",
    "sbatch",
    "srun",
    "squeue",
    "scancel",
    "sinfo",
)
#: Seconds a finished job stays visible to ``squeue`` (Snakemake polls with ``squeue``).
MIN_JOB_AGE_S = 7200  # squeue must still list every job of a long test run
#: Name of the single partition (the default one).
PARTITION = "debug"
#: Where Debian puts the daemons; often missing from a non-login PATH.
_SBIN = ("/usr/sbin", "/sbin")
_START_TIMEOUT_S = 60.0


class SlurmNotInstalledError(RuntimeError):
    """Raised when the SLURM or MUNGE programs the harness needs are missing."""


def program_path() -> str:
    """Return a PATH that includes the sbin folders where Debian installs the daemons."""
    parts = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(parts + [p for p in _SBIN if p not in parts])


def missing_programs() -> list[str]:
    """Return the names in :data:`REQUIRED_PROGRAMS` that are not installed."""
    path = program_path()
    return [name for name in REQUIRED_PROGRAMS if shutil.which(name, path=path) is None]


def require_slurm() -> None:
    """Raise :class:`SlurmNotInstalledError` naming what is missing and how to install it."""
    missing = missing_programs()
    if missing:
        raise SlurmNotInstalledError(
            f"SLURM/MUNGE programs not found: {', '.join(missing)}; "
            "run `sudo .ci/install-slurm.sh` (Debian packages slurm-wlm and munge) "
            "or deselect these tests with -m 'not slurm'"
        )


@dataclass(frozen=True)
class NodeSpec:
    """What ``slurmd -C`` reports about this machine (slurm.conf must match it)."""

    name: str
    cpus: int
    real_memory_mb: int


def detect_node() -> NodeSpec:
    """Parse ``slurmd -C`` into the node name, CPU count and memory SLURM will accept."""
    out = subprocess.run(
        ["slurmd", "-C"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": program_path()},
    ).stdout
    fields = dict(re.findall(r"(\w+)=(\S+)", out.splitlines()[0]))
    return NodeSpec(fields["NodeName"], int(fields["CPUs"]), int(fields["RealMemory"]))


def _free_port() -> int:
    """Return a TCP port on localhost that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _slurm_conf(root: Path, node: NodeSpec, munge_socket: Path) -> str:
    """Return slurm.conf text for one node that runs everything as the current user."""
    user = _current_user()
    return f"""\
ClusterName=sruqtest
SlurmctldHost={node.name}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge={MIN_JOB_AGE_S}
SchedulerParameters=sched_interval=2
NodeName={node.name} NodeAddr=127.0.0.1 CPUs={node.cpus} RealMemory={node.real_memory_mb} \
Gres=gpu:fake:1 State=UNKNOWN
PartitionName={PARTITION} Nodes={node.name} Default=YES MaxTime=INFINITE State=UP
"""


def _current_user() -> str:
    """Return the login name of the user the daemons (and jobs) run as."""
    return pwd.getpwuid(os.getuid()).pw_name


@dataclass
class SlurmCluster:
    """A running single-node cluster; use :func:`slurm_cluster` to start and stop one."""

    root: Path
    node: NodeSpec
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        """The slurm.conf of this cluster (also in ``env['SLURM_CONF']``)."""
        return self.root / "slurm.conf"

    def run(self, *args: str, timeout: float = 30.0) -> str:
        """Run a SLURM client command against this cluster and return its stdout."""
        return subprocess.run(
            args, check=True, capture_output=True, text=True, env=self.env, timeout=timeout
        ).stdout

    def logs(self) -> str:
        """Return the tail of every daemon log, for error messages."""
        parts = []
        for log in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.out")):
            lines = log.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def _spawn(self, name: str, args: list[str]) -> None:
        """Start one daemon in the foreground, as a child whose PID we keep."""
        with open(self.root / f"{name}.out", "wb") as out:
            self.processes[name] = subprocess.Popen(
                args, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def _wait_for(self, what: str, ready: Callable[[], bool]) -> None:
        """Poll ``ready`` until it is true; raise with the daemon logs if a daemon died."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(
                    f"{', '.join(dead)} exited while waiting for {what}\n{self.logs()}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"timed out after {_START_TIMEOUT_S:.0f} s waiting for {what}\n{self.logs()}"
        )

    def _node_state(self) -> str:
        """Return the node's state as ``sinfo`` reports it ('' while slurmctld is down)."""
        try:
            return self.run("sinfo", "--noheader", "--Node", "--format=%T", timeout=5).strip()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return ""

    def start(self) -> None:
        """Write the configuration and start munged, slurmctld and slurmd; wait until idle."""
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(mode=0o700, exist_ok=True)
        munge = self.root / "munge"
        # munged insists that everyone may traverse the folders leading to its socket.
        munge.mkdir(exist_ok=True)
        for folder in (self.root, munge):
            folder.chmod(0o755)
        key = munge / "munge.key"
        socket_path = munge / "munge.socket"
        subprocess.run(
            ["mungekey", "--create", "--force", f"--keyfile={key}"],
            check=True,
            env=self.env,
            capture_output=True,
        )
        key.chmod(0o400)
        self.conf.write_text(_slurm_conf(self.root, self.node, socket_path))
        (self.root / "gres.conf").write_text(
            f"NodeName={self.node.name} Name=gpu Type=fake File=/dev/null\n"
        )
        self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                f"--key-file={key}",
                f"--socket={socket_path}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={self.root / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
        )
        self._wait_for("the munge socket", socket_path.exists)
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._wait_for("slurmctld", lambda: self._node_state() != "")
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait_for("the node to become idle", lambda: self._node_state() == "idle")

    def stop(self) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged by PID (in that order)."""
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            subprocess.run(
                ["scancel", f"--user={_current_user()}"],
                env=self.env,
                capture_output=True,
                timeout=30,
                check=False,
            )
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.processes.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _write_srun_shim(root: Path, conf: Path) -> Path:
    """Write ``root/bin/srun`` that runs the real srun with ``SLURM_CONF`` set; return the folder.

    Inside a job, Snakemake's slurm-jobstep executor drops every ``SLURM_*`` variable except
    the job's identity before calling ``srun``, so ``SLURM_CONF`` does not reach it. On a real
    cluster srun finds /etc/slurm/slurm.conf (or a configless slurmd); this private cluster
    keeps its configuration out of /etc, so srun gets it from this shim, first on the PATH.
    """
    real = shutil.which("srun", path=program_path())
    if real is None:
        raise SlurmNotInstalledError("srun not found; run `sudo .ci/install-slurm.sh`")
    folder = root / "bin"
    folder.mkdir()
    shim = folder / "srun"
    shim.write_text(f'#!/bin/sh\nSLURM_CONF="{conf}" exec "{real}" "$@"\n')
    shim.chmod(0o755)
    return folder


@contextmanager
def slurm_cluster() -> Iterator[SlurmCluster]:
    """Start a single-node cluster in a fresh temporary folder; always stop it and clean up.

    The folder is a fresh :class:`tempfile.TemporaryDirectory` (short, under /tmp) because
    munged wants every folder above its socket to be traversable by all, which pytest's
    tmp_path is not. Daemon logs are quoted in the error when a daemon fails to start.
    """
    require_slurm()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    with tempfile.TemporaryDirectory(prefix="sruq-slurm-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        conf = root / "slurm.conf"
        path = os.pathsep.join([str(_write_srun_shim(root, conf)), program_path()])
        env.update(PATH=path, SLURM_CONF=str(conf))
        cluster = SlurmCluster(root=root, node=detect_node(), env=env)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()
