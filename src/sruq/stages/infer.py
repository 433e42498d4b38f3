"""Infer stage (``workflow/rules/infer.smk``): super-resolve a folder with any method;
every uncertainty source (MC dropout, x8, TTA, MC-BatchNorm, deep ensembles:
:data:`sruq.uncertainty.sources.SOURCES`) writes its outputs through one door,
:func:`run_source`; the SR images of an outside method (made elsewhere) are checked and
taken in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sruq.core.images import modcrop, sr_hr_pairs
from sruq.core.io import atomic_dir, list_images, read_image, write_csv, write_image
from sruq.core.progress import progress_bar
from sruq.core.tensors import to_uint8
from sruq.models.base import SRModel
from sruq.models.checkpoint import load_trained
from sruq.models.predict import pick_device, upscale_folder
from sruq.pipeline.methods import SPREAD_VARIANTS, build_method, split_method
from sruq.shift.calibration import PROFILE_COLUMNS
from sruq.shift.scores import FLAG_COLUMN, above_column, score_column
from sruq.shift.scoring import fit_model_scores, score_image, vectorisers
from sruq.uncertainty.files import read_sigma_scale
from sruq.uncertainty.outputs import write_image_outputs
from sruq.uncertainty.settings import HeatmapSettings, MCSettings
from sruq.uncertainty.sources import UncertaintySource, build_source


def run_source(
    source: UncertaintySource, lr_dir: Path, sr_dir: Path, unc_dir: Path, *,
    heatmap: Mapping[str, Any] | None = None, hr_dir: Path | None = None,
    calibration: Path | None = None, progress: bool = True,
) -> None:
    """Run ``source`` on every image of ``lr_dir``: ``sr_dir/<image>.png`` gets what the
    method reports (the mean, or the one pass of a single-sample result), ``unc_dir/<image>/``
    the ESRCNN recipe's output set, drawn with the ``heatmap:`` settings (of the std times the
    factor in the ``calibration`` file; none: the raw std)."""
    settings = HeatmapSettings.from_config(heatmap)
    sigma_scale = read_sigma_scale(calibration)
    scale = source.scale
    with atomic_dir(sr_dir) as sr_tmp, atomic_dir(unc_dir) as unc_tmp:
        for path in progress_bar(list_images(Path(lr_dir)), desc=f"{source.name} {lr_dir}",
                                 disable=not progress, unit="img"):
            lr = read_image(path)
            hr = None
            if hr_dir is not None:
                hr = modcrop(read_image(Path(hr_dir) / path.name), scale)
            result, box = source.predict(path.stem, lr)
            result.check_finite(str(path))
            write_image(sr_tmp / f"{path.stem}.png", to_uint8(result.prediction))
            write_image_outputs(unc_tmp / path.stem, lr, result, box, scale, settings, hr,
                                sigma_scale)


def _threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def infer(
    weights: Path, lr_dir: Path, sr_dir: Path, unc_dir: Path, mc: Mapping[str, Any],
    seed: int, hr_dir: Path | None = None, device: str = "auto", threads: int | None = None,
    progress: bool = True, calibration: Path | None = None,
    heatmap: Mapping[str, Any] | None = None,
) -> None:
    """Rule ``infer_model``: a trained model with dropout through the ``mc`` source
    (:class:`~sruq.uncertainty.sources.MCDropoutSource`, :func:`run_source`)."""
    _threads(threads)
    dev = pick_device(device)
    source = build_source("mc", [load_trained(weights, dev)], MCSettings.from_config(mc),
                          seed=seed, device=dev)
    run_source(source, lr_dir, sr_dir, unc_dir, heatmap=heatmap, hr_dir=hr_dir,
               calibration=calibration, progress=progress)


def deep_ensemble(
    weights: Sequence[Path], lr_dir: Path, sr_dir: Path, unc_dir: Path,
    hr_dir: Path | None = None, device: str = "auto", threads: int | None = None,
    progress: bool = True, calibration: Path | None = None,
    heatmap: Mapping[str, Any] | None = None,
) -> None:
    """Rule ``deep_ensemble``: trained members through the ``ensemble`` source
    (:class:`~sruq.uncertainty.sources.DeepEnsembleSource`): ``sr_dir`` gets their mean,
    ``unc_dir`` their spread as the std."""
    _threads(threads)
    dev = pick_device(device)
    members = [load_trained(path, dev) for path in weights]
    source = build_source("ensemble", members, MCSettings(), device=dev)
    run_source(source, lr_dir, sr_dir, unc_dir, heatmap=heatmap, hr_dir=hr_dir,
               calibration=calibration, progress=progress)


@dataclass(frozen=True)
class Method:
    """A method of the config and what builds its model
    (:func:`sruq.pipeline.methods.build_method`): its name, the scale, the degradation
    preset, the ``classical:`` settings and its trained weights or learned dictionary."""

    name: str
    scale: int
    preset: Mapping[str, Any] = field(default_factory=dict)
    classical: Mapping[str, Any] = field(default_factory=dict)
    weights: Path | None = None
    dictionary: Path | None = None

    def build(self, device: torch.device) -> SRModel:
        return build_method(self.name, self.scale, preset=self.preset,
                            classical=self.classical, weights=self.weights,
                            dictionary=self.dictionary, device=str(device))


def upscale_method(method: Method, lr_dir: Path, sr_dir: Path, device: str = "auto",
                   threads: int | None = None) -> None:
    """Rule ``upscale``: super-resolve a folder once with a method without a spread."""
    _threads(threads)
    dev = pick_device(device)
    upscale_folder(method.build(dev), Path(lr_dir), Path(sr_dir), dev)


def spread_method(
    method: Method, lr_dir: Path, sr_dir: Path, unc_dir: Path, *,
    mc: Mapping[str, Any] | None = None, heatmap: Mapping[str, Any] | None = None,
    seed: int = 0, hr_dir: Path | None = None, calibration: Path | None = None,
    patches: Path | None = None, train_batch: int | None = None, device: str = "auto",
    threads: int | None = None,
) -> None:
    """Rules ``self_ensemble`` and ``test_time_sampling``: a ``+x8``, ``+tta`` or ``+mcbn``
    variant through its source (:func:`~sruq.uncertainty.sources.build_source`; ``+mcbn``
    draws batches from the ``patches`` set, ``mc.mcbn_batch`` -- default ``train_batch``,
    the model's ``train.batch_size`` -- at a time) and :func:`run_source`."""
    variant = split_method(method.name)[1]
    if variant not in SPREAD_VARIANTS:
        raise ValueError(f"method {method.name!r} has no spread (variants with one: "
                         f"{', '.join(SPREAD_VARIANTS)})")
    _threads(threads)
    dev = pick_device(device)
    source = build_source(variant, [method.build(dev)],
                          MCSettings.from_config(mc), seed=seed, patches=patches,
                          train_batch=train_batch, device=dev)
    run_source(source, lr_dir, sr_dir, unc_dir, heatmap=heatmap, hr_dir=hr_dir,
               calibration=calibration)


def take_outside(folder: Path, hr_dir: Path, scale: int, sr_dir: Path) -> None:
    """Take in the SR images an outside method made elsewhere: ``sr_dir/<image>.png`` for
    every HR image of ``hr_dir``, from its image of the same stem in ``folder`` (any format
    :func:`sruq.core.io.read_image` reads).

    The folders are checked as the metrics check them (:func:`sruq.core.images.sr_hr_pairs`): a
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
    by_folder: dict[tuple[str, tuple[str, ...] | None],
                    list[tuple[str, dict[str, float], np.ndarray]]] = {}

    def scored(folder: str, names: Sequence[str] | None = None,
               ) -> list[tuple[str, dict[str, float], np.ndarray]]:
        """The scores ``names`` (default: all) and profile of every image of ``folder``,
        computed once; a folder already scored in full serves a request for fewer."""
        key = (folder, None if names is None else tuple(names))
        if (folder, None) in by_folder:
            key = (folder, None)
        if key not in by_folder:
            by_folder[key] = [(p.stem, *score_image(fit, vectorise, read_image(p), names))
                              for p in list_images(Path(folder))]
        return by_folder[key]

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
    # profiles need only the primary score beside the LR statistics (features cost most)
    for row in profile_rows:
        for image, values, z in scored(row["lr"], [fit.primary]):
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
