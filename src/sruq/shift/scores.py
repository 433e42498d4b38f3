"""Image-level shift scores: "is this LR input like the training data?" (numpy only).

One interface, :class:`ShiftScore`: a score maps an LR image to a vector (:meth:`vector`),
is fitted once on LR tiles of the training images (a Gaussian density of those vectors:
mean and a shrunk covariance) and scores an image by the Mahalanobis distance of its
vector to that density -- 0 at the training mean, larger = less like the training data.
Its threshold is a quantile (default 0.95) of the scores of LR tiles of the *validation*
images at the training degradation, never of test images; an image scoring above it is
*flagged*. The candidates:

* ``laplacian`` -- the log variance of the LR image's Laplacian (the trivial baseline);
* ``lr-statistics`` -- spectral band ratios, noise floor and JPEG blockiness of the LR
  image (:func:`sruq.shift.statistics.lr_statistics`);
* ``features`` -- the network's pooled intermediate features (per-channel mean and std of
  the input of its last convolution; the approach of Lee et al. 2018), computed by
  :mod:`sruq.shift.features` with torch and passed in as a function.

The per-image mean std of an uncertainty source (today's shift signal) and the spread of a
deep ensemble are compared beside them in the shift table (:mod:`sruq.shift.table`).
:class:`ShiftFit` is the fitted set of a trained model, stored as JSON beside its weights.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sruq.core.io import write_json
from sruq.shift.statistics import laplacian_variance, lr_statistics, tiles

Vectoriser = Callable[[np.ndarray], np.ndarray]
"""An LR image (uint8 ``(h, w[, C])``) -> a 1-D float vector."""

SCORES = ("laplacian", "lr-statistics", "features")
"""The candidate scores, in table order."""
DEFAULT_SCORE = "lr-statistics"
"""The score behind the verdict and the shift-aware intervals (config ``shift.score``)."""
DEFAULT_QUANTILE = 0.95
"""Quantile of the validation tiles' scores that places the threshold (``shift.quantile``)."""
FIT_FORMAT = "sruq-shift-1"


@dataclass(frozen=True)
class GaussianDensity:
    """A Gaussian fitted to vectors: their mean and the inverse of a shrunk covariance."""

    mean: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, vectors: np.ndarray) -> GaussianDensity:
        """Fit on ``(n, d)`` vectors (``n >= 2``); the covariance is shrunk towards its
        diagonal by ``min(1, d / n)`` (``(1 - w) C + w diag(C)``), since a few hundred tiles
        against a few hundred feature dimensions would give a singular one."""
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"a density needs at least two vectors, got shape {x.shape}")
        cov = np.atleast_2d(np.cov(x, rowvar=False))
        shrinkage = min(1.0, x.shape[1] / x.shape[0])
        cov = (1 - shrinkage) * cov + shrinkage * np.diag(np.diag(cov))
        cov += 1e-9 * max(float(np.trace(cov)) / len(cov), 1e-12) * np.eye(len(cov))
        return cls(x.mean(axis=0), np.linalg.inv(cov))

    def distance(self, vector: np.ndarray) -> float:
        """Mahalanobis distance of one vector to the density."""
        d = np.asarray(vector, dtype=np.float64) - self.mean
        return float(np.sqrt(max(float(d @ self.precision @ d), 0.0)))

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "precision": self.precision.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GaussianDensity:
        return cls(np.asarray(data["mean"], dtype=np.float64),
                   np.atleast_2d(np.asarray(data["precision"], dtype=np.float64)))


