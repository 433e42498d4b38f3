"""The tidy per-image metrics table and the comparison tables built from it.

Every step that measures something writes a per-image CSV with the key columns
``dataset, scale, degradation, method, image`` (any order) and numeric metric columns
(PSNR/SSIM from :mod:`sruq.evaluation.folders`, LPIPS, the uncertainty metrics...).  :func:`collect`
merges them into one row per image and method: a metric a method lacks is NaN there.

From that table come ``summary.csv`` (mean and std over images of every metric),
``summary.md`` (an overview of PSNR/SSIM, methods x dataset/scale) and, for every
dataset x scale x degradation, a comparison table (method | PSNR | ΔPSNR to a reference
with its paired-bootstrap 95% interval (:mod:`sruq.evaluation.bootstrap`) | SSIM | LPIPS |
Spearman | AUSE | UCE ...; only the metrics present) as CSV, Markdown and LaTeX with the best value
per column in bold (how each metric is shown: :mod:`sruq.report.table_cells`).  This module
needs only pandas (no torch), so tables are cheap to regenerate from the CSVs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd
from pandas.api.types import is_numeric_dtype

from sruq.core.io import write_csv, write_text
from sruq.core.layout import BLOCK, TRAINED_ON, fill, result_label
from sruq.evaluation.bootstrap import DEFAULT_REFERENCE, DEFAULT_SAMPLES, with_differences
from sruq.report.table_cells import METRICS, Cell, column_cells, interval_cells, number
from sruq.report.table_cells import Metric as Metric  # re-exported: how a metric is shown
from sruq.shift.table import SHIFT_FILES, write_shift

KEYS = ["dataset", "scale", "degradation", "method", "trained_on"]
"""A row's key: ``trained_on`` is the degradation a method was trained on (``-``: none)."""
IMAGE_KEYS = [*KEYS, "image"]


def read_metrics(path: Path) -> pd.DataFrame:
    """One per-image metrics CSV; key columns as text (image ``0801`` stays ``0801``)."""
    text_keys = {key: str for key in IMAGE_KEYS if key != "scale"}
    frame = pd.read_csv(path, dtype=text_keys)
    missing = [key for key in IMAGE_KEYS if key not in frame.columns]
    if missing:
        raise ValueError(f"{path}: metrics table lacks the key column {missing[0]!r}")
    for column in frame.columns.difference(IMAGE_KEYS):
        if not is_numeric_dtype(frame[column]):
            raise ValueError(f"{path}: metric column {column!r} is not numeric")
    return frame.astype({"scale": int})


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The non-key columns: known metrics in :data:`METRICS` order, then the others."""
    others = [c for c in frame.columns if c not in IMAGE_KEYS and c not in METRICS]
    return [m for m in METRICS if m in frame.columns] + others


def collect(paths: Sequence[Path]) -> pd.DataFrame:
    """Merge per-image metric CSVs into one tidy table, one row per image and method.

    Rows keep the order in which their keys first appear; a metric that no file gives
    for a row is NaN.  The same metric for the same row in two files is an error.
    """
    if not paths:
        raise ValueError("metric_csvs is empty: no per-image metrics table to collect")
    frames = [read_metrics(path) for path in paths]
    long = pd.concat(
        [
            frame.melt(id_vars=IMAGE_KEYS, var_name="metric", value_name="value")
            .assign(source=str(path))
            for frame, path in zip(frames, paths)
        ],
        ignore_index=True,
    )
    long = long[long["value"].notna()]
    clash = long.duplicated([*IMAGE_KEYS, "metric"], keep=False)
    if clash.any():
        first = long[clash].iloc[0]
        files = sorted(set(long[clash & (long["metric"] == first["metric"])]["source"]))
        raise ValueError(
            f"metric {first['metric']!r} for {first['method']} on {first['dataset']} "
            f"x{first['scale']} {first['degradation']} image {first['image']} comes from "
            f"more than one row ({', '.join(files)})"
        )
    keys = pd.concat([frame[IMAGE_KEYS] for frame in frames], ignore_index=True)
    wide = long.pivot(index=IMAGE_KEYS, columns="metric", values="value").reset_index()
    table = keys.drop_duplicates().merge(wide, on=IMAGE_KEYS, how="left")
    names = dict.fromkeys(c for frame in frames for c in frame.columns if c not in IMAGE_KEYS)
    table = table.reindex(columns=[*IMAGE_KEYS, *names])  # all-NaN metrics stay as columns
    return table[IMAGE_KEYS + metric_columns(table)].reset_index(drop=True)


def summarise(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per dataset/scale/degradation/method: image count, then mean and std of every metric.

    The std is the sample standard deviation over images (NaN for a single image); NaN
    values (a metric a method does not have) are left out of both.
    """
    aggregations: dict[str, tuple[str, str]] = {"images": ("image", "count")}
    for metric in metric_columns(per_image):
        aggregations[metric] = (metric, "mean")
        aggregations[f"{metric}_std"] = (metric, "std")
    return per_image.groupby(KEYS, sort=False).agg(**aggregations).reset_index()


