"""Train stage (``workflow/rules/train.smk``): training patches, networks, and the
sparse-coding dictionary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sruq.core.images import modcrop
from sruq.core.io import list_images, read_image, remove_stale_temps, write_json
from sruq.data.patches import PatchConfig, PatchDataset, make_patches, write_patch_set
from sruq.models import build_model
from sruq.models.sparse_coding import SparseCodingSR
from sruq.train import TrainConfig, train_model


def valid_pairs(hr_dirs: Sequence[Path], lr_dirs: Sequence[Path],
                scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(lr, hr)`` uint8 pairs of validation folders (HR mod-cropped), matched by name."""
    pairs = []
    for hr_dir, lr_dir in zip(hr_dirs, lr_dirs, strict=True):
        for hr_path in list_images(Path(hr_dir)):
            lr_path = Path(lr_dir) / f"{hr_path.stem}.png"
            if not lr_path.is_file():
                raise FileNotFoundError(f"{lr_path}: LR image for {hr_path.name} is missing")
            pairs.append((read_image(lr_path), modcrop(read_image(hr_path), scale)))
    return pairs


def training_patches(
    model: str, patches: Mapping[str, Any] | None, channels: int, hr_dir: Path, out_dir: Path,
    scale: int, preset: Mapping[str, Any], seed: int,
) -> int:
    """Cut the training patches of a model (its ``patches:`` settings, its input
    ``channels``) from an HR folder into a patch set, degraded by ``preset``."""
    cfg = PatchConfig.from_dict(patches, model)
    files = list_images(Path(hr_dir))
    lr, hr = make_patches((read_image(f) for f in files), scale, preset, cfg, channels, seed)
    meta = {"model": model, "scale": scale, "seed": seed, "channels": channels,
            "images": [f.stem for f in files], "count": len(lr),
            "patches": {k: v for k, v in cfg.__dict__.items()}}
    write_patch_set(Path(out_dir), lr, hr, meta)
    return len(lr)


def train(
    model: str, spec: Mapping[str, Any], scale: int, patch_dir: Path,
    valid: Sequence[tuple[Path, Path]], out_dir: Path, seed: int, device: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]:
    """Train a model (``spec``: its ``arch``, ``kwargs`` and ``train`` settings) on a patch
    set; validation on ``(hr_dir, lr_dir)`` pairs."""
    if threads:
        torch.set_num_threads(threads)
    for path in remove_stale_temps(out_dir):  # a killed run's half-written .curve.XXXX.png
        print(f"removed {path}, left by an interrupted run")
    cfg = TrainConfig.from_dict({"seed": seed, **spec.get("train", {})}, model)
    pairs = valid_pairs([h for h, _ in valid], [lr for _, lr in valid], scale)
    summary = train_model(spec["arch"], spec.get("kwargs", {}), scale, PatchDataset(patch_dir),
                          pairs, cfg, out_dir, device=device, label=model)
    write_json(Path(out_dir) / "summary.json", summary)
    return summary


def input_channels(arch: str, kwargs: Mapping[str, Any] | None) -> int:
    """The channels a model of ``arch`` with ``kwargs`` takes (what its patches are cut in)."""
    return build_model(arch, 2, **dict(kwargs or {})).in_channels


def learn_dictionary(hr_dirs: Sequence[Path], out: Path, scale: int,
                     options: Mapping[str, Any], seed: int) -> None:
    """Learn the coupled sparse-coding dictionaries from HR training folders."""
    images = [read_image(f) for folder in hr_dirs for f in list_images(Path(folder))]
    model = SparseCodingSR.fit(images, scale, seed=seed, **dict(options))
    model.save(out)
