"""Speed and memory of MC-dropout inference (prints numbers; asserts nothing).

(a) ESRCNN x2, T=40, 256x256 LR: the seed's loop (dropout layers in train mode, one full
    forward per sample), :func:`mc_naive` (one full forward per sample, the engine's masks)
    and the engine :func:`mc_predict` (prefix once, batched suffix, streamed moments; its
    dropout + 1x1 convolution fused, and once more with ``fuse=False``, the hook path, where
    the model has such a pair), measured side by side; the engine's mean/std are compared
    with ``mc_naive``'s.  A further line times the prefix plus T dropout-free suffix passes:
    the floor for any engine that recomputes the suffix densely, so the seed loop's time
    over it bounds the speed-up of such an engine (the fused path recomputes less).  An
    instrumented engine run then gives the share of the engine's time spent generating
    the dropout masks, and in the dropout layers as a whole (hook path: masks, scaled copy,
    zeroing; fused path: masks, sparse correction, the ReLUs and dropouts in place).
(b) The same for SRResBNN (16 blocks, 64 channels), T=100, 64x64 LR, at x4 and x2.
(c) Peak memory of a subprocess that runs tiled MC inference on a 2048x2048 LR image with
    ESRCNN x2 and T=8 (runs first): resident (``ru_maxrss``, VmHWM) on the CPU, and
    ``torch.cuda.max_memory_allocated`` with ``--device cuda``.
(d) With ``--upscale``: the whole ``sruq upscale`` command (reading, tiled MC inference,
    heatmap, details, writing) on a 2-megapixel (1632x1224) LR image, ESRCNN x2
    (untrained weights), T=40, wall clock of the subprocess.

``--device cuda`` runs everything on the GPU (times are wall clock after a
``torch.cuda.synchronize``); without a CUDA device it says so and exits.  ``--baseline
SRC`` names another checkout's ``src`` folder: its ``mc_predict`` (that version of
``sruq/uncertainty/mc.py``) is timed beside this one in the same run, and ``--upscale``
runs its ``sruq`` too, so before/after ratios come from the same conditions.

Times are wall clock and process CPU time; each variant runs ``--repeat`` times,
interleaved, and the fastest run counts.  On a busy machine, thread-pool barriers stall
many small ops (the seed loops more than the engine): ``--threads 1`` gives steadier ratios.
Every block prints the load average before and after it.  The C allocator is set to keep
freed memory first (:func:`steady_allocator`; ``--default-malloc`` leaves it), because how
often the default one hands out fresh, page-faulting memory depends on what the process
ran before: the floor took 3.0 to 3.9 s for the same work.

Run:  .venv/bin/python benchmarks/bench_mc.py  [--quick] [--repeat 2] [--skip-memory]
      [--threads N] [--device cpu|cuda] [--baseline OLD/src] [--upscale] [--only NAME]
      [--default-malloc]
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from sruq.models import SRModel, build_model
from sruq.models.checkpoint import save_weights
from sruq.models.srcnn import ESRCNN
from sruq.models.srresnet import SRResBNN
from sruq.uncertainty import fused, masks, mc
from sruq.uncertainty.mc import mc_naive, mc_predict
from sruq.uncertainty.tiling import predict_image

UPSCALE_LR = (1224, 1632)
"""LR size (h, w) of the ``--upscale`` run: 2.0 megapixels."""


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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, float, object]:
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def load_baseline(src: Path) -> ModuleType:
    """``sruq/uncertainty/mc.py`` of another checkout's ``src`` folder, as its own module,
    with that checkout's ``masks.py`` (and ``fused.py``) in place of this one's."""
    folder = src / "sruq" / "uncertainty"
    if not (folder / "mc.py").is_file():
        raise SystemExit(f"--baseline: {folder / 'mc.py'} does not exist")
    module = _load_module("baseline_mc", folder / "mc.py")
    for name in ("masks", "fused"):
        if (folder / f"{name}.py").is_file() and hasattr(module, name):
            setattr(module, name, _load_module(f"baseline_{name}", folder / f"{name}.py"))
    return module


def load_average() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


class HookTimer:
    """Times the mask functions and the dropout hooks of the engine while installed."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.masks, self.hooks = device, 0.0, 0.0

    def _wrap(self, fn: Callable[..., Any], field: str) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            sync(self.device)
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            sync(self.device)
            setattr(self, field, getattr(self, field) + time.perf_counter() - start)
            return out

        return wrapped

    def run(self, fn: Callable[[], object]) -> float:
        """Wall time of ``fn()`` with the instruments in place."""
        saved = [(masks, name, getattr(masks, name))
                 for name in ("sample_keys", "feature_drops", "element_drops")]
        saved += [(mc._MaskSampler, name, getattr(mc._MaskSampler, name))
                  for name in ("hook", "_fused_run")]
        for owner, name, fn_ in saved:
            field = "masks" if owner is masks else "hooks"
            setattr(owner, name, self._wrap(fn_, field))
        try:
            return timed(fn, self.device)[0]
        finally:
            for owner, name, fn_ in saved:
                setattr(owner, name, fn_)