def combinations(summary: pd.DataFrame) -> list[tuple[str, int, str]]:
    """The (dataset, scale, degradation) triples of a summary, in order of appearance."""
    triples = zip(summary["dataset"], summary["scale"], summary["degradation"])
    return list(dict.fromkeys((str(d), int(s), str(g)) for d, s, g in triples))


def comparison_stem(dataset: str, scale: int, degradation: str) -> str:
    """File stem of one comparison table: ``<dataset>_x<scale>_<degradation>``."""
    return fill(BLOCK, dataset=dataset, scale=scale, degradation=degradation)


PER_IMAGE = "per_image.csv"
SUMMARY_FILES = (PER_IMAGE, "summary.csv", "summary.md")
COMPARISON_SUFFIXES = (".csv", ".md", ".tex")


def table_files(out_dir: Path, triples: Iterable[tuple[str, int, str]],
                shifted: bool = False) -> list[Path]:
    """Every file :func:`write_tables` writes for these (dataset, scale, degradation), and
    the shift table when some results are ``shifted``."""
    out_dir = Path(out_dir)
    files = [out_dir / name for name in SUMMARY_FILES]
    files += [out_dir / name for name in SHIFT_FILES] if shifted else []
    for triple in triples:
        stem = comparison_stem(*triple)
        files += [out_dir / f"{stem}{suffix}" for suffix in COMPARISON_SUFFIXES]
    return files


def comparison_block(summary: pd.DataFrame, dataset: str, scale: int,
                     degradation: str) -> pd.DataFrame:
    """The summary rows of one dataset x scale x degradation, methods in input order."""
    rows = summary[
        (summary["dataset"] == dataset) & (summary["scale"] == scale)
        & (summary["degradation"] == degradation)
    ]
    if rows.empty:
        raise ValueError(f"no metrics for dataset {dataset!r} x{scale} {degradation!r}")
    return rows.reset_index(drop=True)


def shown_metrics(block: pd.DataFrame) -> list[str]:
    """Known metrics with at least one value in ``block``, in :data:`METRICS` order."""
    return [m for m in METRICS if m in block.columns and block[m].notna().any()]


def _has_differences(block: pd.DataFrame, reference: str | None) -> bool:
    return reference is not None and "dpsnr" in block.columns and block["dpsnr"].notna().any()


def _difference_note(block: pd.DataFrame, reference: str | None) -> str:
    """What the ΔPSNR column is, when the block has it (Markdown; LaTeX after replacing)."""
    if not _has_differences(block, reference):
        return ""
    return (f" ΔPSNR: mean over the images of each image's PSNR minus {reference}'s, with its "
            "95% paired-bootstrap interval.")


def columns(block: pd.DataFrame, reference: str | None, tex: bool = False,
            ) -> list[tuple[str, list[Cell]]]:
    """``(header, cells)`` of every column shown: the metrics with values, and after the
    PSNR the difference to ``reference`` with its interval when the block has one."""
    metrics = shown_metrics(block)
    arrows = ({True: r"$\uparrow$", False: r"$\downarrow$", None: ""} if tex
              else {True: "↑", False: "↓", None: ""})
    text = tex_escape if tex else _md_escape
    shown = [(f"{text(METRICS[m].label)} {arrows[METRICS[m].higher_is_better]}".strip(),
              column_cells(block, m)) for m in metrics]
    if _has_differences(block, reference):
        delta, ci = (r"$\Delta$PSNR", r"[95\% CI]") if tex else ("ΔPSNR", "[95% CI]")
        shown.insert(int("psnr" in metrics),
                     (f"{delta} vs {text(reference)} {ci}", interval_cells(block)))
    return shown


