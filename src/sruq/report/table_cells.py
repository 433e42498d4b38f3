"""How the comparison tables show a metric: its label, better direction and decimals
(:data:`METRICS`), and the text of its cells (mean ± std over images, the best in bold;
a difference with its confidence interval).  Pandas only."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from sruq.evaluation.bootstrap import COLUMNS


@dataclass(frozen=True)
class Metric:
    """How a metric is shown: header label, which direction is better (``None``: neither,
    e.g. a coverage that should match its target; no arrow, no bold), decimals."""

    label: str
    higher_is_better: bool | None
    decimals: int

    @property
    def arrow(self) -> str:
        return {True: "↑", False: "↓", None: ""}[self.higher_is_better]


METRICS: dict[str, Metric] = {
    "psnr": Metric("PSNR (dB)", True, 2),
    "ssim": Metric("SSIM", True, 4),
    "lpips": Metric("LPIPS", False, 4),
    "pearson": Metric("Pearson", True, 3),
    "spearman": Metric("Spearman", True, 3),
    "ause": Metric("AUSE", False, 4),
    "uce": Metric("UCE", False, 4),
    "uce_scaled": Metric("UCE (scaled)", False, 4),
    "nll": Metric("NLL", False, 3),
    "nll_scaled": Metric("NLL (scaled)", False, 3),
    "uce_bayescap": Metric("UCE (BayesCap)", False, 5),
    "ccoeff_bayescap": Metric("C.Coeff (BayesCap)", True, 3),
    "coverage": Metric("Coverage", None, 3),
    "interval_width": Metric("Interval width", False, 4),
    "shift_score": Metric("Shift score", None, 2),
    "shift_flagged": Metric("Flagged", None, 2),
}
"""Metrics the comparison tables show, in column order; other columns stay in the CSVs."""


@dataclass(frozen=True)
class Cell:
    """One table cell: mean and std as text (std ``None`` when undefined), bold if best;
    or a value with its confidence ``interval`` (low, high)."""

    mean: str | None
    std: str | None
    bold: bool
    interval: tuple[str, str] | None = None


def number(value: float, decimals: int) -> str:
    """``value`` with ``decimals`` decimals (``inf``/``-inf`` as words)."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{decimals}f}"


def column_cells(block: pd.DataFrame, metric: str) -> list[Cell]:
    """Cells of one metric column; the best rounded mean is bold (all ties, >= 2 values)."""
    spec = METRICS[metric]
    means = block[metric].tolist()
    stds = block[f"{metric}_std"].tolist()
    shown = [None if math.isnan(m) else round(m, spec.decimals) for m in means]
    present = [v for v in shown if v is not None]
    ranked = spec.higher_is_better is not None and len(present) > 1
    best = (max if spec.higher_is_better else min)(present) if ranked else None
    return [
        Cell(
            mean=None if value is None else number(mean, spec.decimals),
            std=None if value is None or math.isnan(std) else number(std, spec.decimals),
            bold=best is not None and value == best,
        )
        for mean, std, value in zip(means, stds, shown)
    ]


def interval_cells(block: pd.DataFrame) -> list[Cell]:
    """Cells of the ΔPSNR column: difference and interval in dB, a dash where undefined."""
    def cell(d: float, low: float, high: float) -> Cell:
        ci = None if math.isnan(low) else (f"{low:+.2f}", f"{high:+.2f}")
        return Cell(None if math.isnan(d) else f"{d:+.2f}", None, False, ci)
    return [cell(*row) for row in block[list(COLUMNS)].itertuples(index=False)]
