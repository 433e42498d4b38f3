"""Report stage (``workflow/rules/report.smk``): the figures of a run and its results
viewer (matplotlib, pandas and Pillow, no torch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sruq.core import layout
from sruq.core.io import list_images, save_figure
from sruq.core.layout import split_result
from sruq.evaluation.bootstrap import DEFAULT_REFERENCE
from sruq.evaluation.metrics import border
from sruq.report.figures import comparison_figure, heatmap_figure, metric_spread, training_figure
from sruq.report.viewer import Block, site_size, write_site
from sruq.shift.calibration import row_widening
from sruq.shift.scores import short_verdict
from sruq.shift.table import result_scores
from sruq.uncertainty.files import prediction_files, read_sigma_scale, read_uncertainty_folder
from sruq.uncertainty.plots import plot_reliability, plot_shift, plot_sparsification
from sruq.uncertainty.quality import (
    ReliabilityData,
    SparsificationCurves,
    ause,
    image_mean,
    reliability_diagram_data,
    sparsification_curves,
    uce,
)
from sruq.uncertainty.settings import HeatmapSettings


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


def quality_curves(unc_dir: Path, scale: int, sigma_scale: float | None = None,
                   channel: str = "y", crop: int | None = None,
                   ) -> tuple[SparsificationCurves, ReliabilityData, dict[str, float]]:
    """The data of the sparsification and reliability figures of one uncertainty folder:
    the curves and the variance bins of the pooled pixels of all its images (on the
    metrics' channel and crop; bins after sigma scaling), and the legend numbers ``ause``,
    ``uce`` and ``uce_scaled`` (with ``sigma_scale``): the means over images of the
    per-image metrics, as the tables give them."""
    planes = read_uncertainty_folder(unc_dir, border(crop, scale), channel)
    pairs = [(std, error) for _, error, std in planes]
    std_all = np.concatenate([std.ravel() for std, _ in pairs])
    error_all = np.concatenate([error.ravel() for _, error in pairs])
    legend = {"ause": image_mean(ause, pairs), "uce": image_mean(uce, pairs)}
    if sigma_scale is not None:
        legend["uce_scaled"] = image_mean(partial(uce, sigma_scale=sigma_scale), pairs)
    return (sparsification_curves(std_all, error_all),
            reliability_diagram_data(std_all, error_all, sigma_scale=sigma_scale or 1.0),
            legend)


def uncertainty_figures(
    hr_dir: Path, unc_dirs: Mapping[str, Path], out_dir: Path, *, dataset: str, scale: int,
    degradation: str, heatmap: Mapping[str, Any], calibrations: Mapping[str, Path] | None = None,
    channel: str = "y", crop: int | None = None, image: str | None = None,
    shift_scores: Mapping[str, Path] | None = None, metrics: Mapping[str, Path] | None = None,
) -> list[Path]:
    """``heatmaps`` (of ``image``, default the first test image), ``sparsification`` and
    ``reliability`` of the uncertainty sources of one dataset x scale x degradation.
    A source with a ``shift_scores`` CSV (rule shift_score) gets its verdict on the image
    in the heatmaps' titles.

    The heatmaps show each source's std times the factor in its ``calibrations`` file
    (unless ``heatmap.sigma_scaled`` is false) and, where its uncertainty ``metrics`` CSV
    (rule uncertainty_metrics) gives the image a shift-aware interval factor above the
    static one, times that ratio too (:func:`_shift_widenings`), on the run's one colour
    scale (``heatmap``), beside
    its |error| on the same scale; the curves pool every pixel of every test image (on the
    metrics' channel and border crop), and the legends give the tables' AUSE and UCE
    (scaled): the means over images of the per-image values (:func:`quality_curves`)."""
    out_dir = Path(out_dir)
    hr_path = _figure_image(hr_dir, dataset, image)
    factors = {m: read_sigma_scale(path) for m, path in (calibrations or {}).items()}
    settings = HeatmapSettings.from_config(heatmap)
    predictions = {m: prediction_files(d, hr_path.stem) for m, d in unc_dirs.items()}
    written = save_figure(
        heatmap_figure(hr_path, scale, predictions, heatmap=settings.scale,
                       sigma_scales=factors if settings.sigma_scaled else {},
                       title=f"{hr_path.stem}: {dataset} x{scale}, {degradation}",
                       verdicts=_verdicts(shift_scores or {}, dataset, degradation,
                                          hr_path.stem),
                       widenings=(_shift_widenings(metrics or {}, hr_path.stem)
                                  if settings.sigma_scaled else {})),
        out_dir / "heatmaps",
    )
    curves, reliability, legend = {}, {}, {}
    for model, folder in unc_dirs.items():
        curves[model], reliability[model], legend[model] = quality_curves(
            folder, scale, factors.get(model), channel, crop)
        print(f"{model}: " + ", ".join(f"{k} {v:.6f}" for k, v in legend[model].items())
              + " (legend numbers: means over the test images of per-image values)")
    written += plot_sparsification(curves, {m: v["ause"] for m, v in legend.items()},
                                   out_dir / "sparsification")
    scaled = all("uce_scaled" in v for v in legend.values())
    key, label = ("uce_scaled", "UCE (scaled)") if scaled else ("uce", "UCE")
    written += plot_reliability(reliability, {m: v[key] for m, v in legend.items()},
                                out_dir / "reliability", label)
    return written


def _shift_widenings(metrics: Mapping[str, Path], image: str) -> dict[str, float]:
    """Result name -> :func:`~sruq.shift.calibration.row_widening` of ``image`` in its
    uncertainty metrics (rule uncertainty_metrics), for the results that widen it."""
    widenings = {}
    for name, path in metrics.items():
        table = pd.read_csv(path, dtype={"image": str}).set_index("image")
        if image in table.index:
            widening = row_widening(table.loc[image])
            if widening != 1.0:
                widenings[name] = widening
    return widenings


def _verdicts(shift_scores: Mapping[str, Path], dataset: str, degradation: str,
              image: str) -> dict[str, str]:
    """Result name -> the short verdict of its shift score on one image."""
    verdicts = {}
    for name, path in shift_scores.items():
        method, trained_on = split_result(name)
        scores = result_scores(path, dataset, degradation, method, trained_on or degradation)
        if image in scores:
            verdicts[name] = short_verdict(*scores[image])
    return verdicts


def training_curves_figure(log_files: Sequence[Path], out_stem: Path) -> list[Path]:
    """Loss and validation PSNR of every trained model, in one figure (PNG + PDF); a curve's
    label is its model's folder under the models folder of the results layout."""
    models = layout.base_dir(layout.TRAINING_LOG)
    logs = {str(Path(p).parent.relative_to(models)): Path(p) for p in log_files}
    return save_figure(training_figure(logs), out_stem)


def shift_figure(shift_csv: Path, out: Path) -> list[Path]:
    """The degradation-shift figure of a run from its shift table (PNG + PDF)."""
    return plot_shift(pd.read_csv(shift_csv), out)


def results_viewer(
    blocks: Sequence[Mapping[str, Any]], per_image_csv: Path, tables_dir: Path, out_dir: Path,
    *, heatmap: Mapping[str, Any], channel: str = "y", reference: str | None = None,
) -> Path:
    """The results viewer of a run (:mod:`sruq.report.viewer`) in ``out_dir``; returns its
    ``index.html``.

    ``blocks``: one mapping per dataset x scale x degradation with ``dataset``, ``scale``,
    ``degradation``, ``hr`` (the HR folder), ``sr`` (result name -> SR folder, in table
    order), ``uncertainty`` (source -> uncertainty folder) and ``calibration`` (source ->
    calibration file); the heatmaps show the std times that file's factor unless
    ``heatmap.sigma_scaled`` is false, on the run's one colour scale (``heatmap``); the tables'
    ΔPSNR column is to ``reference`` (default bicubic), as in ``results/tables``."""
    settings = HeatmapSettings.from_config(heatmap)
    shaped = []
    for b in blocks:
        factors = ({m: read_sigma_scale(path) for m, path in b.get("calibration", {}).items()}
                   if settings.sigma_scaled else {})
        shaped.append(Block(
            dataset=b["dataset"], scale=int(b["scale"]), degradation=b["degradation"],
            hr_dir=Path(b["hr"]), sr_dirs={m: Path(d) for m, d in b["sr"].items()},
            table_csv=Path(tables_dir) / f"{layout.fill(layout.BLOCK, **b)}.csv",
            unc_dirs={m: Path(d) for m, d in b.get("uncertainty", {}).items()},
            sigma_scales=factors))
    index = write_site(shaped, Path(per_image_csv), Path(out_dir), scale=settings.scale,
                       channel=channel, reference=reference or DEFAULT_REFERENCE)
    print(f"{index}: {sum(len(list_images(b.hr_dir)) for b in shaped)} image pages, "
          f"{site_size(Path(out_dir)) / 1e6:.1f} MB")
    return index
