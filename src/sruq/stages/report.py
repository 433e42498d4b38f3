"""Report stage (``workflow/rules/report.smk``): the figures of a run (matplotlib and
pandas, no torch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sruq import layout
from sruq.figures import comparison_figure, heatmap_figure, metric_spread, training_figure
from sruq.io import list_images, save_figure
from sruq.metrics import border
from sruq.uncertainty.files import prediction_files, read_sigma_scale, read_uncertainty_folder
from sruq.uncertainty.plots import plot_reliability, plot_shift, plot_sparsification
from sruq.uncertainty.quality import reliability_diagram_data, sparsification_curves
from sruq.uncertainty.settings import MCSettings


def _figure_image(hr_dir: Path, dataset: str, image: str | None) -> Path:
    """The HR file of the image a figure shows (default: the dataset's first)."""
    names = [p.stem for p in list_images(Path(hr_dir))]
    image = image if image is not None else names[0]
    if image not in names:
        raise ValueError(f"figures.image: {image!r} is not an image of {dataset}")
    return Path(hr_dir) / f"{image}.png"


def result_figures(
    per_image_csv: Path, hr_dir: Path, sr_dirs: Mapping[str, Path], out_dir: Path, *,
    dataset: str, scale: int, degradation: str, image: str | None = None,
) -> list[Path]:
    """``metrics`` (per-image spread) and ``comparison`` (zoomed crops of ``image``, default
    the first test image) of one dataset x scale x degradation (PNG + PDF each)."""
    out_dir = Path(out_dir)
    per_image = pd.read_csv(per_image_csv, dtype={"image": str})
    hr_path = _figure_image(hr_dir, dataset, image)
    written = save_figure(metric_spread(per_image, dataset, scale, degradation),
                          out_dir / "metrics")
    sr = {method: Path(folder) / hr_path.name for method, folder in sr_dirs.items()}
    written += save_figure(
        comparison_figure(per_image, hr_path, sr, dataset=dataset, scale=scale,
                          degradation=degradation, image=hr_path.stem),
        out_dir / "comparison",
    )
    return written


def uncertainty_figures(
    hr_dir: Path, unc_dirs: Mapping[str, Path], out_dir: Path, *, dataset: str, scale: int,
    degradation: str, mc: Mapping[str, Any], calibrations: Mapping[str, Path] | None = None,
    channel: str = "y", crop: int | None = None, image: str | None = None,
) -> list[Path]:
    """``heatmaps`` (of ``image``, default the first test image), ``sparsification`` and
    ``reliability`` of the uncertainty sources of one dataset x scale x degradation.

    The heatmaps show each source's std times the factor in its ``calibrations`` file
    (unless ``mc.sigma_scaled`` is false) on the run's one colour scale (``mc``), beside
    its |error| on the same scale; the curves pool every pixel of every test image (on the
    metrics' channel and border crop)."""
    out_dir = Path(out_dir)
    hr_path = _figure_image(hr_dir, dataset, image)
    factors = {m: read_sigma_scale(path) for m, path in (calibrations or {}).items()}
    settings = MCSettings.from_config(mc)
    predictions = {m: prediction_files(d, hr_path.stem) for m, d in unc_dirs.items()}
    written = save_figure(
        heatmap_figure(hr_path, scale, predictions, heatmap=settings.heatmap,
                       sigma_scales=factors if settings.sigma_scaled else {},
                       title=f"{hr_path.stem}: {dataset} x{scale}, {degradation}"),
        out_dir / "heatmaps",
    )
    curves, reliability = {}, {}
    for model, folder in unc_dirs.items():
        planes = read_uncertainty_folder(folder, border(crop, scale), channel)
        std_all = np.concatenate([std.ravel() for _, _, std in planes])
        error_all = np.concatenate([error.ravel() for _, error, _ in planes])
        curves[model] = sparsification_curves(std_all, error_all)
        reliability[model] = reliability_diagram_data(std_all, error_all,
                                                      sigma_scale=factors.get(model, 1.0))
    written += plot_sparsification(curves, out_dir / "sparsification")
    written += plot_reliability(reliability, out_dir / "reliability")
    return written


def training_curves_figure(log_files: Sequence[Path], out_stem: Path) -> list[Path]:
    """Loss and validation PSNR of every trained model, in one figure (PNG + PDF); a curve's
    label is its model's folder under the models folder of the results layout."""
    models = layout.base_dir(layout.TRAINING_LOG)
    logs = {str(Path(p).parent.relative_to(models)): Path(p) for p in log_files}
    return save_figure(training_figure(logs), out_stem)


def shift_figure(shift_csv: Path, out: Path) -> list[Path]:
    """The degradation-shift figure of a run from its shift table (PNG + PDF)."""
    return plot_shift(pd.read_csv(shift_csv), out)
