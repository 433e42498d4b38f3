"""Speed and memory of MC-dropout inference (prints numbers; asserts nothing).

(a) ESRCNN x2, T=40, 256x256 LR: the seed's loop (dropout layers in train mode, one full
    forward per sample), :func:`mc_naive` (one full forward per sample, the engine's masks)
    and the engine :func:`mc_predict` (prefix once, batched suffix, streamed moments),
    measured side by side; the engine's mean/std are compared with ``mc_naive``'s.  A fourth
    line times the prefix plus T dropout-free suffix passes: the floor for any exact engine
    that recomputes the suffix, so the seed loop's time over it bounds the speed-up.
(b) The same for SRResBNN (16 blocks, 64 channels), T=100, 64x64 LR, at x4 and x2.
(c) Peak resident memory (``ru_maxrss``, and VmHWM) of a subprocess that runs tiled MC
    inference on a 2048x2048 LR image with ESRCNN x2 and T=8 (runs first).

Times are wall clock and process CPU time; each variant runs ``--repeat`` times,
interleaved, and the fastest run counts.  On a busy machine, thread-pool barriers stall
many small ops (the seed loops more than the engine): ``--threads 1`` gives steadier ratios.

Run:  .venv/bin/python benchmarks/bench_mc.py  [--quick] [--repeat 2] [--skip-memory]
      [--threads N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from sruq.models import SRModel, build_model
from sruq.models.srcnn import ESRCNN
from sruq.models.srresnet import SRResBNN
from sruq.uncertainty.mc import mc_naive, mc_predict
from sruq.uncertainty.tiling import predict_image


def seed_loop(model: SRModel, x: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeds' MC loop: one full forward per sample with the dropout layers in train mode,
    stacked and reduced.  (Other layers stay in eval mode: the SRResBNN seed also ran BatchNorm
    in train mode, which costs more, so this baseline is the conservative one.)"""
    model.eval()
    for layer in model.dropout_layers():
        layer.train()
    try:
        with torch.no_grad():
            outputs = torch.stack([model(x) for _ in range(samples)])
    finally:
        model.eval()
    return outputs.mean(dim=0), outputs.std(dim=0, correction=0)


def suffix_floor(model: SRModel, x: torch.Tensor, samples: int) -> None:
    """Prefix once, then ``samples`` suffix passes without dropout: what any engine that
    recomputes the suffix densely costs at least (the masks themselves come on top)."""
    model.eval()
    with torch.inference_mode():
        state = model.mc_prefix(x)
        tensors = (state,) if isinstance(state, torch.Tensor) else state
        cl = tuple(t.contiguous(memory_format=torch.channels_last) for t in tensors)
        for _ in range(samples):
            model.mc_suffix(cl[0] if isinstance(state, torch.Tensor) else cl)


def dense_remainder(model: SRModel) -> tuple[nn.Module, nn.Module]:
    """``(first, rest)``: the suffix up to its first nonlinearity after the dropout, and the
    layers after it, which must run once per sample in any exact MC engine."""
    if isinstance(model, ESRCNN):  # body: dropout, 1x1 conv, ReLU | dropout, 5x5 conv
        return model.body[:3], model.body[3:]
    if isinstance(model, SRResBNN):  # dropout + skip, conv, shuffle, PReLU | rest, tail
        return model.upsampler[:3], nn.Sequential(*model.upsampler[3:], model.tail)
    raise TypeError(f"no dense-remainder split for {type(model).__name__}")


