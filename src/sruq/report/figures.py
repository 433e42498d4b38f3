"""Figures of the results: metric spread, visual comparison, heatmap grid, training curves.

Each builder returns a :class:`matplotlib.figure.Figure` (object-oriented matplotlib with
the Agg canvas: no pyplot state, no display needed) so tests can inspect it;
:func:`save_figure` writes it as PNG and PDF, atomically and byte-for-byte reproducibly.
Sparsification curves and reliability diagrams live in :mod:`sruq.uncertainty`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from sruq.core.images import modcrop
from sruq.core.io import atomic_path, read_image
from sruq.core.layout import result_label
from sruq.report.tables import METRICS
from sruq.shift.scores import UNLIKE
from sruq.uncertainty.heatmaps import DEFAULT_SCALE, HeatmapScale

Box = tuple[int, int, int, int]
"""A crop as ``(top, left, height, width)`` in pixels."""

MAX_NAMED_IMAGES = 12
"""Up to this many images get their own colour and a legend entry in the spread plot."""


def _block(per_image: pd.DataFrame, dataset: str, scale: int, degradation: str) -> pd.DataFrame:
    rows = per_image[
        (per_image["dataset"] == dataset) & (per_image["scale"] == scale)
        & (per_image["degradation"] == degradation)
    ]
    if rows.empty:
        raise ValueError(f"no per-image metrics for dataset {dataset!r} x{scale} {degradation!r}")
    if "trained_on" in rows.columns:  # a result trained on another degradation: method@T
        names = [result_label(m, t, degradation)
                 for m, t in zip(rows["method"], rows["trained_on"], strict=True)]
        rows = rows.assign(method=names)
    return rows


def _title(dataset: str, scale: int, degradation: str) -> str:
    return f"{dataset} ×{scale}, degradation {degradation}"


# --- metric spread -----------------------------------------------------------------------


def metric_spread(
    per_image: pd.DataFrame, dataset: str, scale: int, degradation: str,
    metrics: Sequence[str] | None = None,
) -> Figure:
    """Per-method box plots of per-image metrics with every image drawn as a point.

    ``metrics`` defaults to PSNR, SSIM and LPIPS, those with values.  With up to
    :data:`MAX_NAMED_IMAGES` images each image has its own colour and its points are
    joined across methods, so a method that helps one image and hurts another shows.
    Non-finite values (PSNR of an exact copy) are left out.
    """
    rows = _block(per_image, dataset, scale, degradation)
    if metrics is None:
        metrics = [m for m in ("psnr", "ssim", "lpips") if m in rows and rows[m].notna().any()]
    unknown = [m for m in metrics if m not in METRICS or m not in rows]
    if unknown or not metrics:
        raise ValueError(f"metrics: {unknown[0] if unknown else 'none'!r} cannot be plotted")
    methods = list(dict.fromkeys(rows["method"]))
    images = list(dict.fromkeys(rows["image"]))
    named = len(images) <= MAX_NAMED_IMAGES
    colours = [f"C{k % 10}" for k in range(len(images))] if named else ["0.35"] * len(images)
    width = 1.2 + 0.55 * max(len(methods), 3)
    fig = Figure(figsize=(width * len(metrics) + (1.6 if named else 0), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    table = rows.set_index(["method", "image"])
    x = np.arange(len(methods))
    offsets = np.linspace(-0.18, 0.18, len(images)) if len(images) > 1 else np.zeros(1)
    for ax, metric in zip(axes, metrics):
        spec = METRICS[metric]
        values = table[metric].unstack("image").reindex(index=methods, columns=images)
        values = values.where(np.isfinite(values))
        boxes = [col.dropna().to_numpy() for _, col in values.iterrows()]
        ax.boxplot(boxes, positions=x, widths=0.6, showfliers=False, patch_artist=True,
                   boxprops={"facecolor": "0.92", "edgecolor": "0.5"},
                   medianprops={"color": "0.2"}, whiskerprops={"color": "0.5"},
                   capprops={"color": "0.5"})
        for k, image in enumerate(images):
            style = {"lw": 0.7, "alpha": 0.8} if named else {"ls": "none", "alpha": 0.5}
            ax.plot(x + offsets[k], values[image].to_numpy(), marker="o", ms=4,
                    color=colours[k], **style)
        ax.set_xticks(x, methods, rotation=30, ha="right")
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.set_xlabel("method")
        ax.set_ylabel(f"{spec.label} {spec.arrow}")
        better = "higher" if spec.higher_is_better else "lower"
        ax.set_title(f"{spec.label.split(' ')[0]} per image ({better} is better)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    if named:
        handles = [Line2D([], [], color=c, marker="o", ms=4, lw=0.7) for c in colours]
        fig.legend(handles, images, title="image", loc="outside right upper", fontsize=8)
    fig.suptitle(f"{_title(dataset, scale, degradation)}: {len(images)} images")
    return fig


# --- visual comparison -------------------------------------------------------------------


def _grey(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image, dtype=np.float64)
    return arr.mean(axis=-1) if arr.ndim == 3 else arr


def _check_box(box: Box, shape: tuple[int, ...]) -> Box:
    top, left, height, width = (int(v) for v in box)
    if height < 1 or width < 1 or top < 0 or left < 0 or top + height > shape[0] \
            or left + width > shape[1]:
        raise ValueError(f"box {box} (top, left, height, width) is not inside {shape[:2]}")
    return top, left, height, width


def pick_crop(hr: np.ndarray, outputs: Mapping[str, np.ndarray], size: int,
              border: int = 0) -> Box:
    """The ``size`` x ``size`` window where HR and the outputs differ most.

    Score: the sum over the window of the per-pixel variance (grey levels) across HR and
    every output, so it finds where methods disagree or all miss the HR detail.
    ``border`` pixels at each edge are avoided; the first maximum wins (deterministic).
    """
    stack = np.stack([_grey(hr)] + [_grey(o) for o in outputs.values()])
    height, width = stack.shape[1:]
    if size < 1 or size + 2 * border > min(height, width):
        raise ValueError(f"crop size {size} (+ border {border}) does not fit {height}x{width}")
    spread = stack.var(axis=0)[border:height - border, border:width - border]
    integral = np.pad(spread.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size]
            + integral[:-size, :-size])
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top) + border, int(left) + border, size, size


def _show(ax, image: np.ndarray) -> None:
    """An 8-bit image at its own pixels (greyscale with a fixed 0..255 grey scale)."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    kwargs = {"cmap": "gray", "vmin": 0, "vmax": 255} if arr.ndim == 2 else {}
    ax.imshow(arr, interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])


