"""The LPIPS step of the evaluate stage, in its own env (torch, torchvision, lpips): a
per-image CSV with the key columns and ``lpips``, which the tables merge with the others."""

from __future__ import annotations

from pathlib import Path

from sruq.core.images import sr_hr_pairs
from sruq.core.io import write_text
from sruq.core.layout import UNTRAINED
from sruq.evaluation.lpips_metric import LPIPSMetric

COLUMNS = ("dataset", "degradation", "scale", "method", "trained_on", "image", "lpips")


def lpips_table(sr_dir: Path, hr_dir: Path, scale: int, out: Path, *, net: str,
                dataset: str, degradation: str, method: str, trained_on: str = UNTRAINED,
                device: str = "cpu") -> None:
    """LPIPS (backbone ``net``) of every SR image against its mod-cropped HR image, as CSV
    (floats as :func:`sruq.core.io.write_csv` writes them)."""
    metric = LPIPSMetric(net, device)
    lines = [",".join(COLUMNS)]
    for name, sr, hr in sr_hr_pairs(sr_dir, hr_dir, scale):
        lines.append(f"{dataset},{degradation},{scale},{method},{trained_on},{name},"
                     f"{metric(sr, hr):.6f}")
    write_text(out, "\n".join(lines) + "\n")