def exact_bound(model: SRModel, x: torch.Tensor, samples: int) -> None:
    """Prefix and the suffix's first stage once, then ``samples`` runs of the remainder."""
    first, rest = dense_remainder(model)
    model.eval()
    with torch.inference_mode():
        state = model.mc_prefix(x)
        if isinstance(state, tuple):  # (trunk, head) of a residual trunk: dropout off
            state = state[0] + state[1]
        hidden = first(state.contiguous(memory_format=torch.channels_last))
        for _ in range(samples):
            rest(hidden)


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def compare(title: str, model: SRModel, x: torch.Tensor, samples: int, repeat: int) -> None:
    variants: dict[str, Callable[[], object]] = {
        "seed loop (train-mode dropout)": lambda: seed_loop(model, x, samples),
        "mc_naive (engine masks)": lambda: mc_naive(model, x, samples, seed=0),
        "engine mc_predict": lambda: mc_predict(model, x, samples, seed=0),
        "floor: prefix + T suffixes, no dropout": lambda: suffix_floor(model, x, samples),
        "bound: exact, 1st stage free": lambda: exact_bound(model, x, samples),
    }
    best = {name: (float("inf"), float("inf")) for name in variants}
    outputs: dict[str, object] = {}
    mc_predict(model, x[..., :16, :16], 2)  # warm-up: allocator, oneDNN primitives
    for _ in range(repeat):
        for name, fn in variants.items():
            wall, cpu, outputs[name] = timed(fn)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    engine, naive = outputs["engine mc_predict"], outputs["mc_naive (engine masks)"]
    print(f"\n== {title}: T={samples}, LR {tuple(x.shape[-2:])}, threads {torch.get_num_threads()}")
    ew, ec = best["engine mc_predict"]
    sw, sc = best["seed loop (train-mode dropout)"]
    print(f"  {'':40s} {'':27s} engine speed-up over it  seed loop / it (cpu)")
    for name, (wall, cpu) in best.items():
        print(
            f"  {name:40s} wall {wall:7.2f} s  cpu {cpu:7.2f} s   "
            f"wall x{wall / ew:5.2f}  cpu x{cpu / ec:5.2f}   x{sc / cpu:5.2f}"
        )
    print(
        f"  max |mean - mc_naive mean| = {float((engine.mean - naive.mean).abs().max()):.2e}, "
        f"max |std - mc_naive std| = {float((engine.std - naive.std).abs().max()):.2e}, "
        f"mean std = {float(engine.std.mean()):.4f}"
    )


def _vm_hwm_kib() -> int:
    """Peak RSS of this process image from /proc (not inherited through fork + exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


def memory_child(size: int, samples: int) -> None:
    """Run in a subprocess: tiled inference on a ``size`` x ``size`` LR image, print peak RSS."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = build_model("esrcnn", 2)
    lr = torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    result, _ = predict_image(model, lr, samples, mode="tiled", seed=0)
    report = {
        "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,  # KiB on Linux
        "vm_hwm_kib": _vm_hwm_kib(),
        "after_import_kib": base,
        "seconds": time.perf_counter() - start,
        "shape": list(result.mean.shape),
    }
    print(json.dumps(report))


def memory(size: int, samples: int) -> None:
    """Run first, while this process is small: Linux carries ``ru_maxrss`` across exec."""
    cmd = [sys.executable, __file__, "--memory-child", str(size), "--samples", str(samples)]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    gib = {k: out[k] / 2**20 for k in ("peak_kib", "vm_hwm_kib", "after_import_kib")}
    print(
        f"\n== ESRCNN x2 tiled, T={samples}, LR {size}x{size} -> HR {out['shape']}: "
        f"peak RSS (ru_maxrss) {gib['peak_kib']:.2f} GiB, VmHWM {gib['vm_hwm_kib']:.2f} GiB "
        f"(after imports {gib['after_import_kib']:.2f} GiB), {out['seconds']:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smaller T and inputs (smoke run)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (default: what torch picks)"
    )
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, default=8, help="T of the memory run")
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.samples)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    quick = args.quick
    torch.manual_seed(0)  # model initialisation
    if not args.skip_memory:
        memory(256 if quick else 2048, args.samples)
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    compare(
        "ESRCNN x2",
        build_model("esrcnn", 2),
        x[..., : 64 if quick else 256, :],
        8 if quick else 40,
        args.repeat,
    )
    small = x[..., : 32 if quick else 64, : 32 if quick else 64]
    for scale in (4, 2):
        compare(
            f"SRResBNN x{scale} (16 blocks)",
            build_model("srresbnn", scale).eval(),
            small,
            10 if quick else 100,
            args.repeat,
        )


if __name__ == "__main__":
    main()
