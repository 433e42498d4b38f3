"""Uncertainty-quality metrics on synthetic data with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sruq.uncertainty.plots import plot_reliability, plot_sparsification
from sruq.uncertainty.quality import (
    ause,
    fit_sigma_scale,
    gaussian_nll,
    pearson,
    reliability_diagram_data,
    sparsification_curves,
    spearman,
    uce,
    uncertainty_metrics,
)


def gaussian_errors(n: int, factor: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Predicted stds in [0.01, 0.1] and errors drawn with ``factor`` times those stds."""
    rng = np.random.default_rng(seed)
    std = rng.uniform(0.01, 0.1, n)
    return std, rng.normal(0.0, factor * std)


def test_ause_is_zero_for_perfect_and_positive_for_shuffled_uncertainty() -> None:
    rng = np.random.default_rng(1)
    error = rng.normal(0, 0.05, (3, 40, 40))
    assert ause(np.abs(error), error) == pytest.approx(0.0, abs=1e-12)
    shuffled = rng.permutation(np.abs(error).ravel()).reshape(error.shape)
    assert ause(shuffled, error) > 0.01
    curves = sparsification_curves(shuffled, error, steps=50)
    assert curves.fractions[0] == 0 and curves.fractions[-1] == pytest.approx(0.98)
    assert curves.uncertainty[0] == pytest.approx(math.sqrt(np.mean(error**2)))
    assert np.all(curves.oracle <= curves.uncertainty + 1e-12)
    assert np.all(np.diff(curves.oracle) <= 1e-12)


def test_uce_is_near_zero_when_calibrated_and_sigma_scaling_recovers_the_factor() -> None:
    std, error = gaussian_errors(400_000)
    mean_var = float(np.mean(std**2))
    assert uce(std, error) < 0.02 * mean_var
    same_std, wide = gaussian_errors(400_000, factor=2.5)
    assert np.array_equal(same_std, std)
    assert uce(std, wide) > 4 * mean_var  # MSE is 6.25x the variance
    s = fit_sigma_scale(wide, std)
    assert s == pytest.approx(2.5, rel=0.01)
    halves = fit_sigma_scale([wide[:1000], wide[1000:]], [std[:1000], std[1000:]])
    assert halves == pytest.approx(s, rel=1e-12)
    assert uce(std, wide, sigma_scale=s) < 0.05 * uce(std, wide)


def test_gaussian_nll_known_values() -> None:
    std, error = np.full(10, 0.1), np.full(10, 0.1)
    assert gaussian_nll(std, error) == pytest.approx(0.5 * math.log(2 * math.pi * 0.01) + 0.5)
    std, error = gaussian_errors(400_000)
    expected = float(np.mean(0.5 * np.log(2 * math.pi * std**2))) + 0.5
    assert gaussian_nll(std, error) == pytest.approx(expected, abs=0.01)
    floored = gaussian_nll(np.zeros(4), np.zeros(4), var_floor=1e-6)
    assert floored == pytest.approx(0.5 * math.log(2 * math.pi * 1e-6))


def test_correlations() -> None:
    rng = np.random.default_rng(2)
    error = rng.normal(0, 0.05, 5000)
    assert pearson(np.abs(error), error) == pytest.approx(1.0)
    assert spearman(np.abs(error), error) == pytest.approx(1.0)
    noisy = np.abs(error) + rng.uniform(0, 0.05, 5000)
    sub = spearman(noisy, error, max_points=1000, seed=3)
    assert sub == spearman(noisy, error, max_points=1000, seed=3)
    assert 0.2 < sub < 0.99
    assert math.isnan(pearson(np.ones(10), rng.normal(size=10)))


def test_reliability_data_and_metrics_dict() -> None:
    std, error = gaussian_errors(10_000)
    data = reliability_diagram_data(std, error, bins=15)
    assert data.counts.sum() == 10_000 and len(data.edges) == 16
    assert data.edges[-1] == pytest.approx(float(np.max(std**2)))
    hr = torch.rand(3, 20, 30, generator=torch.Generator().manual_seed(0))
    std_t = torch.full_like(hr, 0.05)
    mean = hr + 0.05 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(1))
    metrics = uncertainty_metrics(std_t, mean - hr)
    assert set(metrics) == {"pearson", "spearman", "ause", "uce", "nll"}
    scaled = uncertainty_metrics(std_t, mean - hr, sigma_scale=2.0)
    assert scaled["uce_scaled"] != scaled["uce"] and scaled["sigma_scale"] == 2.0
    assert scaled["nll_scaled"] == pytest.approx(gaussian_nll(std_t, mean - hr, 2.0))
    with pytest.raises(ValueError, match="equal in size"):
        uncertainty_metrics(std_t[:, :10], mean - hr)


def test_figures_are_written(tmp_path: Path) -> None:
    std, error = gaussian_errors(2000)
    curves = {
        "ESRCNN": sparsification_curves(std, error),
        "SRResBNN": sparsification_curves(std[::-1].copy(), error),
    }
    data = {"ESRCNN": reliability_diagram_data(std, error)}
    written = plot_sparsification(curves, tmp_path / "sparsification")
    written += plot_reliability(data, tmp_path / "reliability.png")
    assert [p.name for p in written] == [
        "sparsification.png",
        "sparsification.pdf",
        "reliability.png",
        "reliability.pdf",
    ]
    assert all(p.stat().st_size > 1000 for p in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
