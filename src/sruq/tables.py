"""Aggregated comparison tables from the per-image metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sruq.evaluate import write_csv
from sruq.io import write_text

KEYS = ["dataset", "degradation", "scale", "method"]


def collect(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate per-image metric CSVs into one tidy table."""
    frames = [pd.read_csv(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summarise(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over images of PSNR and SSIM for every dataset/degradation/scale/method."""
    grouped = per_image.groupby(KEYS, sort=False)
    summary = grouped.agg(
        images=("image", "count"),
        psnr=("psnr", "mean"), psnr_std=("psnr", "std"),
        ssim=("ssim", "mean"), ssim_std=("ssim", "std"),
    ).reset_index()
    return summary.fillna({"psnr_std": 0.0, "ssim_std": 0.0})


def markdown(summary: pd.DataFrame) -> str:
    """One Markdown table per degradation: methods as rows, dataset x scale as columns."""
    parts = []
    for degradation, block in summary.groupby("degradation", sort=False):
        block = block.assign(
            column=block["dataset"] + " x" + block["scale"].astype(str),
            cell=block["psnr"].map("{:.2f}".format) + " / " + block["ssim"].map("{:.4f}".format),
        )
        table = block.pivot(index="method", columns="column", values="cell")
        methods = list(dict.fromkeys(block["method"]))
        columns = list(dict.fromkeys(block["column"]))
        table = table.loc[methods, columns].fillna("-")
        lines = [
            f"### Degradation: {degradation} (PSNR dB / SSIM, Y channel)",
            "",
            "| method | " + " | ".join(columns) + " |",
            "|---|" + "---|" * len(columns),
        ]
        lines += [f"| {m} | " + " | ".join(table.loc[m]) + " |" for m in methods]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_summary(metric_csvs: Sequence[Path], per_image_out: Path, csv_out: Path,
                  md_out: Path) -> pd.DataFrame:
    """Write the tidy per-image table, the aggregated CSV and the Markdown table."""
    per_image = collect(metric_csvs)
    summary = summarise(per_image)
    write_csv(per_image, per_image_out)
    write_csv(summary, csv_out)
    write_text(md_out, markdown(summary))
    return summary