def compare(
    title: str,
    model: SRModel,
    x: torch.Tensor,
    samples: int,
    repeat: int,
    baseline: ModuleType | None,
) -> None:
    device = x.device
    variants: dict[str, Callable[[], object]] = {
        "seed loop (train-mode dropout)": lambda: seed_loop(model, x, samples),
        "mc_naive (engine masks)": lambda: mc_naive(model, x, samples, seed=0),
        "engine mc_predict": lambda: mc_predict(model, x, samples, seed=0),
        "floor: prefix + T suffixes, no dropout": lambda: suffix_floor(model, x, samples),
        "bound: exact, 1st stage free": lambda: exact_bound(model, x, samples),
    }
    if fused.fusable_pairs(model, model.dropout_layers()):
        variants["engine, fuse=False (hook path)"] = lambda: mc_predict(
            model, x, samples, seed=0, fuse=False
        )
    if baseline is not None:
        variants["baseline engine (--baseline)"] = lambda: baseline.mc_predict(
            model, x, samples, seed=0
        )
    best = {name: (float("inf"), float("inf")) for name in variants}
    before = load_average()
    outputs: dict[str, object] = {}
    mc_predict(model, x[..., :16, :16], 2)  # warm-up: allocator, oneDNN primitives
    if baseline is not None:
        baseline.mc_predict(model, x[..., :16, :16], 2)
    for _ in range(repeat):
        for name, fn in variants.items():
            wall, cpu, outputs[name] = timed(fn, device)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    engine, naive = outputs["engine mc_predict"], outputs["mc_naive (engine masks)"]
    threads = "GPU" if device.type == "cuda" else f"threads {torch.get_num_threads()}"
    print(f"\n== {title}: T={samples}, LR {tuple(x.shape[-2:])}, {threads}; "
          f"before: {before}, after: {load_average()}")
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
    fw, fc = best["floor: prefix + T suffixes, no dropout"]
    line = f"  engine / floor: wall {ew / fw:.2f}, cpu {ec / fc:.2f}"
    if "engine, fuse=False (hook path)" in best:
        uw, uc = best["engine, fuse=False (hook path)"]
        line += f"; unfused engine / floor: wall {uw / fw:.2f}, cpu {uc / fc:.2f}"
    if baseline is not None:
        bw, bc = best["baseline engine (--baseline)"]
        line += f"; baseline engine / floor: wall {bw / fw:.2f}, cpu {bc / fc:.2f}"
        line += f"; engine / baseline engine: wall {ew / bw:.2f}, cpu {ec / bc:.2f}"
    print(line)
    timer = HookTimer(device)
    total = timer.run(lambda: mc_predict(model, x, samples, seed=0))
    print(
        f"  instrumented engine run, wall {total:.2f} s: mask generation {timer.masks:.3f} s "
        f"({100 * timer.masks / total:.1f} %), dropout layers in all (masks; scaled copy "
        f"and zeroing, or the fused sparse correction and in-place tail) {timer.hooks:.3f} s "
        f"({100 * timer.hooks / total:.1f} %)"
    )


