"""Infer stage (``workflow/rules/infer.smk``): super-resolve a folder with any method;
MC-dropout models, the x8, TTA and MC-BatchNorm variants and deep ensembles also write
their uncertainty outputs; the SR images of an outside method (made elsewhere) are checked
and taken in."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sruq.channels import Box
from sruq.checkpoint import load_trained
from sruq.images import image_seed, modcrop, sr_hr_pairs
from sruq.io import atomic_dir, list_images, read_image, write_csv, write_image
from sruq.methods import SPREAD_VARIANTS, build_method, split_method
from sruq.models.base import SRModel
from sruq.patchset import PatchDataset
from sruq.predict import (
    check_finite,
    ensemble_image,
    mc_image,
    mcbn_image,
    pick_device,
    prediction,
    self_ensemble_image,
    tta_image,
    upscale_folder,
)
from sruq.progress import progress_bar
from sruq.shift.calibration import PROFILE_COLUMNS
from sruq.shift.scores import FLAG_COLUMN, above_column, score_column
from sruq.shift.scoring import fit_model_scores, score_image, vectorisers
from sruq.tensors import to_uint8
from sruq.uncertainty.files import read_sigma_scale
from sruq.uncertainty.mc import MCResult
from sruq.uncertainty.outputs import write_image_outputs
from sruq.uncertainty.settings import MCSettings

Predict = Callable[[str, np.ndarray], tuple[MCResult, Box]]
"""``(image name, uint8 LR) -> (MCResult, LR box)``: one image through an uncertainty source."""


def _per_image_seed(seed: int, source: str, name: str) -> int:
    """The seed of one image's samples: its own stream of ``seed`` (:func:`image_seed`)."""
    return int(image_seed(seed, source, name).integers(2**31))


