"""The shift table: how each trained method's numbers move when it is tested on
degradations it was not trained on, how well each image-level score tells the shifted test
images from the in-distribution ones, and whether its intervals still cover.

Rows come from the tidy per-image table (:func:`sruq.report.tables.collect`): a trained result
has a ``trained_on`` key; it is *shifted* on a test degradation other than that.  Every
(dataset, scale, method, trained on) with a shifted row gets one row per test degradation:
the mean over its images of every metric of :data:`SHIFT_METRICS`; for a shifted row the
AUROC of each score (:data:`SCORE_COLUMNS`: the per-image mean std of the source and the
shift scores of :mod:`sruq.shift.scores`), shifted images positive and the same test images
at the training degradation negative (1 = always higher under shift, 0.5 = blind); and the
share of images each shift score flags -- the false-alarm rate on the in-distribution row,
the detection rate on a shifted one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sruq.core.io import write_csv, write_text
from sruq.core.layout import UNTRAINED
from sruq.shift.calibration import PROFILE_COLUMNS
from sruq.shift.scores import FLAG_COLUMN, SCORES, score_column
from sruq.uncertainty.quality import auroc

GROUP = ["dataset", "scale", "method", "trained_on"]
SCORE_COLUMNS = {"mean_std": "mean std", **{score_column(s): s for s in SCORES}}
"""Per-image columns whose AUROC the table gives, and their labels."""
SHIFT_METRICS = {"psnr": ("PSNR (dB)", 2), "mean_std": ("mean std", 4), "ause": ("AUSE", 4),
                 "spearman": ("Spearman", 3), "uce_scaled": ("UCE (scaled)", 4),
                 "uce_shift": ("UCE (shift-aware)", 4),
                 "coverage_static": ("coverage (static)", 3),
                 "coverage": ("coverage (shift-aware)", 3),
                 "interval_width_static": ("width (static)", 4),
                 "interval_width": ("width (shift-aware)", 4)}
"""Means over images in the shift table: header label and decimals."""
SHIFT_FILES = ("shift.csv", "shift.md")


def result_scores(path: Path | str, dataset: str, degradation: str, method: str,
                  trained_on: str) -> dict[str, tuple[float, bool]]:
    """Image -> (primary shift score, flagged) of one result in a shift-score CSV (rule
    shift_score): what the calibration and the heatmaps' titles read."""
    frame = pd.read_csv(path, dtype={key: str for key in ("dataset", "degradation", "method",
                                                          "trained_on", "image")})
    rows = frame[(frame["dataset"] == dataset) & (frame["degradation"] == degradation)
                 & (frame["method"] == method) & (frame["trained_on"] == trained_on)]
    return {str(image): (float(score), bool(flag)) for image, score, flag
            in zip(rows["image"], rows["shift_score"], rows[FLAG_COLUMN], strict=True)}


def read_profiles(path: Path | str) -> dict[tuple[str, str, str], tuple[np.ndarray, bool]]:
    """(dataset, degradation, image) -> (profile, flagged) of a profiles CSV (rule
    shift_score): what the shift-aware intervals are fitted and applied on."""
    frame = pd.read_csv(path, dtype={key: str for key in ("dataset", "degradation", "image")})
    z = frame[list(PROFILE_COLUMNS)].to_numpy(dtype=np.float64)
    return {(str(d), str(g), str(i)): (z[n], bool(f)) for n, (d, g, i, f) in enumerate(
        zip(frame["dataset"], frame["degradation"], frame["image"], frame[FLAG_COLUMN],
            strict=True))}


def _auroc_column(column: str) -> str:
    return "auroc_" + column.removeprefix("shift_")