def labels(block: pd.DataFrame) -> list[str]:
    """Row names: the method, ``method@T`` for one trained on another degradation T."""
    return [result_label(str(m), str(t), str(d)) for m, t, d in
            zip(block["method"], block["trained_on"], block["degradation"], strict=True)]


def _shift_note(block: pd.DataFrame) -> list[str]:
    """A line saying what ``method@T`` means, when the block has such rows."""
    if any(TRAINED_ON in label for label in labels(block)):
        return ["", "method@T: trained on degradation T, tested on this table's (shifted)."]
    return []


def _images_note(block: pd.DataFrame) -> str:
    low, high = int(block["images"].min()), int(block["images"].max())
    count = f"{low}" if low == high else f"{low}-{high}"
    return f"mean ± std over {count} image{'' if high == 1 else 's'}"


def _title(dataset: str, scale: int, degradation: str) -> str:
    return f"{dataset} ×{scale}, degradation {degradation}"


# --- Markdown ----------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\|*_`\[\]<>])")


def _md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_cell(cell: Cell) -> str:
    if cell.mean is None:
        return "–"
    text = cell.mean if cell.std is None else f"{cell.mean} ± {cell.std}"
    text += f" [{', '.join(cell.interval)}]" if cell.interval else ""
    return f"**{text}**" if cell.bold else text


def comparison_markdown(block: pd.DataFrame, note: str | None = None,
                        reference: str | None = None) -> str:
    """A Markdown comparison table of one dataset x scale x degradation block; ``note``
    (e.g. that the test set also served for model selection) is printed above it; with
    ``reference``, the ΔPSNR column (:func:`sruq.evaluation.bootstrap.with_differences`)
    after PSNR."""
    dataset, scale, degradation = combinations(block)[0]
    shown = columns(block, reference)
    header = ["Method"] + [name for name, _ in shown]
    lines = [
        f"### {_md_escape(_title(dataset, scale, degradation))}",
        "",
        f"{_images_note(block)}; best in bold; ↑ higher is better, ↓ lower is better."
        + _md_escape(_difference_note(block, reference)),
        *(["", f"Note: {_md_escape(note)}."] if note else []),
        *_shift_note(block),
        "",
        "| " + " | ".join(header) + " |",
        "|:---|" + "---:|" * len(shown),
    ]
    for i, label in enumerate(labels(block)):
        cells = [_md_cell(column[i]) for _, column in shown]
        lines.append("| " + " | ".join([_md_escape(label), *cells]) + " |")
    return "\n".join(lines) + "\n"


# --- LaTeX -------------------------------------------------------------------------------

_TEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped for use in running text."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def _tex_cell(cell: Cell) -> str:
    if cell.mean is None:
        return "--"
    body = cell.mean if cell.std is None else f"{cell.mean} \\pm {cell.std}"
    body += f"\\ [{', '.join(cell.interval)}]" if cell.interval else ""
    body = body.replace("inf", r"\infty")
    return f"$\\mathbf{{{body}}}$" if cell.bold else f"${body}$"


