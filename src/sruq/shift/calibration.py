"""Intervals that stay honest on inputs unlike the training data (numpy and scipy only).

An LR image's *profile* is where its LR statistics
(:func:`sruq.shift.statistics.lr_statistics`) lie against the training density of the
``lr-statistics`` score, one standardised deviation per statistic (:func:`profile`): blur
pushes the band ratios down, noise the noise floor up, JPEG the blockiness up.  A
:class:`Widening` maps a profile to the factor of that image's split-conformal interval,
``q(z) = margin * q0 * exp(w . features(z))`` with ``w >= 0`` (:func:`features`: the
positive and the negative part of each deviation), fitted on validation images made with
the training degradation and others (:meth:`Widening.fit`):

1. per image, the log of the ``coverage`` quantile of its scores ``|error| / max(std,
   floor)`` is regressed on its features by non-negative least squares (plus a free
   intercept) -- how much wider an image's intervals must be, given how far and which way
   its input lies from the training data;
2. ``q0`` is the split-conformal factor of the scores divided by ``exp(w . features(z))``,
   pooling the pixels of every image it was fitted on, so that the intervals hold the
   target coverage on those images;
3. ``margin`` is what extrapolating to a degradation the fit has not seen costs, measured
   on the ones it has: for each shifted degradation among them, steps 1-2 are repeated
   without it and the factor by which that fit under-states the held-out images' conformal
   factor is taken; ``margin`` is the mean of those factors (at least 1);
4. ``gate`` is the ``quantile`` (``shift.quantile``, 0.95) of ``w . features(z)`` over the
   validation images at the training degradation: an image whose profile predicts wider
   intervals than that is widened even where the shift score does not flag it.

The calibration (rule ``calibrate``) fits one widening per degradation of the run on the
validation images at *all other* degradations, training degradation included: a result
tested on degradation ``d`` is judged by the widening that never saw ``d`` (leave one
degradation out, in step 3 too); an in-distribution result and an input of unknown
degradation use the one fitted on all (:data:`ALL`).  :func:`image_q` gives one image's
factor: an image the shift score flags, or whose profile passes the widening's gate
(:meth:`Widening.widens`), gets ``q(z)`` where that is larger; every other image keeps the
static ``conformal_q``.  The gate is there because the shift score, a distance in every
direction at once, misses mild shifts along the one direction that costs the most: an
input a little blurrier than the training data (band ratios 2-3 standard deviations low)
scores like an ordinary photo, yet its errors are several times the static interval.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from sruq.shift.scores import GaussianDensity
from sruq.shift.statistics import STATISTICS
from sruq.uncertainty.quality import STD_FLOOR, conformal_quantile, conformal_scores

PROFILE_SCORE = "lr-statistics"
"""The fitted shift score whose density places a profile."""
PROFILE_COLUMNS = tuple("deviation_" + name.replace(".", "").replace("-", "_")
                        for name in STATISTICS)
"""The profile's columns in a profiles CSV (rule shift_score), in :data:`STATISTICS` order."""
ALL = "*"
"""The widening fitted on the validation images at every degradation: for an input whose
degradation is unknown, and for the training degradation itself."""


def profile(density: GaussianDensity, vector: np.ndarray) -> np.ndarray:
    """The standardised deviation of each LR statistic of ``vector`` from ``density``:
    ``(v - mean) / sd`` with ``sd`` the square root of the covariance's diagonal."""
    sd = np.sqrt(np.diag(np.linalg.inv(density.precision)))
    return (np.asarray(vector, dtype=np.float64) - density.mean) / sd


def features(z: np.ndarray) -> np.ndarray:
    """The regression features of a profile: ``[max(z, 0), max(-z, 0)]`` per statistic, so
    that each direction of each statistic gets its own non-negative weight."""
    z = np.asarray(z, dtype=np.float64)
    return np.concatenate([np.maximum(z, 0.0), np.maximum(-z, 0.0)])


class ValidationImage(NamedTuple):
    """One validation image a widening is fitted on: the degradation it was made with, its
    error and std planes (same shape) and its profile."""

    degradation: str
    error: np.ndarray
    std: np.ndarray
    profile: np.ndarray


def _fit_shape(images: Sequence[ValidationImage], log_q: np.ndarray, coverage: float,
               ) -> tuple[float, np.ndarray]:
    """``(q0, weights)`` of ``q0 * exp(weights . features(z))`` on ``images`` (steps 1
    and 2 of the module's description); ``log_q`` per image, precomputed."""
    from scipy.optimize import nnls  # where it is used: every inference job imports this module

    x = np.stack([features(image.profile) for image in images])
    # a free intercept as two non-negative columns of opposite sign
    solution, _ = nnls(np.hstack([x, np.ones((len(x), 1)), -np.ones((len(x), 1))]), log_q)
    weights = solution[:x.shape[1]]
    return _scaled_q(images, np.exp(x @ weights), coverage), weights


def _scaled_q(images: Sequence[ValidationImage], factors: np.ndarray, coverage: float) -> float:
    """The split-conformal factor of ``images``' scores divided by their ``factors``."""
    return conformal_quantile([image.error for image in images],
                              [np.maximum(image.std, STD_FLOOR) * f
                               for image, f in zip(images, factors, strict=True)],
                              coverage, 0.0)


def min_images(quantile: float) -> int:
    """The fewest images that can place a ``quantile``, ``1 / (1 - quantile)``, so that
    one of them lies above it (20 for the 0.95 quantile)."""
    return math.ceil(round(1.0 / (1.0 - quantile), 6))


