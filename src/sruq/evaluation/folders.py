"""Per-image PSNR/SSIM of a folder of SR images against its HR folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sruq.core.images import sr_hr_pairs
from sruq.evaluation.metrics import border, psnr, ssim

METRIC_COLUMNS = ["dataset", "degradation", "scale", "method", "image", "psnr", "ssim"]


def evaluate_folder(
    sr_dir: Path, hr_dir: Path, scale: int, *, dataset: str, degradation: str, method: str,
    channel: str = "y", crop: int | None = None,
    extra: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] | None = None,
) -> pd.DataFrame:
    """One row per image: PSNR and SSIM on ``channel`` with ``crop`` (default ``scale``) cropped.

    The folders are matched and every SR image checked first (:func:`sruq.core.images.sr_hr_pairs`:
    one image per HR image, by stem, of the mod-cropped HR size), so the workflow's
    metrics, the outside rule and ``sruq evaluate`` share one protocol and one set of checks.

    ``extra`` adds columns computed by ``metric(sr, hr)`` on the whole mod-cropped images
    (LPIPS, say).
    """
    extra = dict(extra or {})
    crop = border(crop, scale)
    rows = []
    for name, sr, hr in sr_hr_pairs(sr_dir, hr_dir, scale):
        try:
            rows.append({"dataset": dataset, "degradation": degradation, "scale": scale,
                         "method": method, "image": name, "psnr": psnr(sr, hr, crop, channel),
                         "ssim": ssim(sr, hr, crop, channel),
                         **{key: metric(sr, hr) for key, metric in extra.items()}})
        except ValueError as err:  # a crop or an SSIM window too large for the image
            raise ValueError(f"{sr_dir}: image {name}: {err}") from None
    return pd.DataFrame(rows, columns=METRIC_COLUMNS + list(extra))