def comparison_latex(block: pd.DataFrame, note: str | None = None,
                     reference: str | None = None) -> str:
    """A booktabs ``table`` of one block (needs ``\\usepackage{booktabs}``); ``note``
    ends the caption; ``reference`` as for :func:`comparison_markdown`."""
    dataset, scale, degradation = combinations(block)[0]
    shown = columns(block, reference, tex=True)
    header = ["Method"] + [name for name, _ in shown]
    label = re.sub(r"[^A-Za-z0-9]+", "-", comparison_stem(dataset, scale, degradation)).strip("-")
    images = _images_note(block).replace("±", r"$\pm$")
    caption = (
        f"{tex_escape(dataset)} $\\times{scale}$, degradation {tex_escape(degradation)}: "
        f"{images}; best in bold."
    ) + tex_escape(_difference_note(block, reference)).replace("Δ", r"$\Delta$") + (
        f" Note: {tex_escape(note)}." if note else "")
    lines = [
        "% Generated by sruq.tables; needs \\usepackage{booktabs}.",
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{caption}}}",
        f"\\label{{tab:{label}}}",
        f"\\begin{{tabular}}{{l{'c' * len(shown)}}}",
        "\\toprule",
        " & ".join(header) + r" \\",
        "\\midrule",
    ]
    for i, label in enumerate(labels(block)):
        cells = [_tex_cell(column[i]) for _, column in shown]
        lines.append(" & ".join([tex_escape(label), *cells]) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


# --- overview ----------------------------------------------------------------------------


def overview_markdown(summary: pd.DataFrame) -> str:
    """One Markdown table per degradation: methods as rows, dataset x scale as columns."""
    parts = []
    for degradation, block in summary.groupby("degradation", sort=False):
        block = block.assign(
            method=labels(block),
            column=block["dataset"] + " x" + block["scale"].astype(str),
            cell=block["psnr"].map(lambda v: number(v, 2)) + " / "
            + block["ssim"].map(lambda v: number(v, 4)),
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


# --- files -------------------------------------------------------------------------------


def write_summary(metric_csvs: Sequence[Path], per_image_out: Path, csv_out: Path,
                  md_out: Path) -> pd.DataFrame:
    """Write the tidy per-image table, the aggregated CSV and the Markdown overview."""
    per_image = collect(metric_csvs)
    summary = summarise(per_image)
    write_csv(per_image, per_image_out)
    write_csv(summary, csv_out)
    write_text(md_out, overview_markdown(summary))
    return summary


def write_comparison(summary: pd.DataFrame, dataset: str, scale: int, degradation: str,
                     out_dir: Path, note: str | None = None, per_image: pd.DataFrame | None = None,
                     reference: str = DEFAULT_REFERENCE, samples: int = DEFAULT_SAMPLES,
                     seed: int = 0) -> list[Path]:
    """Write ``<dataset>_x<scale>_<degradation>.{csv,md,tex}`` for one block, with the
    ΔPSNR to ``reference`` (``dpsnr``, ``dpsnr_low``, ``dpsnr_high``: the paired bootstrap
    of :mod:`sruq.evaluation.bootstrap`) when ``per_image`` is given."""
    block = comparison_block(summary, dataset, scale, degradation)
    if per_image is not None:
        images = comparison_block(per_image, dataset, scale, degradation)
        block = with_differences(block, labels(block), images.assign(label=labels(images)),
                                 reference, samples, seed, (dataset, str(scale), degradation))
    stem = Path(out_dir) / comparison_stem(dataset, scale, degradation)
    paths = [stem.with_name(stem.name + suffix) for suffix in COMPARISON_SUFFIXES]
    write_csv(block, paths[0])
    write_text(paths[1], comparison_markdown(block, note, reference))
    write_text(paths[2], comparison_latex(block, note, reference))
    return paths


def write_tables(metric_csvs: Sequence[Path], out_dir: Path,
                 notes: Mapping[str, str] | None = None, reference: str | None = None,
                 samples: int = DEFAULT_SAMPLES, seed: int = 0) -> list[Path]:
    """All tables from per-image metric CSVs; returns the files written; ``notes`` by
    dataset go above its comparison tables; ΔPSNR to ``reference`` (default bicubic) with
    ``samples`` bootstrap resamples drawn from ``seed``.

    That is ``table_files(out_dir, triples)`` for the (dataset, scale, degradation)
    triples found in the data: ``per_image.csv``, ``summary.csv``, ``summary.md`` and
    ``<dataset>_x<scale>_<degradation>.{csv,md,tex}`` for each triple (and
    ``shift.{csv,md}`` when some results come from another training degradation).
    """
    out_dir = Path(out_dir)
    paths = [out_dir / name for name in SUMMARY_FILES]
    summary = write_summary(metric_csvs, *paths)
    per_image = read_metrics(paths[0])
    paths += write_shift(per_image, out_dir)
    for triple in combinations(summary):
        paths += write_comparison(summary, *triple, out_dir, (notes or {}).get(triple[0]),
                                  per_image, reference or DEFAULT_REFERENCE, samples, seed)
    return paths
