"""Infer stage (``workflow/rules/infer.smk``): super-resolve a folder with any method;
MC-dropout models, x8 variants and deep ensembles also write their uncertainty outputs;
the SR images of an outside method (made elsewhere) are checked and taken in."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sruq.channels import Box
from sruq.checkpoint import load_trained
from sruq.images import image_seed, modcrop, sr_hr_pairs
from sruq.io import atomic_dir, list_images, read_image, write_image
from sruq.methods import build_method, split_method
from sruq.predict import (
    check_finite,
    ensemble_image,
    mc_image,
    pick_device,
    prediction,
    self_ensemble_image,
    upscale_folder,
)
from sruq.progress import progress_bar
from sruq.tensors import to_uint8
from sruq.uncertainty.files import read_sigma_scale
from sruq.uncertainty.mc import MCResult
from sruq.uncertainty.outputs import write_image_outputs
from sruq.uncertainty.settings import MCSettings


def _uncertain_folder(
    predict: Callable[[str, np.ndarray], tuple[MCResult, Box]], scale: int,
    lr_dir: Path, sr_dir: Path, unc_dir: Path, settings: MCSettings, hr_dir: Path | None,
    desc: str, progress: bool = True, sigma_scale: float = 1.0,
) -> None:
    """Run ``predict(image name, uint8 LR) -> (MCResult, LR box)`` on every image of
    ``lr_dir``: ``sr_dir/<image>.png`` gets what the method reports (the mean, or the one
    pass of a single-sample result), ``unc_dir/<image>/`` the ESRCNN seed's output set
    (heatmaps of ``sigma_scale`` x std)."""
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
    progress: bool = True, calibration: Path | None = None,
) -> None:
    """Super-resolve an LR folder with a trained model, with MC-dropout uncertainty.

    ``sr_dir/<image>.png`` is what the method reports (MC mean, or the one pass for a model
    without dropout); ``unc_dir/<image>/`` holds the seed's output set, its heatmaps
    scaled by the factor in the ``calibration`` file (none: the raw std).
    """
    if threads:
        torch.set_num_threads(threads)
    settings = MCSettings.from_config(mc)
    dev = pick_device(device)
    model = load_trained(weights, dev)

    def predict(name: str, lr: np.ndarray) -> tuple[MCResult, Box]:
        image_rng = image_seed(seed, "mc", name)
        return mc_image(model, lr, settings, int(image_rng.integers(2**31)), dev)

    _uncertain_folder(predict, model.scale, lr_dir, sr_dir, unc_dir, settings, hr_dir,
                      "MC inference", progress, read_sigma_scale(calibration))


def deep_ensemble(
    weights: Sequence[Path], lr_dir: Path, sr_dir: Path, unc_dir: Path, mc: Mapping[str, Any],
    hr_dir: Path | None = None, device: str = "auto", threads: int | None = None,
    progress: bool = True, calibration: Path | None = None,
) -> None:
    """Super-resolve an LR folder with a deep ensemble of trained models: ``sr_dir`` gets
    the members' mean, ``unc_dir/<image>/`` the output set with their spread as the std."""
    if threads:
        torch.set_num_threads(threads)
    settings = MCSettings.from_config(mc)
    dev = pick_device(device)
    members = [load_trained(path, dev) for path in weights]
    _uncertain_folder(lambda _, lr: ensemble_image(members, lr, dev), members[0].scale, lr_dir,
                      sr_dir, unc_dir, settings, hr_dir, "deep ensemble", progress,
                      read_sigma_scale(calibration))


def upscale_method(
    method: str, scale: int, lr_dir: Path, sr_dir: Path, *, preset: Mapping[str, Any],
    classical: Mapping[str, Any], weights: Path | None = None, dictionary: Path | None = None,
    device: str = "auto", unc_dir: Path | None = None, hr_dir: Path | None = None,
    mc: Mapping[str, Any] | None = None, calibration: Path | None = None,
) -> None:
    """Super-resolve a folder with any non-MC method; ``+x8`` also writes its spread."""
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
                      unc_dir, settings, hr_dir, "x8", sigma_scale=read_sigma_scale(calibration))


def take_outside(folder: Path, hr_dir: Path, scale: int, sr_dir: Path) -> None:
    """Take in the SR images an outside method made elsewhere: ``sr_dir/<image>.png`` for
    every HR image of ``hr_dir``, from its image of the same stem in ``folder`` (any format
    :func:`sruq.io.read_image` reads).

    The folders are checked as the metrics check them (:func:`sruq.images.sr_hr_pairs`): a
    missing or extra image, an entry that is not an image, or an image whose size is not
    the HR mod-crop (``scale`` x the LR size) stops with one line naming the file, and
    ``sr_dir`` is left as it was (written atomically)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (the outside method's SR images)")
    with atomic_dir(sr_dir) as tmp:
        for name, sr, _ in sr_hr_pairs(folder, Path(hr_dir), scale):
            write_image(tmp / f"{name}.png", sr)
