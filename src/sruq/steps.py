"""Workflow steps that combine several sruq modules (called by ``workflow/scripts``).

Each function takes folders and config mappings as the Snakemake rules hand them over,
so the step scripts stay one call long and the logic is unit-tested here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sruq.datasets import modcrop
from sruq.io import list_images, read_image, write_json

if TYPE_CHECKING:
    import numpy as np

    from sruq.predict import MCSettings
    from sruq.uncertainty import MCResult

    Box = tuple[int, int, int, int]


def valid_pairs(hr_dirs: Sequence[Path], lr_dirs: Sequence[Path], scale: int) -> list:
    """``(lr, hr)`` uint8 pairs of validation folders (HR mod-cropped), matched by name."""
    pairs = []
    for hr_dir, lr_dir in zip(hr_dirs, lr_dirs, strict=True):
        for hr_path in list_images(Path(hr_dir)):
            lr_path = Path(lr_dir) / f"{hr_path.stem}.png"
            if not lr_path.is_file():
                raise FileNotFoundError(f"{lr_path}: LR image for {hr_path.name} is missing")
            pairs.append((read_image(lr_path), modcrop(read_image(hr_path), scale)))
    return pairs


def training_patches(
    model: str, spec: Mapping[str, Any], hr_dir: Path, out_dir: Path, scale: int,
    preset: Mapping[str, Any], seed: int,
) -> int:
    """Cut the training patches of model entry ``spec`` from an HR folder into a patch set."""
    from sruq.models import build_model
    from sruq.patches import PatchConfig, make_patches, write_patch_set

    cfg = PatchConfig.from_dict(spec.get("patches"), model)
    channels = build_model(spec["arch"], scale, **spec.get("kwargs", {})).in_channels
    files = list_images(Path(hr_dir))
    lr, hr = make_patches((read_image(f) for f in files), scale, preset, cfg, channels, seed)
    meta = {"model": model, "scale": scale, "seed": seed, "channels": channels,
            "images": [f.stem for f in files], "count": len(lr),
            "patches": {k: v for k, v in cfg.__dict__.items()}}
    write_patch_set(Path(out_dir), lr, hr, meta)
    return len(lr)


def train(
    model: str, spec: Mapping[str, Any], scale: int, patch_dir: Path,
    valid: Sequence[tuple[Path, Path]], out_dir: Path, seed: int, device: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]:
    """Train model entry ``spec`` on a patch set; validation on ``(hr_dir, lr_dir)`` pairs."""
    import torch

    from sruq.patches import PatchDataset
    from sruq.train import TrainConfig, train_model

    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig.from_dict({"seed": seed, **spec.get("train", {})}, model)
    pairs = valid_pairs([h for h, _ in valid], [lr for _, lr in valid], scale)
    summary = train_model(spec["arch"], spec.get("kwargs", {}), scale, PatchDataset(patch_dir),
                          pairs, cfg, out_dir, device=device, label=model)
    write_json(Path(out_dir) / "summary.json", summary)
    return summary


def _uncertain_folder(
    predict: Callable[[str, np.ndarray], tuple[MCResult, Box]], scale: int,
    lr_dir: Path, sr_dir: Path, unc_dir: Path, settings: MCSettings, hr_dir: Path | None,
    desc: str, progress: bool = True, sigma_scale: float = 1.0,
) -> None:
    """Run ``predict(image name, uint8 LR) -> (MCResult, LR box)`` on every image of
    ``lr_dir``: ``sr_dir/<image>.png`` gets what the method reports (the mean, or the one
    pass of a single-sample result), ``unc_dir/<image>/`` the ESRCNN seed's output set
    (heatmaps of ``sigma_scale`` x std)."""
    from sruq.io import atomic_dir, to_uint8, write_image
    from sruq.predict import check_finite, prediction, write_image_outputs
    from sruq.progress import progress_bar

    with atomic_dir(sr_dir) as sr_tmp, atomic_dir(unc_dir) as unc_tmp:
        for path in progress_bar(list_images(Path(lr_dir)), desc=f"{desc} {lr_dir}",
                                 disable=not progress, unit="img"):
            lr = read_image(path)
            hr = None
            if hr_dir is not None:
                hr = modcrop(read_image(Path(hr_dir) / path.name), scale)
            result, box = predict(path.stem, lr)
            check_finite(result, str(path))
            write_image(sr_tmp / f"{path.stem}.png", to_uint8(prediction(result)))
            write_image_outputs(unc_tmp / path.stem, lr, result, box, scale, settings, hr,
                                sigma_scale)


def infer(
    weights: Path, lr_dir: Path, sr_dir: Path, unc_dir: Path, mc: Mapping[str, Any],
    seed: int, hr_dir: Path | None = None, device: str = "auto", threads: int | None = None,
    progress: bool = True, sigma_scale: float = 1.0,
) -> None:
    """Super-resolve an LR folder with a trained model, with MC-dropout uncertainty.

    ``sr_dir/<image>.png`` is what the method reports (MC mean, or the one pass for a model
    without dropout); ``unc_dir/<image>/`` holds the seed's output set.
    """
    import torch

    from sruq.checkpoint import load_trained
    from sruq.datasets import image_seed
    from sruq.inference import pick_device
    from sruq.predict import MCSettings, mc_image

    if threads:
        torch.set_num_threads(threads)
    settings = MCSettings.from_config(mc)
    dev = pick_device(device)
    model = load_trained(weights, dev)

    def predict(name: str, lr: np.ndarray) -> tuple[MCResult, Box]:
        image_rng = image_seed(seed, "mc", name)
        return mc_image(model, lr, settings, int(image_rng.integers(2**31)), dev)

    _uncertain_folder(predict, model.scale, lr_dir, sr_dir, unc_dir, settings, hr_dir,
                      "MC inference", progress, sigma_scale)


def deep_ensemble(
    weights: Sequence[Path], lr_dir: Path, sr_dir: Path, unc_dir: Path, mc: Mapping[str, Any],
    hr_dir: Path | None = None, device: str = "auto", threads: int | None = None,
    progress: bool = True, sigma_scale: float = 1.0,
) -> None:
    """Super-resolve an LR folder with a deep ensemble of trained models: ``sr_dir`` gets
    the members' mean, ``unc_dir/<image>/`` the output set with their spread as the std."""
    import torch

    from sruq.checkpoint import load_trained
    from sruq.inference import pick_device
    from sruq.predict import MCSettings, ensemble_image

    if threads:
        torch.set_num_threads(threads)
    settings = MCSettings.from_config(mc)
    dev = pick_device(device)
    members = [load_trained(path, dev) for path in weights]
    _uncertain_folder(lambda _, lr: ensemble_image(members, lr, dev), members[0].scale, lr_dir,
                      sr_dir, unc_dir, settings, hr_dir, "deep ensemble", progress, sigma_scale)