def _vm_hwm_kib() -> int:
    """Peak RSS of this process image from /proc (not inherited through fork + exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


def memory_child(size: int, samples: int, device: torch.device) -> None:
    """Run in a subprocess: tiled inference on a ``size`` x ``size`` LR image, print peak RSS
    (and the peak CUDA allocation on a GPU)."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = build_model("esrcnn", 2).to(device)
    lr = torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    result, _ = predict_image(model, lr, samples, mode="tiled", seed=0)
    sync(device)
    cuda_peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    report = {
        "cuda_peak_kib": cuda_peak // 1024,
        "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,  # KiB on Linux
        "vm_hwm_kib": _vm_hwm_kib(),
        "after_import_kib": base,
        "seconds": time.perf_counter() - start,
        "shape": list(result.mean.shape),
    }
    print(json.dumps(report))


def memory(size: int, samples: int, device: torch.device) -> None:
    """Run first, while this process is small: Linux carries ``ru_maxrss`` across exec."""
    cmd = [sys.executable, __file__, "--memory-child", str(size), "--samples", str(samples),
           "--device", str(device)]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    gib = {k: out[k] / 2**20 for k in ("peak_kib", "vm_hwm_kib", "after_import_kib",
                                       "cuda_peak_kib")}
    gpu = f", peak CUDA allocation {gib['cuda_peak_kib']:.2f} GiB" if device.type == "cuda" else ""
    print(
        f"\n== ESRCNN x2 tiled, T={samples}, LR {size}x{size} -> HR {out['shape']} "
        f"({load_average()} after): "
        f"peak RSS (ru_maxrss) {gib['peak_kib']:.2f} GiB, VmHWM {gib['vm_hwm_kib']:.2f} GiB "
        f"(after imports {gib['after_import_kib']:.2f} GiB){gpu}, {out['seconds']:.0f} s"
    )


