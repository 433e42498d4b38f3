"""Two 1-thread training jobs side by side, or one 2-thread job: which trains more?

For each network of the default config (its patch size, batch, bf16 + channels_last) this
times training steps of one process with ``--threads`` torch threads, then of two 1-thread
processes running at the same time, and prints the throughput ratio (steps per second of
the pair over the single job). A ratio above 1 means the rules should ask for one thread
and let Snakemake run two jobs at once (what the workflow does).

    .venv/bin/python benchmarks/bench_threads.py            # all three, 40 steps each
    .venv/bin/python benchmarks/bench_threads.py --steps 20 --models edsr
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

NETWORKS = {  # arch, scale, kwargs, LR patch side, batch (as config/config.yaml)
    "esrcnn": ("esrcnn", 2, {"in_channels": 1, "residual": True}, 24, 16),
    "srresbnn": ("srresbnn", 2, {"in_channels": 1, "n_blocks": 4, "channels": 16,
                                 "residual": True}, 32, 8),
    "edsr": ("edsr-baseline", 2, {"in_channels": 1, "n_blocks": 8, "channels": 32}, 16, 16),
}


def time_steps(name: str, threads: int, steps: int) -> float:
    """Seconds per training step of ``name`` with ``threads`` torch threads (in-process)."""
    import torch

    from sruq.models import build_model

    torch.set_num_threads(threads)
    arch, scale, kwargs, lr, batch = NETWORKS[name]
    torch.manual_seed(0)
    model = build_model(arch, scale, **kwargs).to(memory_format=torch.channels_last)
    x = torch.rand(batch, 1, lr, lr).contiguous(memory_format=torch.channels_last)
    y = torch.rand(batch, 1, lr * scale, lr * scale)
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = (model(x).float() - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def worker(name: str, threads: int, steps: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--worker", name, str(threads),
                             str(steps)], stdout=subprocess.PIPE, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2, help="threads of the single job")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, threads, steps = args.worker
        print(time_steps(name, int(threads), int(steps)))
        return
    print(f"{'network':10s} {'1 job x ' + str(args.threads) + ' threads':>20s} "
          f"{'2 jobs x 1 thread':>20s} {'pair / single':>14s}")
    for name in args.models:
        single = float(worker(name, args.threads, args.steps).communicate()[0])
        pair = [worker(name, 1, args.steps) for _ in range(2)]
        each = [float(p.communicate()[0]) for p in pair]
        ratio = sum(1 / t for t in each) / (1 / single)
        print(f"{name:10s} {1000 * single:15.1f} ms/step {1000 * max(each):15.1f} ms/step "
              f"{ratio:13.2f}x")


if __name__ == "__main__":
    main()