@dataclass(frozen=True)
class ShiftScore:
    """One fitted score: its name, density and threshold; :meth:`score` needs the
    vectoriser of its name (:func:`vectoriser`)."""

    name: str
    density: GaussianDensity
    threshold: float

    @classmethod
    def fit(cls, name: str, vectorise: Vectoriser, train: Sequence[np.ndarray],
            valid: Sequence[np.ndarray], quantile: float = DEFAULT_QUANTILE) -> ShiftScore:
        """Fit the density on the tiles of the ``train`` LR images and the threshold on the
        tiles of the ``valid`` LR images (both at the training degradation)."""
        train_tiles = [t for image in train for t in tiles(image)]
        valid_tiles = [t for image in valid for t in tiles(image)]
        if len(train_tiles) < 2:
            raise ValueError(f"shift score {name!r}: fewer than two training tiles")
        if not valid_tiles:
            raise ValueError(f"shift score {name!r}: no validation images to place the "
                             "threshold on (give the config a dataset with role valid)")
        density = GaussianDensity.fit(np.stack([vectorise(t) for t in train_tiles]))
        scores = [density.distance(vectorise(t)) for t in valid_tiles]
        return cls(name, density, float(np.quantile(scores, quantile)))

    def score(self, vectorise: Vectoriser, image: np.ndarray) -> float:
        """The distance of an LR image to the training density."""
        return self.density.distance(vectorise(image))


def input_vectoriser(name: str) -> Vectoriser:
    """The vectoriser of an input score (one that needs no network)."""
    if name == "laplacian":
        return laplacian_variance
    if name == "lr-statistics":
        return lr_statistics
    raise ValueError(f"shift score {name!r} needs a network (known input scores: "
                     "laplacian, lr-statistics)")


@dataclass(frozen=True)
class ShiftFit:
    """The fitted shift scores of one trained model, and which one gives the verdict."""

    scores: Mapping[str, ShiftScore]
    primary: str
    quantile: float
    fitted_on: Mapping[str, Any]

    def flagged(self, values: Mapping[str, float]) -> bool:
        """Whether the primary score of an image's ``values`` lies above its threshold."""
        return values[self.primary] > self.scores[self.primary].threshold

    def to_dict(self) -> dict[str, Any]:
        return {"format": FIT_FORMAT, "primary": self.primary, "quantile": self.quantile,
                "fitted_on": dict(self.fitted_on),
                "scores": {name: {"threshold": s.threshold, **s.density.to_dict()}
                           for name, s in self.scores.items()}}

    def write(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: Path | str) -> ShiftFit:
        """A fit written by :meth:`write`; ``ValueError`` naming the file otherwise."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format") != FIT_FORMAT:
                raise KeyError("format")
            scores = {name: ShiftScore(name, GaussianDensity.from_dict(s), float(s["threshold"]))
                      for name, s in data["scores"].items()}
            fit = cls(scores, data["primary"], float(data["quantile"]), data["fitted_on"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a sruq shift-score file ({err})") from None
        if fit.primary not in fit.scores:
            raise ValueError(f"{path}: primary shift score {fit.primary!r} is not fitted")
        return fit


UNLIKE = "unlike the training data"
"""How the verdict on a flagged image begins (:func:`verdict`, :func:`short_verdict`)."""


def verdict(score: float, threshold: float, name: str) -> str:
    """The plain sentence a user reads for one image."""
    if score > threshold:
        return (f"{UNLIKE}: shift score {score:.2f} above threshold "
                f"{threshold:.2f} ({name}) - the heatmap may understate the error")
    return f"looks like the training data (shift score {score:.2f} <= {threshold:.2f}, {name})"


def short_verdict(score: float, flagged: bool) -> str:
    """The verdict in a figure's panel title."""
    return (f"{UNLIKE} (shift {score:.2f})" if flagged
            else f"like the training data (shift {score:.2f})")


def score_column(name: str) -> str:
    """The per-image table's column of a score (``lr-statistics`` -> ``shift_lr_statistics``)."""
    return "shift_" + name.replace("-", "_")


def above_column(name: str) -> str:
    """The per-image table's column that is 1 where a score lies above its threshold."""
    return score_column(name) + "_above"


FLAG_COLUMN = "shift_flagged"
"""Per-image table: 1 where the primary score lies above its threshold, else 0."""
NO_SCORE = "no shift score available (the model was fitted before shift scores existed)"