def calibrate_sigma(unc_dirs: Sequence[Path], scale: int, channel: str = "y",
                    crop: int | None = None) -> float:
    """Sigma-scaling factor fitted on validation outputs (``error.npy``, ``std.npy``), on
    the channel and border crop of the metrics (``crop`` default: ``scale``)."""
    from sruq.predict import read_uncertainty_folder
    from sruq.uncertainty import fit_sigma_scale

    errors, stds = [], []
    for folder in unc_dirs:
        for _, error, std in read_uncertainty_folder(folder, _crop(crop, scale), channel):
            errors.append(error)
            stds.append(std)
    if not errors:
        return 1.0
    return fit_sigma_scale(errors, stds)


def read_sigma_scale(path: Path | str | None) -> float:
    """The factor in a calibration file written by the ``calibrate`` rule (1 without one)."""
    import json

    if path is None:
        return 1.0
    return float(json.loads(Path(path).read_text(encoding="utf-8"))["sigma_scale"])


def _crop(crop: int | None, scale: int) -> int:
    return scale if crop is None else int(crop)


def uncertainty_table(
    unc_dir: Path, scale: int, *, dataset: str, degradation: str, method: str,
    scale_factor: float | None = None, channel: str = "y", crop: int | None = None,
):
    """Per-image uncertainty metrics of one method's outputs (a DataFrame), on the channel
    and border crop of the PSNR (``crop`` default: ``scale``)."""
    import pandas as pd

    from sruq.predict import read_uncertainty_folder
    from sruq.uncertainty import uncertainty_metrics

    rows = []
    for name, error, std in read_uncertainty_folder(unc_dir, _crop(crop, scale), channel):
        metrics = uncertainty_metrics(std, error, sigma_scale=scale_factor)
        rows.append({"dataset": dataset, "degradation": degradation, "scale": scale,
                     "method": method, "image": name, **metrics})
    return pd.DataFrame(rows)


def result_figures(
    per_image_csv: Path, hr_dir: Path, sr_dirs: Mapping[str, Path], out_dir: Path, *,
    dataset: str, scale: int, degradation: str, image: str | None = None,
) -> list[Path]:
    """``metrics`` (per-image spread) and ``comparison`` (zoomed crops of ``image``, default
    the first test image) of one dataset x scale x degradation (PNG + PDF each)."""
    import pandas as pd

    from sruq.figures import comparison_figure, metric_spread, save_figure

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


