"""Degradation shift: how each trained method's numbers move when it is tested on
degradations it was not trained on, and how well an uncertainty source's image-level
mean std tells the shifted test images from the in-distribution ones (AUROC).

Rows come from the tidy per-image table (:func:`sruq.tables.collect`): a trained result
has a ``trained_on`` key; it is *shifted* on a test degradation other than that.  Every
(dataset, scale, method, trained on) with a shifted row gets one row per test degradation:
the mean over its images of PSNR, mean std, AUSE, Spearman and UCE, and for a shifted
row the AUROC of the per-image mean std, shifted images positive and the same test
images at the training degradation negative (1 = the std always rises under shift,
0.5 = blind; empty without an uncertainty or without in-distribution rows).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sruq.io import write_csv, write_text
from sruq.layout import UNTRAINED
from sruq.uncertainty.quality import auroc

GROUP = ["dataset", "scale", "method", "trained_on"]
SHIFT_METRICS = {"psnr": ("PSNR (dB)", 2), "mean_std": ("mean std", 4), "ause": ("AUSE", 4),
                 "spearman": ("Spearman", 3), "uce": ("UCE", 4), "auroc": ("shift AUROC", 3)}
"""Columns of the shift table: header label and decimals."""
SHIFT_FILES = ("shift.csv", "shift.md")


def shift_table(per_image: pd.DataFrame) -> pd.DataFrame:
    """The shift table of a per-image table (empty when no result is shifted)."""
    trained = per_image[per_image["trained_on"] != UNTRAINED]
    rows = []
    for key, group in trained.groupby(GROUP, sort=False):
        trained_on = key[3]
        if (group["degradation"] == trained_on).all():
            continue  # in distribution only
        reference = group[group["degradation"] == trained_on]
        for degradation, block in group.groupby("degradation", sort=False):
            row = dict(zip(GROUP, key, strict=True), degradation=degradation,
                       shifted=degradation != trained_on, images=len(block))
            for metric in SHIFT_METRICS:
                if metric in block.columns and metric != "auroc":
                    row[metric] = block[metric].mean()
            row["auroc"] = float("nan")
            if row["shifted"] and "mean_std" in block.columns:
                row["auroc"] = auroc(block["mean_std"].dropna(),
                                     reference["mean_std"].dropna() if len(reference) else [])
            rows.append(row)
    columns = [*GROUP, "degradation", "shifted", "images", *SHIFT_METRICS]
    return pd.DataFrame(rows).reindex(columns=columns)


def _cell(value: float, decimals: int) -> str:
    return "–" if pd.isna(value) else f"{value:.{decimals}f}"


def shift_markdown(table: pd.DataFrame) -> str:
    """The shift table as Markdown, one section per dataset x scale."""
    parts = []
    for (dataset, scale), block in table.groupby(["dataset", "scale"], sort=False):
        header = ["method", "trained on", "tested on", "images"] + [
            label for label, _ in SHIFT_METRICS.values()]
        lines = [f"### Degradation shift: {dataset} ×{scale}", "",
                 "Means over the test images; shift AUROC: the per-image mean std telling "
                 "shifted images from the same images at the training degradation "
                 "(1 = always higher under shift, 0.5 = blind).", "",
                 "| " + " | ".join(header) + " |", "|:---|:---|:---|---:|"
                 + "---:|" * len(SHIFT_METRICS)]
        for row in block.itertuples(index=False):
            tested = row.degradation + ("" if row.shifted else " (in distribution)")
            cells = [_cell(getattr(row, m), d) for m, (_, d) in SHIFT_METRICS.items()]
            lines.append(f"| {row.method} | {row.trained_on} | {tested} | {row.images} | "
                         + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_shift(per_image: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Write ``shift.csv`` and ``shift.md`` into ``out_dir`` if any result is shifted."""
    table = shift_table(per_image)
    if table.empty:
        return []
    csv, md = (Path(out_dir) / name for name in SHIFT_FILES)
    write_csv(table, csv)
    write_text(md, shift_markdown(table))
    return [csv, md]
