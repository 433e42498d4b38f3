"""Per-image PSNR/SSIM of a folder of SR images against its HR folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sruq.datasets import modcrop
from sruq.io import atomic_path, list_images, read_image
from sruq.metrics import psnr, ssim

METRIC_COLUMNS = ["dataset", "degradation", "scale", "method", "image", "psnr", "ssim"]


def evaluate_folder(
    sr_dir: Path, hr_dir: Path, scale: int, *, dataset: str, degradation: str, method: str,
    channel: str = "y", crop: int | None = None,
) -> pd.DataFrame:
    """One row per image: PSNR and SSIM on ``channel`` with ``crop`` (default ``scale``) cropped."""
    crop = scale if crop is None else crop
    rows = []
    for hr_path in list_images(hr_dir):
        sr_path = Path(sr_dir) / f"{hr_path.stem}.png"
        if not sr_path.is_file():
            raise FileNotFoundError(f"{sr_path}: SR image for {hr_path.name} is missing")
        hr = modcrop(read_image(hr_path), scale)
        sr = read_image(sr_path)
        if sr.shape != hr.shape:
            raise ValueError(f"{sr_path}: size {sr.shape} differs from mod-cropped HR {hr.shape}")
        rows.append({
            "dataset": dataset, "degradation": degradation, "scale": scale, "method": method,
            "image": hr_path.stem, "psnr": psnr(sr, hr, crop, channel),
            "ssim": ssim(sr, hr, crop, channel),
        })
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a table atomically, floats with enough digits to compare runs exactly."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6f")