def shift_table(per_image: pd.DataFrame) -> pd.DataFrame:
    """The shift table of a per-image table (empty when no result is shifted)."""
    trained = per_image[per_image["trained_on"] != UNTRAINED]
    scores = [c for c in SCORE_COLUMNS if c in trained.columns]
    flags = [c for c in scores if f"{c}_above" in trained.columns]
    rows = []
    for key, group in trained.groupby(GROUP, sort=False):
        trained_on = key[3]
        if (group["degradation"] == trained_on).all():
            continue  # in distribution only
        reference = group[group["degradation"] == trained_on]
        for degradation, block in group.groupby("degradation", sort=False):
            shifted = degradation != trained_on
            row = dict(zip(GROUP, key, strict=True), degradation=degradation,
                       shifted=shifted, images=len(block))
            for metric in SHIFT_METRICS:
                if metric in block.columns:
                    row[metric] = block[metric].mean()
            for column in scores:
                row[_auroc_column(column)] = (
                    auroc(block[column].dropna(), reference[column].dropna())
                    if shifted and len(reference) else float("nan"))
            for column in flags:
                share = block[column + "_above"].mean()
                row["detected_" + column.removeprefix("shift_")] = share if shifted else None
                row["false_alarms_" + column.removeprefix("shift_")] = (
                    None if shifted else share)
            rows.append(row)
    columns = [*GROUP, "degradation", "shifted", "images", *SHIFT_METRICS,
               *(_auroc_column(c) for c in scores),
               *(f"{kind}_{c.removeprefix('shift_')}" for c in flags
                 for kind in ("false_alarms", "detected"))]
    return pd.DataFrame(rows).reindex(columns=columns)


def _cell(value: object, decimals: int) -> str:
    return "–" if value is None or pd.isna(value) else f"{float(value):.{decimals}f}"


def _section(block: pd.DataFrame, title: str, note: str,
             columns: dict[str, tuple[str, int]]) -> str:
    columns = {c: spec for c, spec in columns.items()
               if c in block.columns and block[c].notna().any()}
    header = ["method", "trained on", "tested on", "images"] + [
        label for label, _ in columns.values()]
    lines = [title, "", note, "", "| " + " | ".join(header) + " |",
             "|:---|:---|:---|---:|" + "---:|" * len(columns)]
    for row in block.itertuples(index=False):
        tested = row.degradation + ("" if row.shifted else " (in distribution)")
        cells = [_cell(getattr(row, c), d) for c, (_, d) in columns.items()]
        lines.append(f"| {row.method} | {row.trained_on} | {tested} | {row.images} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def shift_markdown(table: pd.DataFrame) -> str:
    """The shift table as Markdown: per dataset x scale, one section on telling shifted
    images apart (AUROC, flagged shares) and one on the pixel uncertainty under shift."""
    parts = []
    detection: dict[str, tuple[str, int]] = {"psnr": ("PSNR (dB)", 2)}
    for column, label in SCORE_COLUMNS.items():
        detection[_auroc_column(column)] = (f"AUROC {label}", 3)
    for column in SCORE_COLUMNS:
        name = column.removeprefix("shift_")
        if column != "mean_std":
            detection[f"false_alarms_{name}"] = (f"false alarms {SCORE_COLUMNS[column]}", 2)
            detection[f"detected_{name}"] = (f"flagged {SCORE_COLUMNS[column]}", 2)
    pixels = {m: spec for m, spec in SHIFT_METRICS.items() if m != "psnr"}
    for (dataset, scale), block in table.groupby(["dataset", "scale"], sort=False):
        parts.append(_section(
            block, f"### Degradation shift: {dataset} ×{scale} — is the input like the "
            "training data?",
            "Means over the test images. AUROC: a score telling the shifted images from the "
            "same images at the training degradation (1 = always higher under shift, 0.5 = "
            "blind); false alarms: the share of in-distribution images a shift score flags "
            "(above its threshold, fitted on validation tiles); flagged: the share of shifted "
            "images it flags.", detection))
        parts.append(_section(
            block, f"### Degradation shift: {dataset} ×{scale} — pixel uncertainty",
            "Means over the test images of per-image values on Y. Static: today's "
            "calibration on every image (σ-scaling and conformal factor from the validation "
            "images at the training degradation); shift-aware: the factor of an image "
            "that is flagged, or whose LR-statistics profile predicts wider intervals than "
            "95% of the validation images, follows that profile, fitted on the validation "
            "images at the other degradations, leaving out the one tested (docs/metrics.md; "
            "90% nominal coverage).", pixels))
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
