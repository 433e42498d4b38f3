"""Data stage (``workflow/rules/data.smk``): locate, prepare and degrade the datasets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from sruq.core.images import image_seed, modcrop
from sruq.core.io import atomic_dir, list_images, read_image, write_image, write_json
from sruq.data.datasets import data_mirror, locate_source, prepare_hr
from sruq.degrade import degrade_uint8


def locate(dataset: str, spec: Mapping[str, Any], out: Path, *, mirror: str | None,
           resources: Path) -> None:
    """Find (or download) a dataset's HR images; ``out`` records where they are (JSON)."""
    record = locate_source(dataset, spec, mirror=data_mirror(mirror), resources=resources)
    write_json(out, record)


def prepare(dataset: str, spec: Mapping[str, Any], out_dir: Path,
            source: Path | None = None) -> None:
    """Write a dataset's HR images into ``out_dir``; ``source`` is the record of
    :func:`locate` (none for builtin photos)."""
    folder = json.loads(Path(source).read_text())["folder"] if source else None
    prepare_hr(dataset, spec, out_dir, folder=Path(folder) if folder else None)


def degrade(
    hr_dir: Path, out_dir: Path, degradation: str, preset: Mapping[str, Any], scale: int,
    seed: int, provenance: Path,
) -> None:
    """Degrade every HR image of ``hr_dir`` (mod-cropped) into ``out_dir``.

    The sampled parameters of every image go to ``provenance`` (JSON).
    """
    torch.manual_seed(seed)
    records: dict[str, Any] = {}
    with atomic_dir(out_dir) as tmp:
        for path in list_images(hr_dir):
            hr = modcrop(read_image(path), scale)
            rng = image_seed(seed, degradation, str(scale), path.stem)
            lr, record = degrade_uint8(hr, dict(preset), scale, rng)
            write_image(tmp / f"{path.stem}.png", lr)
            records[path.stem] = record
    write_json(
        provenance,
        {"degradation": degradation, "preset": dict(preset), "scale": scale, "seed": seed,
         "images": records},
    )
