"""The file contract of the per-image uncertainty outputs, and their one reader.

An uncertainty folder ``<method>/`` holds one folder per image with the files of
:data:`OUTPUT_NAMES` (written by :func:`sruq.uncertainty.outputs.write_image_outputs`):
``mc_mean.png`` (what the method reports), ``std.npy`` (float32 ``(H, W, C)``, C = 1 for
a Y-channel model), ``error.npy`` (float32 ``mc_mean - HR``, signed, before 8-bit
rounding) and the pictures.
A calibration file (JSON) holds what is fitted on the validation images: the
sigma-scaling factor ``sigma_scale`` and the split-conformal factor ``conformal_q`` for
the target ``coverage`` (``null`` without validation images), and ``shift_widening``: the
shift-aware widenings (read by :func:`sruq.shift.calibration.read_widenings`).
Numpy only: the metric and report steps read these files without torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sruq.evaluation.metrics import metric_plane

MEAN, STD, ERROR = "mc_mean.png", "std.npy", "error.npy"
ONE_PASS, ALEATORIC = "one_pass.png", "aleatoric_std.npy"

OUTPUT_NAMES = ("lr_input.png", ONE_PASS, MEAN, STD, ERROR, ALEATORIC, "heatmap.png",
                "colorbar.png", "details")
"""Everything :func:`~sruq.uncertainty.outputs.write_image_outputs` may write into a folder."""


def uncertainty_planes(error_npy: Path, std_npy: Path, crop: int, channel: str = "y",
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``(error, std)`` of one image's written outputs on the metric channel, border
    cropped, same shape (a one-channel std is compared with the luma of an RGB error)."""
    error = metric_plane(np.load(error_npy, allow_pickle=False), crop, channel)
    std = metric_plane(np.load(std_npy, allow_pickle=False), crop, channel)
    if std.shape != error.shape:
        std = np.broadcast_to(std[..., None] if std.ndim < error.ndim else std, error.shape)
    return error, std


def read_uncertainty_folder(unc_dir: Path, crop: int, channel: str = "y",
                            ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(image name, error, std)`` for every image of an uncertainty folder that has an
    ``error.npy`` (the reader of the MC outputs for metrics, calibration and figures)."""
    folders = sorted(p for p in Path(unc_dir).iterdir() if (p / ERROR).is_file())
    return [(f.name, *uncertainty_planes(f / ERROR, f / STD, crop, channel)) for f in folders]


def prediction_files(unc_dir: Path, image: str) -> tuple[Path, Path]:
    """``(mean, std)`` files of one image in an uncertainty folder."""
    return Path(unc_dir) / image / MEAN, Path(unc_dir) / image / STD


def read_sigma_scale(path: Path | str | None) -> float:
    """The factor in a calibration file written by the ``calibrate`` rule (1 without one)."""
    if path is None:
        return 1.0
    return float(json.loads(Path(path).read_text(encoding="utf-8"))["sigma_scale"])


def read_conformal_q(path: Path | str | None) -> float | None:
    """The split-conformal factor in a calibration file (``None`` without one or when it
    was fitted on no validation images)."""
    if path is None:
        return None
    q = json.loads(Path(path).read_text(encoding="utf-8")).get("conformal_q")
    return None if q is None else float(q)
