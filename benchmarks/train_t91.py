"""Train the recipes of config/t91.yaml on T91 for a wall-clock budget; score Set5 and Set14.

Every selected model of the config is trained at one scale (x3 by default) for ``--minutes``
of wall-clock time (the cosine schedule anneals over that time), then evaluated with the
benchmark protocol (MATLAB bicubic LR, Y channel, ``scale`` border pixels cropped) beside
bicubic and the published numbers.  No validation set is used: the final weights are scored.
Data comes from the local mirror (``--mirror``, ``$SRUQ_DATA_MIRROR`` or ../shared/data).

    .venv/bin/python benchmarks/train_t91.py                # every model, 30 minutes each
    .venv/bin/python benchmarks/train_t91.py --models vdsr-lite --minutes 5

Wall-clock numbers depend on how busy the machine is: the load average and the CPU time
of the training are printed beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from sruq.core.images import modcrop
from sruq.data.datasets import data_mirror, load_dataset
from sruq.data.patches import PatchConfig, PatchDataset, make_patches, write_patch_set
from sruq.degrade import PRESETS, matlab_downscale_uint8
from sruq.evaluation.metrics import psnr, ssim
from sruq.models import SRModel, build_model
from sruq.models.checkpoint import load_trained
from sruq.models.predict import upscale_image
from sruq.train import TrainConfig, train_model

REPO = Path(__file__).resolve().parents[1]
PUBLISHED_X3 = {  # (Set5 PSNR, SSIM), (Set14 PSNR, SSIM) at x3, as the VDSR/FSRCNN papers
    "SRCNN 9-5-5 (paper)": ((32.75, 0.9090), (29.30, 0.8215)),
    "FSRCNN (paper)": ((33.18, 0.9140), (29.37, 0.8240)),
    "VDSR (paper)": ((33.67, 0.9213), (29.77, 0.8314)),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config" / "t91.yaml")
    parser.add_argument("--models", default="", help="comma-separated names (default: all)")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per model")
    parser.add_argument("--iterations", type=int, default=None,
                        help="an iteration budget instead of the minutes")
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--mirror", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=Path("/tmp/sruq-train-t91"),
                        help="patch sets and training outputs (resumed when present)")
    return parser.parse_args()


def find_mirror(given: Path | None) -> Path:
    mirror = data_mirror(str(given) if given else None) or REPO.parent / "shared" / "data"
    if not (mirror / "train" / "T91").is_dir():
        raise SystemExit(f"T91 not found under {mirror}: pass --mirror or set SRUQ_DATA_MIRROR")
    return mirror


def images(config: dict[str, Any], role: str, mirror: Path, work: Path) -> dict[str, list]:
    """Every dataset of ``role``: name -> list of uint8 HWC images."""
    return {
        name: [img for _, img in load_dataset(name, spec, mirror, work / "resources")]
        for name, spec in config["datasets"].items() if spec["role"] == role
    }


def patch_set(train: list[np.ndarray], scale: int, entry: dict[str, Any], seed: int,
              work: Path) -> Path:
    """The model's patch set (built once, cached by its settings)."""
    cfg = PatchConfig.from_dict(entry.get("patches"), entry["arch"])
    channels = entry.get("kwargs", {}).get("in_channels", 3)
    key = json.dumps([scale, channels, seed, cfg.__dict__], sort_keys=True, default=list)
    path = work / "patches" / hashlib.sha256(key.encode()).hexdigest()[:12]
    if not (path / "meta.json").is_file():
        lr, hr = make_patches(train, scale, PRESETS["bicubic"], cfg, channels, seed)
        write_patch_set(path, lr, hr, {"key": key})
    return path


def score(model: SRModel, hr_images: list[np.ndarray], scale: int) -> tuple[float, float]:
    """Mean PSNR and SSIM (Y, crop = scale) on MATLAB-bicubic LR images."""
    values = []
    for image in hr_images:
        hr = modcrop(image, scale)
        sr = upscale_image(model, matlab_downscale_uint8(hr, scale))
        values.append((psnr(sr, hr, crop=scale), ssim(sr, hr, crop=scale)))
    return float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values]))


def load() -> float:
    return os.getloadavg()[0]


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = yaml.safe_load(args.config.read_text())
    mirror = find_mirror(args.mirror)
    train = [img for imgs in images(config, "train", mirror, args.work).values() for img in imgs]
    tests = images(config, "test", mirror, args.work)
    names = args.models.split(",") if args.models else list(config["models"])
    seed = config.get("seed", 0)
    rows = [("bicubic", "-", "-", "-",
             *[f"{v:.2f}/{s:.4f}" for imgs in tests.values()
               for v, s in [score(build_model("bicubic", args.scale), imgs, args.scale)]])]
    print(f"threads {torch.get_num_threads()}, load {load():.1f}, budget "
          f"{args.iterations or args.minutes} {'iterations' if args.iterations else 'minutes'}",
          flush=True)
    for name in names:
        entry = config["models"][name]
        train_cfg = dict(entry.get("train", {}))
        train_cfg.update({"iterations": args.iterations, "minutes": None} if args.iterations
                         else {"iterations": None, "minutes": args.minutes})
        train_cfg.update(valid_every=10**9, checkpoint_every=1000)
        cfg = TrainConfig.from_dict(train_cfg, name)
        patches = PatchDataset(patch_set(train, args.scale, entry, seed, args.work))
        out = args.work / "runs" / f"{name}-x{args.scale}-{args.iterations or args.minutes}"
        start_load, cpu = load(), time.process_time()
        result = train_model(entry["arch"], entry.get("kwargs", {}), args.scale, patches, [],
                             cfg, out, progress=False)
        cpu = time.process_time() - cpu
        model = load_trained(out / "weights.pt")
        scores = [score(model, imgs, args.scale) for imgs in tests.values()]
        rows.append((name, str(result["iterations"]), f"{result['elapsed_s'] / 60:.1f}",
                     f"{cpu / 60:.1f}", *[f"{p:.2f}/{s:.4f}" for p, s in scores]))
        print(f"{name}: {result['iterations']} iterations, {len(patches)} patches, wall "
              f"{result['elapsed_s'] / 60:.1f} min, CPU {cpu / 60:.1f} min, load "
              f"{start_load:.1f} -> {load():.1f}; " + ", ".join(
                  f"{t} {p:.2f} dB / {s:.4f}" for t, (p, s) in zip(tests, scores)), flush=True)
    if args.scale == 3 and list(tests) == ["Set5", "Set14"]:
        rows += [(k, "-", "-", "-", *[f"{p:.2f}/{s:.4f}" for p, s in v])
                 for k, v in PUBLISHED_X3.items()]
    header = ("method", "iterations", "wall min", "CPU min", *[f"{t} x{args.scale} PSNR/SSIM"
                                                                for t in tests])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main()