def upscale_inputs(folder: Path, size: tuple[int, int]) -> tuple[Path, Path]:
    """An LR photo stand-in (smooth noise) of ``size`` and untrained ESRCNN x2 weights."""
    h, w = size
    rng = np.random.default_rng(0)
    coarse = rng.random((h // 8 + 1, w // 8 + 1, 3))
    smooth = np.kron(coarse, np.ones((8, 8, 1)))[:h, :w] * 0.8 + rng.random((h, w, 3)) * 0.2
    image = folder / "lr_2mp.png"
    Image.fromarray((smooth * 255).astype(np.uint8)).save(image)
    weights = folder / "esrcnn_x2.pt"
    torch.manual_seed(0)
    save_weights(weights, build_model("esrcnn", 2), "esrcnn", 0, None)
    return image, weights


def upscale(device: torch.device, threads: int, baseline_src: Path | None, quick: bool,
            repeat: int) -> None:
    """Time ``sruq upscale`` (T=40, tiled) on :data:`UPSCALE_LR` in a subprocess, for this
    checkout and, with ``--baseline``, the other one (``quick``: 256x192, T=4), ``repeat``
    times interleaved; the fastest run counts (the first process on a machine can take
    twice as long: measured 343 s then 149 s, in either order of the checkouts)."""
    size, samples = ((192, 256), 4) if quick else (UPSCALE_LR, 40)
    runs = [("this checkout", Path(__file__).resolve().parents[1] / "src")]
    if baseline_src is not None:
        runs.append(("baseline (--baseline)", baseline_src.resolve()))
    code = "import sys; from sruq.cli.main import main; sys.exit(main(sys.argv[1:]))"
    with tempfile.TemporaryDirectory() as tmp:
        image, weights = upscale_inputs(Path(tmp), size)
        print(f"\n== sruq upscale, ESRCNN x2, T={samples}, tiled, LR {size[1]}x{size[0]} "
              f"({size[0] * size[1] / 1e6:.2f} MP), device {device}, "
              f"threads {threads or 'torch default'}, {load_average()}")
        best = {name: float("inf") for name, _ in runs}
        for index in range(repeat):
            for name, src in runs:
                env = dict(os.environ, PYTHONPATH=str(src))
                if threads:
                    env["OMP_NUM_THREADS"] = str(threads)
                cmd = [sys.executable, "-c", code, "upscale", "--weights", str(weights),
                       "--samples", str(samples), "--device", str(device), "--quiet",
                       "--out", str(Path(tmp) / f"{name.split()[0]}{index}"), str(image)]
                start = time.perf_counter()
                subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
                wall = time.perf_counter() - start
                best[name] = min(best[name], wall)
                print(f"  {name:24s} wall {wall:7.1f} s ({load_average()} after)")
        if repeat > 1:
            print("  fastest: " + ", ".join(f"{name} {wall:.1f} s" for name, wall in best.items()))


MALLOPT_TRIM_THRESHOLD, MALLOPT_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameters (malloc.h)."""


def steady_allocator() -> str:
    """Make the C allocator keep freed memory (no fresh, page-faulting mappings per call).

    By default glibc maps blocks above a threshold fresh from the system and returns them
    on free, and the threshold moves with what the process freed before: the floor's
    32 MiB feature maps faulted 65k to 740k pages per run of 40 passes (3.0 to 3.9 s of
    CPU) depending on which rows ran before it in the same process.  With both
    thresholds at 1 GiB every row measures its arithmetic, whatever ran before; the
    memory and ``--upscale`` subprocesses keep the default.  Returns what it did."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        done = libc.mallopt(MALLOPT_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(
            MALLOPT_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):
        done = 0
    if done:
        return "C allocator: freed memory kept (mallopt, thresholds 1 GiB)"
    return "C allocator: as it is (no glibc mallopt here)"


def pick_device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "--device cuda: no CUDA device here (torch.cuda.is_available() is False); "
            "nothing was measured"
        )
    return device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smaller T and inputs (smoke run)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (default: what torch picks)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--baseline", type=Path, help="another checkout's src folder")
    parser.add_argument("--upscale", action="store_true", help="also time sruq upscale, 2 MP")
    parser.add_argument(
        "--only", choices=("esrcnn", "srresbnn-x4", "srresbnn-x2", "none"),
        help="run one block of the table (or none: memory and --upscale only)",
    )
    parser.add_argument(
        "--default-malloc", action="store_true",
        help="leave the C allocator's thresholds as they are (page faults then vary by run)",
    )
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, default=8, help="T of the memory run")
    args = parser.parse_args()
    device = pick_device(args.device)
    if args.memory_child:
        memory_child(args.memory_child, args.samples, device)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.skip_memory:  # first, while this process is small, with the default allocator
        memory(256 if args.quick else 2048, args.samples, device)
    print("\n" + ("C allocator: as it is (--default-malloc)" if args.default_malloc
                  else steady_allocator()))
    baseline = None if args.baseline is None else load_baseline(args.baseline)
    quick = args.quick
    torch.manual_seed(0)  # model initialisation
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1)).to(device)
    if args.only in (None, "esrcnn"):
        compare(
            "ESRCNN x2",
            build_model("esrcnn", 2).to(device),
            x[..., : 64 if quick else 256, :],
            8 if quick else 40,
            args.repeat,
            baseline,
        )
    small = x[..., : 32 if quick else 64, : 32 if quick else 64]
    for scale in (4, 2):
        if args.only not in (None, f"srresbnn-x{scale}"):
            continue
        torch.manual_seed(scale)
        compare(
            f"SRResBNN x{scale} (16 blocks)",
            build_model("srresbnn", scale).eval().to(device),
            small,
            10 if quick else 100,
            args.repeat,
            baseline,
        )
    if args.upscale:
        upscale(device, args.threads, args.baseline, quick, args.repeat)


if __name__ == "__main__":
    main()