def _figure_image(hr_dir: Path, dataset: str, image: str | None) -> Path:
    """The HR file of the image a figure shows (default: the dataset's first)."""
    names = [p.stem for p in list_images(Path(hr_dir))]
    image = image if image is not None else names[0]
    if image not in names:
        raise ValueError(f"figures.image: {image!r} is not an image of {dataset}")
    return Path(hr_dir) / f"{image}.png"


def uncertainty_figures(
    hr_dir: Path, unc_dirs: Mapping[str, Path], out_dir: Path, *, dataset: str, scale: int,
    degradation: str, mc: Mapping[str, Any], sigma_scales: Mapping[str, float] | None = None,
    channel: str = "y", crop: int | None = None, image: str | None = None,
) -> list[Path]:
    """``heatmaps`` (of ``image``, default the first test image), ``sparsification`` and
    ``reliability`` of the uncertainty sources of one dataset x scale x degradation.

    The heatmaps show each source's std times its ``sigma_scales`` factor (unless
    ``mc.sigma_scaled`` is false) on the run's one colour scale (``mc``), beside its |error|
    on the same scale; the curves pool every
    pixel of every test image (on the metrics' channel and border crop)."""
    import numpy as np

    from sruq.figures import heatmap_figure, save_figure
    from sruq.predict import MCSettings, read_uncertainty_folder
    from sruq.uncertainty import (
        plot_reliability,
        plot_sparsification,
        reliability_diagram_data,
        sparsification_curves,
    )

    out_dir = Path(out_dir)
    hr_path = _figure_image(hr_dir, dataset, image)
    factors = dict(sigma_scales or {})
    settings = MCSettings.from_config(mc)
    predictions = {m: (Path(d) / hr_path.stem / "mc_mean.png", Path(d) / hr_path.stem / "std.npy")
                   for m, d in unc_dirs.items()}
    written = save_figure(
        heatmap_figure(hr_path, scale, predictions, heatmap=settings.heatmap,
                       sigma_scales=factors if settings.sigma_scaled else {},
                       title=f"{hr_path.stem}: {dataset} x{scale}, {degradation}"),
        out_dir / "heatmaps",
    )
    curves, reliability = {}, {}
    for model, folder in unc_dirs.items():
        planes = read_uncertainty_folder(folder, _crop(crop, scale), channel)
        std_all = np.concatenate([std.ravel() for _, _, std in planes])
        error_all = np.concatenate([error.ravel() for _, error, _ in planes])
        curves[model] = sparsification_curves(std_all, error_all)
        reliability[model] = reliability_diagram_data(std_all, error_all,
                                                      sigma_scale=factors.get(model, 1.0))
    written += plot_sparsification(curves, out_dir / "sparsification")
    written += plot_reliability(reliability, out_dir / "reliability")
    return written


def training_curves_figure(logs: Mapping[str, Path], out_stem: Path) -> list[Path]:
    """Loss and validation PSNR of every trained model, in one figure (PNG + PDF)."""
    from sruq.figures import save_figure, training_figure

    return save_figure(training_figure(logs), out_stem)


def learn_dictionary(hr_dirs: Sequence[Path], out: Path, scale: int,
                     options: Mapping[str, Any], seed: int) -> None:
    """Learn the coupled sparse-coding dictionaries from HR training folders."""
    from sruq.classical import SparseCodingSR

    images = [read_image(f) for folder in hr_dirs for f in list_images(Path(folder))]
    model = SparseCodingSR.fit(images, scale, seed=seed, **dict(options))
    model.save(out)


def upscale_method(
    method: str, scale: int, lr_dir: Path, sr_dir: Path, *, preset: Mapping[str, Any],
    classical: Mapping[str, Any], weights: Path | None = None, dictionary: Path | None = None,
    device: str = "auto", unc_dir: Path | None = None, hr_dir: Path | None = None,
    mc: Mapping[str, Any] | None = None, sigma_scale: float = 1.0,
) -> None:
    """Super-resolve a folder with any non-MC method; ``+x8`` also writes its spread."""
    from sruq.inference import pick_device, upscale_folder
    from sruq.methods import build_method, split_method
    from sruq.predict import MCSettings, self_ensemble_image

    dev = pick_device(device)
    model = build_method(method, scale, preset=preset, classical=classical, weights=weights,
                         dictionary=dictionary, device=str(dev))
    if split_method(method)[1] != "x8":
        upscale_folder(model, Path(lr_dir), Path(sr_dir), dev)
        return
    if unc_dir is None:
        raise ValueError(f"method {method!r} writes an uncertainty folder: give unc_dir")
    settings = MCSettings.from_config(mc)
    _uncertain_folder(lambda _, lr: self_ensemble_image(model, lr, dev), scale, lr_dir, sr_dir,
                      unc_dir, settings, hr_dir, "x8", sigma_scale=sigma_scale)
