"""Small operations on images shared by every stage (numpy and Pillow only): the
mod-crop of the benchmarks' protocol, SR/HR pairs of two folders, per-image random streams."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sruq.io import list_images, read_image


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so both sides are multiples of ``scale``."""
    h, w = image.shape[:2]
    if h < scale or w < scale:
        raise ValueError(f"image of {h}x{w} pixels is smaller than the scale {scale}")
    return image[: h - h % scale, : w - w % scale]


def image_seed(seed: int, *keys: str) -> np.random.Generator:
    """A generator seeded from the config seed and names, independent of processing order."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def sr_hr_pairs(sr_dir: Path, hr_dir: Path, scale: int,
                ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, sr, hr)`` for every HR image, HR mod-cropped; a missing SR image or one of
    another size raises an error naming the file and what was expected."""
    for hr_path in list_images(Path(hr_dir)):
        sr_path = Path(sr_dir) / f"{hr_path.stem}.png"
        if not sr_path.is_file():
            raise FileNotFoundError(f"{sr_path}: SR image for {hr_path.name} is missing")
        hr = modcrop(read_image(hr_path), scale)
        sr = read_image(sr_path)
        if sr.shape != hr.shape:
            raise ValueError(f"{sr_path}: size {sr.shape} differs from mod-cropped HR {hr.shape}")
        yield hr_path.stem, sr, hr
