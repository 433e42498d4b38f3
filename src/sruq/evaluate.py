"""Per-image PSNR/SSIM of a folder of SR images against its HR folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sruq.datasets import modcrop
from sruq.io import list_images, read_image
from sruq.metrics import psnr, ssim

METRIC_COLUMNS = ["dataset", "degradation", "scale", "method", "image", "psnr", "ssim"]


def evaluate_folder(
    sr_dir: Path, hr_dir: Path, scale: int, *, dataset: str, degradation: str, method: str,
    channel: str = "y", crop: int | None = None,
    extra: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] | None = None,
) -> pd.DataFrame:
    """One row per image: PSNR and SSIM on ``channel`` with ``crop`` (default ``scale``) cropped.

    ``extra`` adds columns computed by ``metric(sr, hr)`` on the whole mod-cropped images
    (LPIPS, say).
    """
    extra = dict(extra or {})
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
            **{name: metric(sr, hr) for name, metric in extra.items()},
        })
    return pd.DataFrame(rows, columns=METRIC_COLUMNS + list(extra))
