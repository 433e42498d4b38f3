"""How good is a per-pixel uncertainty?  Metrics for one image, and the data for figures.

All functions take the predicted standard deviation ``std`` and the prediction error
(``mean - hr``), arrays of the same shape in [0, 1] intensity units, every element
(pixel and channel) counting once.  Every metric is computed per image; the tables and
the figures' legends give the mean over images of the per-image values
(:func:`image_mean`).

* Pearson / Spearman correlation of ``std`` with ``|error|``.
* AUSE: the area between the sparsification curve (RMSE of the pixels left after removing
  the most uncertain fraction) and the oracle curve (removing the largest errors first),
  over removed fractions in ``[0, 1)`` (Ilg et al. 2018).
* UCE: 15 equal-width bins over the predicted variance ``std**2``; per bin the absolute gap
  between mean squared error and mean variance, weighted by the bin's share of pixels
  (Laves et al. 2020).  :func:`fit_sigma_scale` fits the single factor ``s`` that minimises
  the Gaussian NLL of ``error ~ N(0, (s std)^2)`` on validation images (sigma scaling).
* Gaussian NLL per pixel, with a small variance floor.
* BayesCap protocol (Upadhyay et al. 2022, ``get_UCE`` and ``np.corrcoef`` in
  ExplainableML/BayesCap ``src/utils.py``), on the raw (unscaled) std:
  ``uce_bayescap`` bins the pixels by their *squared error* ``error**2`` into 100
  equal-width bins over ``[min, max]`` of the squared error and sums, over the bins, the
  bin's share of pixels times ``|mean error**2 - mean std**2|``; ``ccoeff_bayescap`` is the
  Pearson correlation of ``error**2`` with ``std**2``.  BayesCap pools a subsample of the
  pixels of all test images; here, as for every metric, per image, then the mean over
  images (``docs/metrics.md`` lists the differences).
* Split-conformal intervals ``mean ± q max(std, STD_FLOOR)``: :func:`conformal_quantile`
  fits ``q`` on the validation pixels' scores ``|error| / max(std, STD_FLOOR)`` (the
  ``ceil((n + 1) coverage)``-th smallest of the n scores); :func:`interval_coverage` gives
  a test image's share of pixels inside its interval and the interval's mean width.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from sruq.core.arrays import ArrayLike, as_array

VAR_FLOOR = 1e-6
"""Variance floor for the NLL and sigma scaling (std 1e-3, a quarter of an 8-bit level)."""
STD_FLOOR = math.sqrt(VAR_FLOOR)
"""Std floor of the conformal scores and intervals (the std of :data:`VAR_FLOOR`)."""
BAYESCAP_BINS = 100
"""Bins of the BayesCap UCE (the default of BayesCap's ``get_UCE``)."""

def _array(x: ArrayLike) -> np.ndarray:
    return as_array(x).astype(np.float64, copy=False).ravel()

def _pair(std: ArrayLike, error: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s, e = _array(std), _array(error)
    if s.shape != e.shape or s.size == 0:
        raise ValueError(
            f"std and error must be non-empty and equal in size, got {s.size}, {e.size}"
        )
    return s, e

def pearson(std: ArrayLike, error: ArrayLike) -> float:
    """Pearson correlation of ``std`` with ``|error|`` (NaN when either is constant)."""
    s, e = _pair(std, error)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.pearsonr(s, np.abs(e)).statistic)

def spearman(std: ArrayLike, error: ArrayLike, max_points: int = 200_000, seed: int = 0) -> float:
    """Spearman rank correlation of ``std`` with ``|error|`` on at most ``max_points``
    elements, drawn without replacement by a generator seeded with ``seed``."""
    s, e = _pair(std, error)
    if s.size > max_points:
        keep = np.random.default_rng(seed).choice(s.size, size=max_points, replace=False)
        s, e = s[keep], e[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(s, np.abs(e)).statistic)

@dataclass(frozen=True)
class SparsificationCurves:
    """RMSE of the remaining pixels after removing ``fractions`` of them, two orders."""

    fractions: np.ndarray
    uncertainty: np.ndarray
    oracle: np.ndarray

    @property
    def ause(self) -> float:
        """Area between the uncertainty and oracle curves (x = fraction removed)."""
        return float(np.trapezoid(self.uncertainty - self.oracle, self.fractions))

def _remaining_rmse(order_key: np.ndarray, sq_err: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """RMSE after removing the ``fractions`` of elements with the largest ``order_key``."""
    order = np.argsort(-order_key, kind="stable")
    tail = np.cumsum(sq_err[order][::-1])[::-1]  # tail[i] = sum of sq_err[order[i:]]
    removed = np.floor(fractions * sq_err.size).astype(np.int64)
    return np.sqrt(tail[removed] / (sq_err.size - removed))

def sparsification_curves(
    std: ArrayLike, error: ArrayLike, steps: int = 50
) -> SparsificationCurves:
    """Sparsification and oracle curves at removed fractions ``0, 1/steps, ..., 1 - 1/steps``."""
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    s, e = _pair(std, error)
    fractions = np.arange(steps) / steps
    sq = e**2
    return SparsificationCurves(
        fractions, _remaining_rmse(s, sq, fractions), _remaining_rmse(np.abs(e), sq, fractions)
    )

def ause(std: ArrayLike, error: ArrayLike, steps: int = 50) -> float:
    """Area under the sparsification error (0 for an uncertainty that orders like |error|)."""
    return sparsification_curves(std, error, steps).ause

@dataclass(frozen=True)
class ReliabilityData:
    """Per variance bin: pixel count, mean squared error and mean predicted variance."""

    edges: np.ndarray
    counts: np.ndarray
    mse: np.ndarray
    mean_var: np.ndarray

    @property
    def uce(self) -> float:
        """Uncertainty calibration error: share-weighted mean of ``|mse - mean_var|``."""
        filled = self.counts > 0
        gaps = np.abs(self.mse[filled] - self.mean_var[filled])
        return float(np.sum(self.counts[filled] * gaps) / np.sum(self.counts))

def reliability_diagram_data(
    std: ArrayLike, error: ArrayLike, bins: int = 15, sigma_scale: float = 1.0
) -> ReliabilityData:
    """Bin the elements by predicted variance ``(sigma_scale * std)**2`` into ``bins``
    equal-width bins over ``[0, max]``."""
    if bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    s, e = _pair(std, error)
    var = (sigma_scale * s) ** 2
    top = float(var.max()) if var.max() > 0 else 1.0
    edges = np.linspace(0.0, top, bins + 1)
    index = np.minimum((var / top * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mse = np.bincount(index, weights=e**2, minlength=bins) / counts
        mean_var = np.bincount(index, weights=var, minlength=bins) / counts
    return ReliabilityData(edges, counts, mse, mean_var)

def uce(std: ArrayLike, error: ArrayLike, bins: int = 15, sigma_scale: float = 1.0) -> float:
    """Uncertainty calibration error of ``sigma_scale * std`` (see module docs)."""
    return reliability_diagram_data(std, error, bins, sigma_scale).uce

def gaussian_nll(
    std: ArrayLike, error: ArrayLike, sigma_scale: float = 1.0, var_floor: float = VAR_FLOOR
) -> float:
    """Mean per-element NLL of ``error`` under ``N(0, max((sigma_scale * std)^2, var_floor))``."""
    s, e = _pair(std, error)
    var = np.maximum((sigma_scale * s) ** 2, var_floor)
    return float(np.mean(0.5 * np.log(2 * math.pi * var) + e**2 / (2 * var)))

def fit_sigma_scale(
    errors: ArrayLike | Iterable[ArrayLike],
    stds: ArrayLike | Iterable[ArrayLike],
    var_floor: float = VAR_FLOOR,
) -> float:
    """Sigma-scaling factor ``s`` minimising the Gaussian NLL over validation pixels.

    Closed form: ``s^2 = mean(error^2 / max(std^2, var_floor))``.  ``errors``/``stds`` are
    one array each or matching sequences of arrays (one per image).
    """
    e = _concat(errors)
    s = _concat(stds)
    s, e = _pair(s, e)
    return float(math.sqrt(np.mean(e**2 / np.maximum(s**2, var_floor))))

def _concat(values: ArrayLike | Iterable[ArrayLike]) -> np.ndarray:
    if isinstance(values, np.ndarray) or hasattr(values, "detach"):
        return _array(values)
    return np.concatenate([_array(v) for v in values])

def uce_bayescap(std: ArrayLike, error: ArrayLike, bins: int = BAYESCAP_BINS) -> float:
    """BayesCap's UCE: the elements binned by squared error ``error**2`` into ``bins``
    equal-width bins over its ``[min, max]`` (the maximum in the last bin), then the sum
    over bins of the bin's share of elements times ``|mean error**2 - mean std**2|``."""
    if bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    s, e = _pair(std, error)
    sq, var = e**2, s**2
    low, span = float(sq.min()), float(sq.max() - sq.min())
    index = (np.minimum(((sq - low) / span * bins).astype(np.int64), bins - 1) if span > 0
             else np.zeros(sq.size, np.int64))
    gaps = np.abs(np.bincount(index, weights=sq, minlength=bins)
                  - np.bincount(index, weights=var, minlength=bins))
    return float(gaps.sum() / sq.size)  # = sum_b n_b / n * |mean_b(sq) - mean_b(var)|


def ccoeff_bayescap(std: ArrayLike, error: ArrayLike) -> float:
    """BayesCap's C.Coeff: Pearson correlation of ``error**2`` with the predicted variance
    ``std**2`` (NaN when either is constant)."""
    s, e = _pair(std, error)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.pearsonr(s**2, e**2).statistic)


def conformal_scores(std: ArrayLike, error: ArrayLike,
                     std_floor: float = STD_FLOOR) -> np.ndarray:
    """Nonconformity score of every element: ``|error| / max(std, std_floor)``."""
    s, e = _pair(std, error)
    return np.abs(e) / np.maximum(s, std_floor)


def conformal_quantile(
    errors: ArrayLike | Iterable[ArrayLike],
    stds: ArrayLike | Iterable[ArrayLike],
    coverage: float = 0.9,
    std_floor: float = STD_FLOOR,
) -> float:
    """Split-conformal factor ``q`` for intervals ``mean ± q max(std, std_floor)`` that hold
    a share ``coverage`` of the elements: the ``k``-th smallest of the ``n`` calibration
    scores (:func:`conformal_scores`), ``k = ceil((n + 1) coverage)``; ``inf`` when
    ``k > n``.  ``errors``/``stds`` as for :func:`fit_sigma_scale`."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must lie strictly between 0 and 1, got {coverage!r}")
    scores = conformal_scores(_concat(stds), _concat(errors), std_floor)
    n = scores.size
    rank = (n + 1) * coverage
    k = math.ceil(rank - 1e-9 * rank)  # (n + 1) coverage may be an integer up to rounding
    if k > n:
        return math.inf
    return float(np.partition(scores, k - 1)[k - 1])


def interval_coverage(std: ArrayLike, error: ArrayLike, q: float,
                      std_floor: float = STD_FLOOR) -> tuple[float, float]:
    """``(coverage, width)`` of the intervals ``mean ± q max(std, std_floor)``: the share of
    elements whose HR value lies inside (score ``<= q``) and the mean width
    ``2 q max(std, std_floor)`` in intensity units."""
    s, e = _pair(std, error)
    floored = np.maximum(s, std_floor)
    return float(np.mean(np.abs(e) / floored <= q)), float(np.mean(2 * q * floored))


def image_mean(metric: Callable[[np.ndarray, np.ndarray], float],
               images: Iterable[tuple[ArrayLike, ArrayLike]]) -> float:
    """The mean over images of ``metric(std, error)`` per image, for ``(std, error)`` pairs:
    how the tables aggregate a metric, and the number the figures' legends show."""
    values = [metric(_array(std), _array(error)) for std, error in images]
    return float(np.mean(values)) if values else float("nan")


def uncertainty_metrics(
    std: ArrayLike,
    error: ArrayLike,
    *,
    sigma_scale: float | None = None,
    conformal_q: float | None = None,
    bins: int = 15,
    steps: int = 50,
    max_spearman: int = 200_000,
    seed: int = 0,
    var_floor: float = VAR_FLOOR,
) -> dict[str, float]:
    """All per-image uncertainty-quality numbers of a std against the error (prediction -
    HR): ``pearson``, ``spearman``, ``ause``, ``uce``, ``nll``, ``mean_std`` (the
    image-level uncertainty, e.g. for shift detection), the BayesCap protocol's
    ``uce_bayescap`` and ``ccoeff_bayescap``; with ``sigma_scale`` also ``uce_scaled`` and
    ``nll_scaled``; with ``conformal_q`` (:func:`conformal_quantile` on the validation
    images) the ``coverage`` and mean ``interval_width`` of its intervals."""
    s, error = _pair(std, error)
    metrics = {
        "pearson": pearson(s, error),
        "spearman": spearman(s, error, max_spearman, seed),
        "ause": ause(s, error, steps),
        "uce": uce(s, error, bins),
        "nll": gaussian_nll(s, error, var_floor=var_floor),
        "mean_std": float(s.mean()),
        "uce_bayescap": uce_bayescap(s, error),
        "ccoeff_bayescap": ccoeff_bayescap(s, error),
    }
    if sigma_scale is not None:
        metrics["sigma_scale"] = float(sigma_scale)
        metrics["uce_scaled"] = uce(s, error, bins, sigma_scale)
        metrics["nll_scaled"] = gaussian_nll(s, error, sigma_scale, var_floor)
    if conformal_q is not None:
        metrics["conformal_q"] = float(conformal_q)
        metrics["coverage"], metrics["interval_width"] = interval_coverage(s, error, conformal_q)
    return metrics


def auroc(positive: ArrayLike, negative: ArrayLike) -> float:
    """Area under the ROC curve of telling ``positive`` scores from ``negative`` ones by
    thresholding (higher = positive): the probability that a random positive scores above
    a random negative, ties counting one half (the Mann-Whitney U statistic / n+ n-).
    1.0 = always separated, 0.5 = blind; NaN when either side is empty."""
    pos, neg = _array(positive), _array(negative)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    ranks = stats.rankdata(np.concatenate([pos, neg]))  # average ranks for ties
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))
