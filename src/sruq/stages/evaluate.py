"""Evaluate stage (``workflow/rules/evaluate.smk``): PSNR/SSIM per image, the sigma-scaling
and split-conformal factors of each uncertainty source, the uncertainty metrics and the
tables.

Numpy, scipy and pandas only (no torch): the LPIPS column is its own step
(:mod:`sruq.stages.lpips`, with its own env).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sruq.core import layout
from sruq.core.io import write_csv, write_json
from sruq.core.layout import UNTRAINED
from sruq.evaluation.bootstrap import DEFAULT_SAMPLES
from sruq.evaluation.folders import evaluate_folder
from sruq.evaluation.metrics import border
from sruq.report.tables import write_tables
from sruq.shift.calibration import (
    ALL,
    ValidationImage,
    Widening,
    image_q,
    left_out,
    read_widenings,
)
from sruq.shift.scores import DEFAULT_QUANTILE
from sruq.shift.table import read_profiles
from sruq.uncertainty.files import (
    read_conformal_q,
    read_sigma_scale,
    read_uncertainty_folder,
)
from sruq.uncertainty.quality import (
    conformal_quantile,
    fit_sigma_scale,
    interval_coverage,
    uce,
    uncertainty_metrics,
)


def _with_trained_on(frame: pd.DataFrame, trained_on: str) -> pd.DataFrame:
    """``frame`` with the ``trained_on`` key column after ``method``."""
    frame.insert(frame.columns.get_loc("method") + 1, "trained_on", trained_on)
    return frame


def metrics(sr_dir: Path, hr_dir: Path, scale: int, out: Path, *, dataset: str,
            degradation: str, method: str, trained_on: str = UNTRAINED, channel: str = "y",
            crop: int | None = None) -> None:
    """Per-image PSNR and SSIM of an SR folder against its HR folder, as CSV; ``trained_on``
    is the degradation the method was trained on (``-``: not trained)."""
    rows = evaluate_folder(sr_dir, hr_dir, scale, dataset=dataset, degradation=degradation,
                           method=method, channel=channel, crop=crop)
    write_csv(_with_trained_on(rows, trained_on), out)


def _validation_planes(unc_dirs: Sequence[Path], scale: int, channel: str, crop: int | None,
                       ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(errors, stds)`` of every validation image, on the metrics' channel and crop."""
    errors, stds = [], []
    for folder in unc_dirs:
        for _, error, std in read_uncertainty_folder(folder, border(crop, scale), channel):
            errors.append(error)
            stds.append(std)
    return errors, stds


def _widenings(folders: Mapping[str, Sequence[Path]], trained_on: str, profiles: Path,
               scale: int, channel: str, crop: int | None, coverage: float, quantile: float,
               ) -> dict[str, Widening]:
    """One :class:`~sruq.shift.calibration.Widening` per degradation of ``folders`` (the
    validation folders by degradation), fitted on the images at every *other* degradation,
    and one fitted on all (:data:`~sruq.shift.calibration.ALL`); the images' profiles come
    from the ``profiles`` CSV of rule shift_score."""
    table = read_profiles(profiles)
    images = []
    for degradation, paths in folders.items():
        for folder in paths:
            dataset = layout.parse(layout.UNCERTAINTY, folder)["dataset"]
            for name, error, std in read_uncertainty_folder(folder, border(crop, scale),
                                                            channel):
                profile = table[(dataset, degradation, name)][0]
                images.append(ValidationImage(degradation, error, std, profile))
    widenings = {}
    for left in [*folders, ALL]:
        kept = [image for image in images if image.degradation != left]
        if len(kept) >= 2:
            widenings[left] = Widening.fit(kept, trained_on, coverage, quantile)
    return widenings


def calibrate(folders: Mapping[str, Sequence[Path]], trained_on: str, scale: int, out: Path,
              channel: str = "y", crop: int | None = None, coverage: float = 0.9,
              profiles: Path | None = None, quantile: float = DEFAULT_QUANTILE) -> None:
    """Write what is fitted on the validation folders (JSON), ``folders`` by degradation:
    on those at the training degradation ``trained_on``, the sigma-scaling factor and the
    split-conformal factor ``conformal_q`` of intervals with the target ``coverage``
    (``metrics.coverage``; null without validation images), pooling their pixels; with the
    ``profiles`` of rule shift_score and folders at other degradations, the shift-aware
    widenings ``shift_widening`` (:func:`_widenings`, :mod:`sruq.shift.calibration`), with
    their gates at the ``quantile`` of ``shift.quantile``."""
    errors, stds = _validation_planes(folders.get(trained_on, []), scale, channel, crop)
    widenings = ({} if profiles is None or len(folders) < 2
                 else _widenings(folders, trained_on, profiles, scale, channel, crop, coverage,
                                 quantile))
    write_json(out, {
        "sigma_scale": fit_sigma_scale(errors, stds) if errors else 1.0,
        "conformal_q": conformal_quantile(errors, stds, coverage) if errors else None,
        "shift_widening": {d: w.to_dict() for d, w in widenings.items()},
        "coverage": coverage,
        "fitted_on": [str(p) for p in folders.get(trained_on, [])],
        "shift_fitted_on": {d: [str(p) for p in f] for d, f in folders.items()},
    })