@dataclass(frozen=True)
class Widening:
    """``q(z) = margin * q0 * exp(weights . features(z))``, fitted on the validation images
    of the degradations in ``fitted_on``; ``gate``: the predicted log widening
    ``weights . features(z)`` above which an image is widened whether flagged or not."""

    q0: float
    weights: np.ndarray
    margin: float
    fitted_on: tuple[str, ...]
    gate: float = math.inf

    def q(self, z: np.ndarray) -> float:
        """The interval factor of an image with profile ``z``."""
        return self.margin * self.q0 * math.exp(float(features(z) @ self.weights))

    def widens(self, z: np.ndarray) -> bool:
        """Whether the profile ``z`` predicts wider intervals than the validation images
        at the training degradation do (above the ``gate``), flagged or not."""
        return float(features(z) @ self.weights) > self.gate

    @classmethod
    def fit(cls, images: Sequence[ValidationImage], trained_on: str,
            coverage: float = 0.9, quantile: float = 0.95) -> Widening:
        """Fit on validation images (at least two) made with ``trained_on`` and other
        degradations; the ``margin`` (step 3 of the module's description) from the
        shifted degradations among them, the ``gate`` (step 4) at the ``quantile`` of
        the images made with ``trained_on`` (no gate with fewer than
        :func:`min_images` of them: one photo places no percentile)."""
        if len(images) < 2:
            raise ValueError(f"a widening needs two or more validation images, got {len(images)}")
        log_q = np.array([math.log(max(float(np.quantile(
            conformal_scores(image.std, image.error, STD_FLOOR), coverage)), 1e-12))
            for image in images])
        q0, weights = _fit_shape(images, log_q, coverage)
        degradations = tuple(dict.fromkeys(image.degradation for image in images))
        ratios = []
        for held in degradations:
            kept = [i for i, image in enumerate(images) if image.degradation != held]
            if held == trained_on or len(kept) < 2:
                continue
            inner_q0, inner_weights = _fit_shape([images[i] for i in kept], log_q[kept],
                                                 coverage)
            out = [image for image in images if image.degradation == held]
            factors = inner_q0 * np.exp(np.stack([features(i.profile) for i in out])
                                        @ inner_weights)
            ratios.append(_scaled_q(out, factors, coverage))
        margin = max(1.0, float(np.mean(ratios))) if ratios else 1.0
        inside = [float(features(image.profile) @ weights) for image in images
                  if image.degradation == trained_on]
        enough = len(inside) >= min_images(quantile)
        gate = float(np.quantile(inside, quantile)) if enough else math.inf
        return cls(float(q0), weights, margin, degradations, gate)

    def to_dict(self) -> dict[str, Any]:
        return {"q0": self.q0, "weights": self.weights.tolist(), "margin": self.margin,
                "fitted_on": list(self.fitted_on),
                "gate": self.gate if math.isfinite(self.gate) else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Widening:
        """A widening of :meth:`to_dict`; one written before gates existed has none
        (only flagged images are widened)."""
        gate = data.get("gate")
        return cls(float(data["q0"]), np.asarray(data["weights"], dtype=np.float64),
                   float(data["margin"]), tuple(data["fitted_on"]),
                   math.inf if gate is None else float(gate))


def read_widenings(path: Path | str | None) -> dict[str, Widening]:
    """The widenings of a calibration file (rule ``calibrate``), by the degradation each
    left out (empty without a file or any widening)."""
    if path is None:
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8")).get("shift_widening") or {}
    return {str(d): Widening.from_dict(w) for d, w in data.items()}


def left_out(widenings: Mapping[str, Widening], tested_on: str | None,
             trained_on: str | None) -> Widening | None:
    """The widening for a result trained on ``trained_on`` and tested on ``tested_on``: the
    one that left ``tested_on`` out, so a shift is judged by a calibration that never saw
    it (``None`` when there is none); :data:`ALL` in distribution and for an input of
    unknown degradation (``tested_on`` ``None``)."""
    if tested_on is None or tested_on == trained_on:
        return widenings.get(ALL)
    return widenings.get(tested_on)


def image_q(conformal_q: float, widening: Widening | None, z: np.ndarray | None,
            flagged: bool) -> float:
    """The conformal factor of one image: ``conformal_q``, or, for an image the shift score
    flags or whose profile ``z`` passes the widening's gate, the widening's factor of ``z``
    when that is larger."""
    if widening is None or z is None or not (flagged or widening.widens(z)):
        return conformal_q
    return max(conformal_q, widening.q(z))


def shown_widening(interval_q: float | None, conformal_q: float | None) -> float:
    """How many times wider an image's interval is than the static one (its
    :func:`image_q` over ``conformal_q``, as the uncertainty tables give them): what the
    heatmaps multiply its sigma-scaled std by, so that they show the std whose intervals the
    tables score.  1 for an image that is not widened, within the tables' six-digit rounding,
    or without both factors."""
    if interval_q is None or conformal_q is None:
        return 1.0
    ratio = float(interval_q) / float(conformal_q)
    return ratio if math.isfinite(ratio) and ratio > 1 + 1e-5 else 1.0


def row_widening(row: Any) -> float:
    """:func:`shown_widening` of a row of the per-image uncertainty metrics (a mapping with
    ``interval_q`` and ``conformal_q``, e.g. a ``pandas.Series``; 1 for ``None``)."""
    if row is None:
        return 1.0
    return shown_widening(row.get("interval_q"), row.get("conformal_q"))