def comparison_grid(
    hr: np.ndarray, outputs: Mapping[str, np.ndarray], psnr: Mapping[str, float],
    *, box: Box | None = None, crop_size: int | None = None, border: int = 0,
    title: str = "",
) -> Figure:
    """The whole HR image with the crop marked, then the crop of HR and of every output.

    ``outputs`` maps a method to its SR image (same size as ``hr``; ``bicubic`` is shown
    first); ``psnr`` gives each method's whole-image PSNR for its caption (the best in
    bold).  Without ``box`` the crop is :func:`pick_crop` with ``crop_size`` (default a
    quarter of the shorter side, at least 16 pixels).
    """
    if not outputs:
        raise ValueError("outputs is empty: no method to compare")
    for method, image in outputs.items():
        if image.shape != hr.shape:
            raise ValueError(f"outputs[{method!r}] is {image.shape}, HR is {hr.shape}")
    missing = [m for m in outputs if m not in psnr]
    if missing:
        raise ValueError(f"psnr has no value for method {missing[0]!r}")
    if box is None:
        size = crop_size or max(16, min(hr.shape[:2]) // 4)
        box = pick_crop(hr, outputs, size, border)
    top, left, height, width = _check_box(box, hr.shape)
    order = sorted(outputs, key=lambda m: m != "bicubic")  # stable: bicubic, then as given
    panels = [("HR", hr, "reference")] + [(m, outputs[m], f"{psnr[m]:.2f} dB") for m in order]
    best = max(psnr[m] for m in outputs)
    rows = 1 if len(panels) <= 4 else 2
    cols = math.ceil(len(panels) / rows)
    aspect = hr.shape[1] / hr.shape[0]
    panel = 1.9
    fig = Figure(figsize=(panel * (cols + rows * aspect), panel * rows + 0.7), layout="constrained")
    grid = fig.add_gridspec(rows, cols + 1, width_ratios=[rows * aspect] + [1] * cols)
    overview = fig.add_subplot(grid[:, 0])
    _show(overview, hr)
    overview.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False,
                                 edgecolor="red", lw=1.5))
    overview.set_title(f"HR, red box {height}×{width} px\nat row {top}, col {left}", fontsize=9)
    for i, (name, image, caption) in enumerate(panels):
        ax = fig.add_subplot(grid[i // cols, 1 + i % cols])
        _show(ax, image[top:top + height, left:left + width])
        bold = name != "HR" and psnr[name] == best and len(outputs) > 1
        ax.set_title(f"{name}\n{caption}", fontsize=9, fontweight="bold" if bold else "normal")
    if title:
        fig.suptitle(title)
    return fig


def comparison_figure(
    per_image: pd.DataFrame, hr_path: Path, sr_paths: Mapping[str, Path], *, dataset: str,
    scale: int, degradation: str, image: str, box: Box | None = None,
    crop_size: int | None = None,
) -> Figure:
    """:func:`comparison_grid` from files: the HR image (mod-cropped to ``scale``), the SR
    PNGs of each method and their whole-image PSNR from the per-image metrics table."""
    hr = modcrop(read_image(hr_path), scale)
    outputs = {method: read_image(path) for method, path in sr_paths.items()}
    rows = _block(per_image, dataset, scale, degradation)
    rows = rows[rows["image"].astype(str) == image].set_index("method")
    missing = [m for m in outputs if m not in rows.index]
    if missing:
        raise ValueError(f"per_image has no PSNR of {missing[0]!r} on image {image!r}")
    psnr = {m: float(rows.loc[m, "psnr"]) for m in outputs}
    title = f"{image}: {_title(dataset, scale, degradation)} (captions: whole-image PSNR)"
    return comparison_grid(hr, outputs, psnr, box=box, crop_size=crop_size, border=scale,
                           title=title)


# --- heatmaps ----------------------------------------------------------------------------


def _unit_float(image: np.ndarray, name: str) -> np.ndarray:
    """``(H, W)``/``(H, W, C)`` uint8 or float in [0, 1] -> float64 ``(H, W, C)``."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"{name} must be (H, W) or (H, W, C), got shape {arr.shape}")
    return arr / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)


def _std_plane(std: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    """A std map ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` -> ``(H, W)`` (channel mean)."""
    arr = np.asarray(std, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[1:] == shape:
        arr = arr.mean(axis=0)
    elif arr.ndim == 3 and arr.shape[:2] == shape:
        arr = arr.mean(axis=2)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {np.shape(std)}, expected {shape} (+ channels)")
    return arr


MIN_PANEL = 2.2
"""Narrowest panel of :func:`heatmap_grid` (inches): room for an 8-point title line."""


def heatmap_grid(
    hr: np.ndarray, predictions: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
    heatmap: HeatmapScale = DEFAULT_SCALE, sigma_scales: Mapping[str, float] | None = None,
    box: Box | None = None, title: str = "", verdicts: Mapping[str, str] | None = None,
    widenings: Mapping[str, float] | None = None,
) -> Figure:
    """One row per model: mean prediction, |error| against HR and the per-pixel std.

    ``predictions`` maps a model to ``(mean, std)``: the mean prediction (uint8 or float in
    [0, 1], ``(H, W[, C])``) and its std map (``(H, W)``, ``(C, H, W)`` or ``(H, W, C)``,
    intensity units).  Colour channels are averaged for |error| and std.  The std of a model
    is shown times its ``sigma_scales`` factor (sigma scaling fitted on validation images;
    default 1) and, where a model has one, its ``widenings`` factor: the shift-aware
    widening of this image (its interval factor over the static one, where the image is
    flagged or past the gate; docs/metrics.md), so that the map shows the std whose intervals
    the tables score.  Both maps use the one colour scale ``heatmap`` shared by every row, so a
    reader compares the predicted std with the error it predicts; an arrow end on the
    colour bar means values beyond it were clipped.  ``box`` crops every panel.  A model's
    ``verdicts`` entry (the shift score's verdict on this image) goes under its mean panel's
    title.  Panels are at least :data:`MIN_PANEL` inches wide and titles wrap onto two
    lines, so they stay readable for any aspect ratio (a portrait image gets taller rows).
    """
    if not predictions:
        raise ValueError("predictions is empty: no model to show")
    factors = dict(sigma_scales or {})
    reference = _unit_float(hr, "hr")
    shape = reference.shape[:2]
    top, left, height, width = _check_box(box or (0, 0, *shape), reference.shape)
    window = (slice(top, top + height), slice(left, left + width))
    rows = []
    for model, (mean, std) in predictions.items():
        pred = _unit_float(mean, f"mean of {model!r}")
        if pred.shape[:2] != shape:
            raise ValueError(f"mean of {model!r} is {pred.shape[:2]}, HR is {shape}")
        error = np.abs(pred - reference).mean(axis=2)
        factor = float(factors.get(model, 1.0))
        widening = float((widenings or {}).get(model, 1.0))
        plane = factor * widening * _std_plane(std, shape, f"std of {model!r}")[window]
        rows.append((model, pred[window], error[window], plane, factor, widening))
    aspect = width / height
    panel_w = max(MIN_PANEL, 2.6 * aspect)
    panel_h = panel_w / aspect
    fig = Figure(figsize=(3 * panel_w + 0.6, (panel_h + 0.7) * len(rows) + 1.4),
                 layout="constrained")
    axes = fig.subplots(len(rows), 3, squeeze=False)
    norm, cmap = heatmap.normalize(), heatmap.colormap()
    for r, (model, pred, error, std, factor, widening) in enumerate(rows):
        ax_mean, ax_err, ax_std = axes[r]
        _show(ax_mean, np.clip(np.floor(pred * 255 + 0.5), 0, 255).astype(np.uint8))
        ax_err.imshow(error, cmap=cmap, norm=norm, interpolation="nearest")
        ax_std.imshow(std, cmap=cmap, norm=norm, interpolation="nearest")
        for ax in (ax_err, ax_std):
            ax.set_xticks([])
            ax.set_yticks([])
        ax_mean.set_ylabel(model, fontsize=11)
        verdict = (verdicts or {}).get(model)
        ax_mean.set_title("mean prediction" + (f"\n{verdict}" if verdict else ""), fontsize=8,
                          color="C3" if verdict and verdict.startswith(UNLIKE) else "black")
        ax_err.set_title(f"|error|\nmean {error.mean():.4f}", fontsize=8)
        scaled = f"std x {factor:.3g} (sigma-scaled)" if factor != 1.0 else "std"
        if widening != 1.0:
            scaled += f"\nx {widening:.3g} (shift-aware)"
        ax_std.set_title(f"{scaled}\nmean {std.mean():.4f}", fontsize=8)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes[:, 1:].ravel()),
                 location="bottom", shrink=0.6, aspect=30, extend=heatmap.extend(),
                 label=f"|error| and per-pixel std (0..1 intensity, {heatmap.norm} scale)")
    if title:
        fig.suptitle(title)
    return fig


def read_prediction(path: Path) -> np.ndarray:
    """A mean prediction (an image file, or a float ``.npy`` in [0, 1]) or a ``.npy`` std map."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False)
    return read_image(path)


def heatmap_figure(
    hr_path: Path, scale: int, predictions: Mapping[str, tuple[Path, Path]], **kwargs,
) -> Figure:
    """:func:`heatmap_grid` from files: the HR image (mod-cropped to ``scale``) and, per
    model, its mean prediction (PNG or ``.npy``) and std map (``.npy``)."""
    hr = modcrop(read_image(hr_path), scale)
    arrays = {m: (read_prediction(mean), read_prediction(std))
              for m, (mean, std) in predictions.items()}
    return heatmap_grid(hr, arrays, **kwargs)


# --- training curves ---------------------------------------------------------------------

LOG_COLUMNS = ("iteration", "loss")


def read_training_log(path: Path) -> pd.DataFrame:
    """A trainer's ``log.csv`` (needs ``iteration`` and ``loss``; ``valid_psnr`` optional)."""
    frame = pd.read_csv(path)
    missing = [c for c in LOG_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: training log lacks the column {missing[0]!r}")
    return frame


def training_curves(logs: Mapping[str, pd.DataFrame]) -> Figure:
    """Training loss (log scale when positive) and validation PSNR vs iteration per model."""
    if not logs:
        raise ValueError("logs is empty: no training log to plot")
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_loss, ax_psnr = fig.subplots(1, 2, sharex=True)
    positive = True
    validated = False
    palette = matplotlib.colormaps["tab10" if len(logs) <= 10 else "tab20"]
    if len(logs) > 20:
        palette = matplotlib.colormaps["turbo"].resampled(len(logs))
    for k, (model, log) in enumerate(logs.items()):
        colour = palette(k)
        loss = log[["iteration", "loss"]].dropna()
        positive &= bool((loss["loss"] > 0).all())
        ax_loss.plot(loss["iteration"], loss["loss"], color=colour, lw=1, label=model)
        if "valid_psnr" in log:
            valid = log[["iteration", "valid_psnr"]].dropna()
            validated |= not valid.empty
            ax_psnr.plot(valid["iteration"], valid["valid_psnr"], color=colour, marker="o",
                         ms=3, lw=1, label=model)
    if positive:
        ax_loss.set_yscale("log")
    ax_loss.set_title("training loss", fontsize=10)
    ax_loss.set_ylabel("loss" + (" (log scale)" if positive else ""))
    ax_psnr.set_title("validation PSNR", fontsize=10)
    ax_psnr.set_ylabel("validation PSNR (dB)")
    if not validated:
        ax_psnr.text(0.5, 0.5, "no validation PSNR logged", ha="center", va="center",
                     transform=ax_psnr.transAxes, color="0.4")
    for ax in (ax_loss, ax_psnr):
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    ax_loss.legend(fontsize=8, title="model")
    return fig


def training_figure(logs: Mapping[str, Path]) -> Figure:
    """:func:`training_curves` from ``log.csv`` files, keyed by model name."""
    return training_curves({model: read_training_log(path) for model, path in logs.items()})


def write_training_curve(path: Path, rows: Sequence[Mapping[str, object]], title: str) -> None:
    """One run's ``curve.png`` (the trainer's): :func:`training_curves` of its log rows,
    as ``log.csv`` holds them (``""`` where a row has no value), titled ``title``."""
    log = pd.DataFrame(list(rows)).apply(pd.to_numeric, errors="coerce")
    fig = training_curves({title: log})
    fig.suptitle(title)
    for ax in fig.axes:  # one run: the title names it
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