def uncertainty_table(
    unc_dir: Path, scale: int, *, dataset: str, degradation: str, method: str,
    scale_factor: float | None = None, conformal_q: float | None = None, channel: str = "y",
    crop: int | None = None, widening: Widening | None = None,
    profiles: Mapping[str, tuple[np.ndarray, bool]] | None = None,
) -> pd.DataFrame:
    """Per-image uncertainty metrics of one method's outputs (a DataFrame), on the channel
    and border crop of the PSNR (``crop`` default: ``scale``).

    With ``conformal_q``, ``coverage``/``interval_width`` are those of the shipped
    intervals: an image that its ``profiles`` entry (image -> profile, flagged) flags gets
    the factor of :func:`sruq.shift.calibration.image_q` with ``widening``
    (``interval_q``), and ``uce_shift`` is its UCE with the sigma-scaled std widened by the
    same ratio; ``coverage_static`` and ``interval_width_static`` keep ``conformal_q`` on
    every image."""
    rows = []
    for name, error, std in read_uncertainty_folder(unc_dir, border(crop, scale), channel):
        values = uncertainty_metrics(std, error, sigma_scale=scale_factor,
                                     conformal_q=conformal_q)
        if conformal_q is not None:
            z, flagged = (profiles or {}).get(name, (None, False))
            q = image_q(conformal_q, widening, z, flagged)
            values["coverage_static"] = values["coverage"]
            values["interval_width_static"] = values["interval_width"]
            values["coverage"], values["interval_width"] = interval_coverage(std, error, q)
            values["interval_q"] = q
            values["uce_shift"] = uce(std, error, sigma_scale=(scale_factor or 1.0)
                                      * q / conformal_q)
        rows.append({"dataset": dataset, "degradation": degradation, "scale": scale,
                     "method": method, "image": name, **values})
    return pd.DataFrame(rows)


def uncertainty(unc_dir: Path, scale: int, out: Path, *, calibration: Path, dataset: str,
                degradation: str, method: str, trained_on: str = UNTRAINED,
                channel: str = "y", crop: int | None = None,
                profiles: Path | None = None) -> None:
    """Write the per-image uncertainty metrics of one method (CSV), sigma scaling and the
    conformal factors from the ``calibration`` file, the images flagged in its model's
    ``profiles`` (CSV of rule shift_score) widened by the widening that left this
    ``degradation`` out (:func:`uncertainty_table`)."""
    by_image = {} if profiles is None else {
        image: entry for (ds, deg, image), entry in read_profiles(profiles).items()
        if ds == dataset and deg == degradation}
    table = uncertainty_table(unc_dir, scale, dataset=dataset, degradation=degradation,
                              method=method, scale_factor=read_sigma_scale(calibration),
                              conformal_q=read_conformal_q(calibration), channel=channel,
                              crop=crop, profiles=by_image,
                              widening=left_out(read_widenings(calibration), degradation,
                                                trained_on))
    write_csv(_with_trained_on(table, trained_on), out)


def tables(metric_csvs: Sequence[Path], out_dir: Path,
           notes: Mapping[str, str] | None = None, *, reference: str | None = None,
           samples: int = DEFAULT_SAMPLES, seed: int = 0) -> list[Path]:
    """Every table (per-image, summary, comparison per dataset x scale x degradation, and
    the shift table when some results come from another training degradation); ``notes``
    by dataset (e.g. a test set that also served for validation) go above its tables.
    The comparison tables give each method's PSNR difference to ``reference``
    (``metrics.bootstrap_reference``, default bicubic) with a paired-bootstrap 95% interval
    from ``samples`` resamples drawn from ``seed``."""
    return write_tables(metric_csvs, out_dir, notes, reference, samples, seed)
