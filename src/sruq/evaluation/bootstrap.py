"""Paired bootstrap confidence intervals of a method's mean PSNR difference to a reference.

For one dataset x scale x degradation, each method's per-image PSNR is paired with the
reference method's on the same image, ``d_i = PSNR_method(i) - PSNR_reference(i)``; the
images are resampled with replacement ``samples`` times (the same image indices for both
methods, so the pairing is kept) and the interval is the 2.5th and 97.5th percentile of
the resampled mean differences (percentile bootstrap, 95%).  The resampling stream comes
from the run's seed and the block's names (:func:`sruq.core.images.image_seed`), so a rerun
gives the same intervals and every method of a block is resampled with the same indices.
Numpy and pandas only (the tables step has no torch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sruq.core.images import image_seed

DEFAULT_REFERENCE = "bicubic"
"""The reference method when ``metrics.bootstrap_reference`` is not set."""
DEFAULT_SAMPLES = 1000
LEVEL = 0.95
COLUMNS = ("dpsnr", "dpsnr_low", "dpsnr_high")
"""The comparison CSV's columns: mean difference to the reference and its interval."""


def paired_interval(differences: Sequence[float] | np.ndarray, samples: int,
                    rng: np.random.Generator, level: float = LEVEL) -> tuple[float, float, float]:
    """``(mean, low, high)`` of per-image paired differences: their mean and the percentile
    bootstrap interval of the mean at ``level`` (NaN bounds for fewer than two images)."""
    d = np.asarray(differences, dtype=np.float64)
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    if d.size < 2:
        return float(d.mean()), float("nan"), float("nan")
    means = d[rng.integers(0, d.size, size=(samples, d.size))].mean(axis=1)
    low, high = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(d.mean()), float(low), float(high)


def reference_differences(images: pd.DataFrame, reference: str, *, samples: int, seed: int,
                          stream: Sequence[str], metric: str = "psnr") -> pd.DataFrame | None:
    """Per row ``label`` of one block's per-image table (columns ``label``, ``image`` and
    ``metric``): the mean difference of ``metric`` to the ``reference`` label's on the
    same images and its bootstrap interval (columns :data:`COLUMNS`, indexed by label;
    NaN for the reference itself).  ``stream`` names the block for the seed; ``None`` when
    the reference has no rows here."""
    if samples < 1:
        raise ValueError(f"metrics.bootstrap_samples must be positive, got {samples!r}")
    values = images.pivot(index="image", columns="label", values=metric)
    if reference not in values.columns:
        return None
    rows = {}
    for label in dict.fromkeys(images["label"]):
        if label == reference:
            rows[label] = (float("nan"),) * 3
            continue
        pairs = values[[label, reference]].dropna()
        rows[label] = paired_interval((pairs[label] - pairs[reference]).to_numpy(), samples,
                                      image_seed(seed, *stream))
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))


def with_differences(block: pd.DataFrame, block_labels: Sequence[str], images: pd.DataFrame,
                     reference: str, samples: int, seed: int,
                     stream: Sequence[str]) -> pd.DataFrame:
    """A comparison ``block`` (rows named ``block_labels``) with the :data:`COLUMNS` of
    :func:`reference_differences` on its per-image rows ``images``; unchanged when the
    reference has no rows there."""
    diffs = reference_differences(images, reference, samples=samples, seed=seed, stream=stream)
    if diffs is None:
        return block
    return block.assign(**{c: diffs[c].reindex(block_labels).to_numpy() for c in COLUMNS})
