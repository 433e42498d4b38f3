"""Figures of uncertainty quality: sparsification curves and reliability diagrams."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sruq.io import save_figure
from sruq.uncertainty.quality import ReliabilityData, SparsificationCurves


def plot_sparsification(
    curves_by_model: Mapping[str, SparsificationCurves], path: str | Path
) -> list[Path]:
    """Sparsification (solid) and oracle (dashed) curves per model; writes PNG and PDF."""
    fig = Figure(figsize=(5.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for i, (name, curves) in enumerate(curves_by_model.items()):
        colour = f"C{i % 10}"
        ax.plot(
            curves.fractions,
            curves.uncertainty,
            color=colour,
            label=f"{name} (AUSE {curves.ause:.4f})",
        )
        ax.plot(
            curves.fractions, curves.oracle, color=colour, linestyle="--", label=f"{name} oracle"
        )
    ax.set_xlabel("fraction of pixels removed (most uncertain first)")
    ax.set_ylabel("RMSE of remaining pixels (intensity, [0, 1])")
    ax.set_xlim(0, 1)
    ax.legend(fontsize="small")
    return save_figure(fig, Path(path).with_suffix(""))


def plot_reliability(data_by_model: Mapping[str, ReliabilityData], path: str | Path) -> list[Path]:
    """Reliability diagram: RMSE against RMS predicted std per variance bin; PNG and PDF."""
    fig = Figure(figsize=(4.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    top = 0.0
    for name, data in data_by_model.items():
        filled = data.counts > 0
        x, y = np.sqrt(data.mean_var[filled]), np.sqrt(data.mse[filled])
        ax.plot(x, y, marker="o", label=f"{name} (UCE {data.uce:.2e})")
        top = max(top, float(x.max(initial=0.0)), float(y.max(initial=0.0)))
    ax.plot([0, top], [0, top], color="grey", linestyle=":", label="perfect calibration")
    ax.set_xlabel("predicted std, RMS per bin (intensity, [0, 1])")
    ax.set_ylabel("RMSE per bin (intensity, [0, 1])")
    ax.legend(fontsize="small")
    return save_figure(fig, Path(path).with_suffix(""))
