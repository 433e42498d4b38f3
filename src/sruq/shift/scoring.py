"""Fit every shift score of a trained model and score LR images with it (torch).

:func:`fit_model_scores` fits the candidates of :data:`sruq.shift.scores.SCORES` once after
training: each density on LR tiles of the training images, each threshold on LR tiles of
the validation images, both at the training degradation.  :func:`score_image` gives an
image's value of every fitted score and its profile (for the shift-aware intervals); the
workflow (rule ``shift_score``) and ``sruq upscale`` call the same two functions;
:func:`fit_beside` and :func:`judge_image` give ``sruq upscale`` its verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sruq.core import layout
from sruq.models.base import SRModel
from sruq.shift.calibration import PROFILE_SCORE, profile
from sruq.shift.features import feature_vectoriser
from sruq.shift.scores import (
    DEFAULT_QUANTILE,
    DEFAULT_SCORE,
    SCORES,
    ShiftFit,
    ShiftScore,
    Vectoriser,
    input_vectoriser,
    verdict,
)


def vectorisers(model: SRModel, device: torch.device | None = None) -> dict[str, Vectoriser]:
    """The vectoriser of every candidate score for ``model``."""
    return {name: feature_vectoriser(model, device) if name == "features"
            else input_vectoriser(name) for name in SCORES}


def fit_model_scores(model: SRModel, train: Sequence[np.ndarray], valid: Sequence[np.ndarray],
                     *, primary: str = DEFAULT_SCORE, quantile: float = DEFAULT_QUANTILE,
                     fitted_on: Mapping[str, Any] | None = None,
                     device: torch.device | None = None) -> ShiftFit:
    """Fit every candidate on the ``train`` and ``valid`` LR images (uint8)."""
    if primary not in SCORES:
        raise ValueError(f"shift.score: unknown score {primary!r} (known: {', '.join(SCORES)})")
    scores = {name: ShiftScore.fit(name, vectorise, train, valid, quantile)
              for name, vectorise in vectorisers(model, device).items()}
    return ShiftFit(scores, primary, quantile, dict(fitted_on or {}))


def score_image(fit: ShiftFit, vectorise: Mapping[str, Vectoriser], image: np.ndarray,
                names: Sequence[str] | None = None) -> tuple[dict[str, float], np.ndarray]:
    """The fitted scores ``names`` (default: every one) of one uint8 LR image, and its
    profile (:func:`sruq.shift.calibration.profile`: each LR statistic's standardised
    deviation)."""
    wanted = list(dict.fromkeys([*(fit.scores if names is None else names), PROFILE_SCORE]))
    vectors = {name: vectorise[name](image) for name in wanted}
    values = {name: fit.scores[name].density.distance(vectors[name]) for name in wanted}
    return values, profile(fit.scores[PROFILE_SCORE].density, vectors[PROFILE_SCORE])



FIT_NAME = Path(layout.SHIFT_FIT).name
"""The fit's file name beside a model's ``weights.pt``."""


def fit_beside(weights: Path | str) -> ShiftFit | None:
    """The shift scores fitted for the model of a weight file (``None``: none was fitted,
    e.g. a model trained before shift scores existed)."""
    path = Path(weights).parent / FIT_NAME
    return ShiftFit.read(path) if path.is_file() else None


@dataclass(frozen=True)
class ImageVerdict:
    """The primary shift score of one input and what it says, and the input's profile
    (:func:`sruq.shift.calibration.profile`, for its shift-aware intervals)."""

    score_name: str
    score: float
    threshold: float
    flagged: bool
    profile: np.ndarray | None = None

    @property
    def text(self) -> str:
        return verdict(self.score, self.threshold, self.score_name)

    def to_dict(self) -> dict[str, Any]:
        return {"score_name": self.score_name, "score": self.score,
                "threshold": self.threshold, "flagged": self.flagged, "verdict": self.text}


def judge_image(fit: ShiftFit, vectorise: Mapping[str, Vectoriser],
                image: np.ndarray) -> ImageVerdict:
    """The verdict of the primary score of ``fit`` on one uint8 LR image, with its
    profile."""
    values, z = score_image(fit, vectorise, image, [fit.primary])
    value, threshold = values[fit.primary], fit.scores[fit.primary].threshold
    return ImageVerdict(fit.primary, value, threshold, value > threshold, z)
