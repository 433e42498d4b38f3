"""Figures of uncertainty quality: sparsification curves and reliability diagrams.

The curves and bins are drawn from the pooled pixels of all test images; the numbers in
the legends are the tables' (the mean over images of each image's value), passed in by
the caller (:func:`sruq.stages.report.quality_curves`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sruq.core.io import save_figure
from sruq.uncertainty.quality import ReliabilityData, SparsificationCurves


def sparsification_figure(curves_by_model: Mapping[str, SparsificationCurves],
                          ause_by_model: Mapping[str, float]) -> Figure:
    """Sparsification (solid) and oracle (dashed) curves per model, drawn from the pooled
    pixels of ``curves_by_model``; the legend gives ``ause_by_model`` (the tables' AUSE:
    the mean over images of each image's AUSE)."""
    fig = Figure(figsize=(5.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for i, (name, curves) in enumerate(curves_by_model.items()):
        colour = f"C{i % 10}"
        ax.plot(curves.fractions, curves.uncertainty, color=colour,
                label=f"{name} (AUSE {ause_by_model[name]:.4f})")
        ax.plot(
            curves.fractions, curves.oracle, color=colour, linestyle="--", label=f"{name} oracle"
        )
    ax.set_xlabel("fraction of pixels removed (most uncertain first)")
    ax.set_ylabel("RMSE of remaining pixels (intensity, [0, 1])")
    ax.set_xlim(0, 1)
    ax.legend(fontsize="small", title="curves: pooled pixels; AUSE: mean over images",
              title_fontsize="small")
    return fig


def plot_sparsification(curves_by_model: Mapping[str, SparsificationCurves],
                        ause_by_model: Mapping[str, float], path: str | Path) -> list[Path]:
    """:func:`sparsification_figure` as PNG and PDF."""
    return save_figure(sparsification_figure(curves_by_model, ause_by_model),
                       Path(path).with_suffix(""))


def reliability_figure(data_by_model: Mapping[str, ReliabilityData],
                       uce_by_model: Mapping[str, float], uce_label: str = "UCE") -> Figure:
    """Reliability diagram: RMSE against RMS predicted std per variance bin of the pooled
    pixels of ``data_by_model``; the legend gives ``uce_by_model`` (the tables' number, the
    mean over images of each image's UCE) under the name ``uce_label``."""
    fig = Figure(figsize=(4.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    top = 0.0
    for name, data in data_by_model.items():
        filled = data.counts > 0
        x, y = np.sqrt(data.mean_var[filled]), np.sqrt(data.mse[filled])
        ax.plot(x, y, marker="o", label=f"{name} ({uce_label} {uce_by_model[name]:.2e})")
        top = max(top, float(x.max(initial=0.0)), float(y.max(initial=0.0)))
    ax.plot([0, top], [0, top], color="grey", linestyle=":", label="perfect calibration")
    ax.set_xlabel("predicted std, RMS per bin (intensity, [0, 1])")
    ax.set_ylabel("RMSE per bin (intensity, [0, 1])")
    ax.legend(fontsize="small", title=f"bins: pooled pixels; {uce_label}: mean over images",
              title_fontsize="small")
    return fig


def plot_reliability(data_by_model: Mapping[str, ReliabilityData],
                     uce_by_model: Mapping[str, float], path: str | Path,
                     uce_label: str = "UCE") -> list[Path]:
    """:func:`reliability_figure` as PNG and PDF."""
    return save_figure(reliability_figure(data_by_model, uce_by_model, uce_label),
                       Path(path).with_suffix(""))


MARKERS = "osD^v<>"
"""Markers of the shift figure's datasets (the colour is the method's)."""


def shift_figure(table: pd.DataFrame, metrics: Mapping[str, str] | None = None) -> Figure:
    """The shift table (:func:`sruq.shift.table.shift_table`) as one panel per metric against the
    test degradation, a line per dataset x scale x method x training degradation (colour:
    the method, marker: the dataset; the in-distribution point drawn filled)."""
    metrics = dict(metrics or {"psnr": "PSNR (dB)", "spearman": "Spearman",
                               "coverage_static": "90% coverage, static",
                               "coverage": "90% coverage, shift-aware",
                               "auroc_mean_std": "shift AUROC: mean std",
                               "auroc_lr_statistics": "shift AUROC: lr-statistics",
                               "auroc_features": "shift AUROC: features"})
    shown = {m: label for m, label in metrics.items()
             if m in table.columns and table[m].notna().any()}
    degradations = list(dict.fromkeys(table["degradation"]))
    methods = list(dict.fromkeys(table["method"]))
    datasets = list(dict.fromkeys(table["dataset"]))
    ncols = min(4, len(shown))
    nrows = -(-len(shown) // ncols)
    fig = Figure(figsize=(3.3 * ncols, 3.0 * nrows + 1.0), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    groups = table.groupby(["dataset", "scale", "method", "trained_on"], sort=False)
    for (dataset, scale, method, trained_on), rows in groups:
        x = [degradations.index(d) for d in rows["degradation"]]
        label = f"{method} (trained on {trained_on}), {dataset} x{scale}"
        color = f"C{methods.index(method) % 10}"
        marker = MARKERS[datasets.index(dataset) % len(MARKERS)]
        for ax, metric in zip(axes, shown, strict=False):
            ax.plot(x, rows[metric], marker=marker, color=color, label=label,
                    markerfacecolor="none")
            home = rows["degradation"] == trained_on
            ax.plot(np.array(x)[home.to_numpy()], rows[metric][home], marker, color=color)
    for ax, (metric, label) in zip(axes, shown.items(), strict=False):
        ax.set_xticks(range(len(degradations)), degradations, rotation=30, ha="right")
        ax.set_xlabel("test degradation")
        ax.set_title(label)
        if metric.startswith("auroc"):
            ax.axhline(0.5, color="grey", linestyle=":")
            ax.set_ylim(-0.02, 1.02)
        if metric.startswith("coverage"):
            ax.axhline(0.9, color="grey", linestyle=":")
            ax.set_ylim(-0.02, 1.02)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", fontsize="small",
               ncols=min(3, len(names)), title="filled: the training degradation")
    return fig


def plot_shift(table: pd.DataFrame, path: str | Path,
               metrics: Mapping[str, str] | None = None) -> list[Path]:
    """:func:`shift_figure` as PNG and PDF."""
    return save_figure(shift_figure(table, metrics), Path(path).with_suffix(""))