def _uncertain_folder(
    predict: Predict, scale: int,
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


def mc_predictor(model: SRModel, settings: MCSettings, device: torch.device,
                 seed: int = 0) -> Predict:
    """``(image name, uint8 LR) -> (MCResult, LR box)`` of MC dropout (one pass for a model
    without dropout), each image's masks seeded from ``seed`` and its name."""
    return lambda name, lr: mc_image(model, lr, settings, _per_image_seed(seed, "mc", name),
                                     device)


def ensemble_predictor(members: Sequence[SRModel], device: torch.device) -> Predict:
    """``(image name, uint8 LR) -> (MCResult, LR box)`` of a deep ensemble of ``members``."""
    return lambda _, lr: ensemble_image(members, lr, device)


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
    predict = mc_predictor(model, settings, dev, seed)
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
    _uncertain_folder(ensemble_predictor(members, dev), members[0].scale, lr_dir,
                      sr_dir, unc_dir, settings, hr_dir, "deep ensemble", progress,
                      read_sigma_scale(calibration))


def spread_predictor(
    variant: str, model: SRModel, settings: MCSettings, device: torch.device, *, seed: int = 0,
    patches: Path | None = None, train_batch: int | None = None,
) -> Predict:
    """``(image name, uint8 LR) -> (MCResult, LR box)`` of a variant with a spread
    (:data:`sruq.methods.SPREAD_VARIANTS`) around ``model``.  ``+tta`` and ``+mcbn`` seed each
    image from ``seed`` and its name; ``+mcbn`` draws its batches from the ``patches`` set,
    ``mc.mcbn_batch`` (default ``train_batch``, the model's ``train.batch_size``) at a time."""
    if variant == "x8":
        return lambda _, lr: self_ensemble_image(model, lr, device)
    if variant == "tta":
        return lambda name, lr: tta_image(model, lr, settings,
                                          _per_image_seed(seed, "tta", name), device)
    if variant != "mcbn":
        raise ValueError(f"variant {variant!r} has no spread (those with: "
                         f"{', '.join(SPREAD_VARIANTS)})")
    if patches is None:
        raise ValueError("a +mcbn variant needs the training patches of its model")
    batch = settings.mcbn_batch or train_batch
    if batch is None:
        raise ValueError("mc.mcbn_batch: give the training patches per MC-BatchNorm batch")
    dataset = PatchDataset(patches)
    if batch > len(dataset):
        raise ValueError(f"mc.mcbn_batch: {batch} patches per batch, but {patches} holds "
                         f"only {len(dataset)}")
    return lambda name, lr: mcbn_image(model, dataset, lr, settings, batch,
                                       _per_image_seed(seed, "mcbn", name), device)


def upscale_method(
    method: str, scale: int, lr_dir: Path, sr_dir: Path, *, preset: Mapping[str, Any],
    classical: Mapping[str, Any], weights: Path | None = None, dictionary: Path | None = None,
    device: str = "auto", unc_dir: Path | None = None, hr_dir: Path | None = None,
    mc: Mapping[str, Any] | None = None, calibration: Path | None = None, seed: int = 0,
    patches: Path | None = None, train_batch: int | None = None,
) -> None:
    """Super-resolve a folder with any non-MC method; a variant with a spread (``+x8``,
    ``+tta``, ``+mcbn``: :func:`spread_predictor`) also writes its uncertainty folder."""
    dev = pick_device(device)
    model = build_method(method, scale, preset=preset, classical=classical, weights=weights,
                         dictionary=dictionary, device=str(dev))
    variant = split_method(method)[1]
    if variant not in SPREAD_VARIANTS:
        upscale_folder(model, Path(lr_dir), Path(sr_dir), dev)
        return
    if unc_dir is None:
        raise ValueError(f"method {method!r} writes an uncertainty folder: give unc_dir")
    settings = MCSettings.from_config(mc)
    predict = spread_predictor(variant, model, settings, dev, seed=seed, patches=patches,
                               train_batch=train_batch)
    _uncertain_folder(predict, scale, lr_dir, sr_dir, unc_dir, settings, hr_dir, variant,
                      sigma_scale=read_sigma_scale(calibration))


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


def shift_score(
    weights: Path, train_lr: Path, valid_lr: Sequence[Path], rows: Sequence[Mapping[str, str]],
    profile_rows: Sequence[Mapping[str, str]], fit_out: Path, scores_out: Path,
    profiles_out: Path, *, scale: int, trained_on: str, score: str, quantile: float,
    device: str = "auto", threads: int | None = None,
) -> None:
    """Fit a trained model's shift scores (:func:`sruq.shift.scoring.fit_model_scores`) on
    the LR images of ``train_lr`` (densities) and ``valid_lr`` (thresholds), write them to
    ``fit_out`` (JSON), and write every score of every image of the ``rows`` (dicts of
    ``dataset``, ``degradation``, ``method`` and the ``lr`` folder) to ``scores_out``: one
    per-image metrics row per method, with the primary ``score``'s value and flag; and the
    profile, primary score and flag of every image of the ``profile_rows`` (``dataset``,
    ``degradation``, ``lr``: the validation and test sets at every degradation) to
    ``profiles_out`` (:mod:`sruq.shift.calibration`)."""
    import pandas as pd  # only this step of the stage writes a table

    if threads:
        torch.set_num_threads(threads)
    dev = pick_device(device)
    model = load_trained(weights, dev)

    def images(folder: Path) -> list[np.ndarray]:
        return [read_image(p) for p in list_images(Path(folder))]

    fit = fit_model_scores(
        model, images(train_lr), [im for folder in valid_lr for im in images(folder)],
        primary=score, quantile=quantile, device=dev,
        fitted_on={"train": str(train_lr), "valid": [str(v) for v in valid_lr],
                   "weights": str(weights)})
    vectorise = vectorisers(model, dev)
    by_folder: dict[str, list[tuple[str, dict[str, float], np.ndarray]]] = {}

    def scored(folder: str) -> list[tuple[str, dict[str, float], np.ndarray]]:
        if folder not in by_folder:
            by_folder[folder] = [(p.stem, *score_image(fit, vectorise, read_image(p)))
                                 for p in list_images(Path(folder))]
        return by_folder[folder]

    records = []
    for row in rows:
        for image, values, _ in scored(row["lr"]):
            record = {"dataset": row["dataset"], "scale": scale,
                      "degradation": row["degradation"], "method": row["method"],
                      "trained_on": trained_on, "image": image}
            for name, value in values.items():
                record[score_column(name)] = value
                record[above_column(name)] = float(value > fit.scores[name].threshold)
            record["shift_score"] = values[fit.primary]
            record[FLAG_COLUMN] = float(fit.flagged(values))
            records.append(record)
    profiles = []
    for row in profile_rows:
        for image, values, z in scored(row["lr"]):
            profiles.append({"dataset": row["dataset"], "degradation": row["degradation"],
                             "image": image, "shift_score": values[fit.primary],
                             FLAG_COLUMN: float(fit.flagged(values)),
                             **dict(zip(PROFILE_COLUMNS, z, strict=True))})
    fit.write(fit_out)
    write_csv(pd.DataFrame(records), scores_out)
    write_csv(pd.DataFrame(profiles), profiles_out)
    flagged = sum(r[FLAG_COLUMN] for r in records)
    print(f"shift scores of {weights}: thresholds "
          + ", ".join(f"{n} {s.threshold:.3f}" for n, s in fit.scores.items())
          + f"; {int(flagged)} of {len(records)} rows flagged by {fit.primary}")
