"""Uncertainty-quality metrics on synthetic data with known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sruq.core.io import write_npy
from sruq.report.tables import summarise
from sruq.stages.evaluate import calibrate, uncertainty_table
from sruq.stages.report import quality_curves
from sruq.uncertainty.plots import (
    plot_reliability,
    plot_sparsification,
    reliability_figure,
    sparsification_figure,
)
from sruq.uncertainty.quality import (
    STD_FLOOR,
    ause,
    ccoeff_bayescap,
    conformal_quantile,
    conformal_scores,
    fit_sigma_scale,
    gaussian_nll,
    image_mean,
    interval_coverage,
    pearson,
    reliability_diagram_data,
    sparsification_curves,
    spearman,
    uce,
    uce_bayescap,
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
    assert set(metrics) == {"pearson", "spearman", "ause", "uce", "nll", "mean_std",
                            "uce_bayescap", "ccoeff_bayescap"}
    scaled = uncertainty_metrics(std_t, mean - hr, sigma_scale=2.0, conformal_q=1.5)
    assert scaled["uce_scaled"] != scaled["uce"] and scaled["sigma_scale"] == 2.0
    assert scaled["nll_scaled"] == pytest.approx(gaussian_nll(std_t, mean - hr, 2.0))
    assert scaled["conformal_q"] == 1.5 and 0 < scaled["coverage"] < 1
    assert scaled["interval_width"] == pytest.approx(2 * 1.5 * 0.05)
    with pytest.raises(ValueError, match="equal in size"):
        uncertainty_metrics(std_t[:, :10], mean - hr)


def test_figures_are_written(tmp_path: Path) -> None:
    std, error = gaussian_errors(2000)
    curves = {
        "ESRCNN": sparsification_curves(std, error),
        "SRResBNN": sparsification_curves(std[::-1].copy(), error),
    }
    data = {"ESRCNN": reliability_diagram_data(std, error)}
    written = plot_sparsification(curves, {"ESRCNN": 0.01, "SRResBNN": 0.02},
                                  tmp_path / "sparsification")
    written += plot_reliability(data, {"ESRCNN": 1e-4}, tmp_path / "reliability.png")
    assert [p.name for p in written] == [
        "sparsification.png",
        "sparsification.pdf",
        "reliability.png",
        "reliability.pdf",
    ]
    assert all(p.stat().st_size > 1000 for p in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


# --- BayesCap protocol ---------------------------------------------------------------------

ERROR = np.array([0.1, -0.2, 0.3, -0.4])
STD = np.array([0.1, 0.1, 0.2, 0.2])


def test_bayescap_uce_bins_by_squared_error_by_hand() -> None:
    # squared errors 0.01, 0.04, 0.09, 0.16 -> 2 bins over [0.01, 0.16], edge 0.085:
    # bin 1 {0.01, 0.04}: mean 0.025 vs mean variance 0.01 -> gap 0.015, half the pixels;
    # bin 2 {0.09, 0.16}: mean 0.125 vs mean variance 0.04 -> gap 0.085, half the pixels
    assert uce_bayescap(STD, ERROR, bins=2) == pytest.approx(0.5 * 0.015 + 0.5 * 0.085)
    # 4 bins of width 0.0375: 0.01 | 0.04 | 0.09 | 0.16 (the maximum in the last bin)
    gaps = [0.01 - 0.01, 0.04 - 0.01, 0.09 - 0.04, 0.16 - 0.04]
    assert uce_bayescap(STD, ERROR, bins=4) == pytest.approx(np.mean(gaps))
    # one bin: |mean error^2 - mean variance| = |0.075 - 0.025|
    assert uce_bayescap(STD, ERROR, bins=1) == pytest.approx(0.05)
    assert uce_bayescap(np.full(3, 0.1), np.full(3, 0.1)) == pytest.approx(0.0)  # one value
    # binned by squared error, not by variance: with variances 0.04, 0.01, 0.01, 0.01 the
    # error bins {0.01, 0.04} (variance 0.025 = their mean) and {0.09, 0.16} (gap 0.115)
    # give 0.0575; the variance bins {0.04, 0.09, 0.16} (gap 0.0867, 3/4 of the pixels)
    # and {0.01} (gap 0.03, 1/4) give 0.0725
    other = np.array([0.2, 0.1, 0.1, 0.1])
    assert uce_bayescap(other, ERROR, bins=2) == pytest.approx(0.5 * 0.115)
    assert uce(other, ERROR, bins=2) == pytest.approx((0.29 / 3 - 0.01) * 0.75 + 0.03 * 0.25)


def test_bayescap_ccoeff_is_the_correlation_of_squared_error_and_variance() -> None:
    # x = error^2 / 0.01 = 1, 4, 9, 16; y = var / 0.01 = 1, 1, 4, 4:
    # sum dx dy = 30, sum dx^2 = 129, sum dy^2 = 9 -> r = 30 / sqrt(129 * 9)
    assert ccoeff_bayescap(STD, ERROR) == pytest.approx(10 / math.sqrt(129))
    assert math.isnan(ccoeff_bayescap(np.ones(4), ERROR))
    metrics = uncertainty_metrics(STD, ERROR)
    assert metrics["ccoeff_bayescap"] == pytest.approx(10 / math.sqrt(129))
    assert metrics["uce_bayescap"] == pytest.approx(uce_bayescap(STD, ERROR, bins=100))


# --- split-conformal intervals -------------------------------------------------------------


def test_conformal_quantile_rule_by_hand() -> None:
    std = np.ones(9)
    error = np.array([0.5, -0.1, 0.9, 0.3, -0.7, 0.2, 0.8, -0.4, 0.6])
    # n = 9: k = ceil(10 * 0.9) = 9 -> the largest score; k = ceil(10 * 0.5) = 5 -> 0.5
    assert conformal_quantile(error, std, 0.9) == pytest.approx(0.9)
    assert conformal_quantile(error, std, 0.5) == pytest.approx(0.5)
    assert conformal_quantile(error, std, 0.55) == pytest.approx(0.6)  # ceil(5.5) = 6
    assert conformal_quantile(error[:8], std[:8], 0.9) == math.inf  # k = ceil(8.1) = 9 > 8
    # scores divide by the floored std; halves as two images give the same
    scores = conformal_scores([0.0, 0.5], [0.002, -0.002])  # (std, error)
    assert scores.tolist() == pytest.approx([0.002 / STD_FLOOR, 0.004])
    assert conformal_quantile([error[:4], error[4:]], [std[:4], std[4:]], 0.5) == 0.5
    cover, width = interval_coverage(std, error, 0.5)
    assert cover == pytest.approx(5 / 9) and width == pytest.approx(1.0)
    assert interval_coverage([0.0], [0.0], 2.0)[1] == pytest.approx(4 * STD_FLOOR)
    with pytest.raises(ValueError, match="coverage"):
        conformal_quantile(error, std, 1.0)


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95])
def test_conformal_coverage_on_held_out_gaussian_errors(target: float) -> None:
    std, error = gaussian_errors(400_000, factor=3.0, seed=4)  # std off by a factor 3
    q = conformal_quantile(error[::2], std[::2], target)
    coverage, width = interval_coverage(std[1::2], error[1::2], q)
    assert coverage == pytest.approx(target, abs=0.01)
    normal_q = {0.8: 1.2816, 0.9: 1.6449, 0.95: 1.9600}[target]
    assert q == pytest.approx(3.0 * normal_q, rel=0.02)
    assert width == pytest.approx(2 * q * np.mean(std[1::2]))


# --- one AUSE: the figures' legends and the tables -----------------------------------------


def _uncertainty_folder(root: Path, images: int = 3) -> Path:
    rng = np.random.default_rng(9)
    for i in range(images):
        std = rng.uniform(0.005, 0.08, (24 + 4 * i, 20, 1)).astype(np.float32)
        error = rng.normal(0.0, 1.5 * std).astype(np.float32)
        folder = root / f"img{i}"
        folder.mkdir(parents=True)
        write_npy(folder / "std.npy", std)
        write_npy(folder / "error.npy", error)
    return root


def test_figure_legends_show_the_tables_ause_and_uce(tmp_path: Path) -> None:
    folder = _uncertainty_folder(tmp_path / "esrcnn")
    table = uncertainty_table(folder, 2, dataset="d", degradation="bicubic", method="esrcnn",
                              scale_factor=1.3).assign(trained_on="-")
    means = summarise(table).iloc[0]
    curves, bins, legend = quality_curves(folder, 2, sigma_scale=1.3)
    assert legend["ause"] == pytest.approx(means["ause"], rel=1e-12)
    assert legend["uce_scaled"] == pytest.approx(means["uce_scaled"], rel=1e-12)
    assert legend["ause"] != pytest.approx(curves.ause, rel=1e-3)  # pooled differs
    texts = [t.get_text() for t in
             sparsification_figure({"esrcnn": curves}, {"esrcnn": legend["ause"]})
             .axes[0].get_legend().get_texts()]
    assert f"esrcnn (AUSE {means['ause']:.4f})" in texts
    texts = [t.get_text() for t in
             reliability_figure({"esrcnn": bins}, {"esrcnn": legend["uce_scaled"]},
                                "UCE (scaled)").axes[0].get_legend().get_texts()]
    assert f"esrcnn (UCE (scaled) {means['uce_scaled']:.2e})" in texts
    assert image_mean(ause, []) != image_mean(ause, [])  # NaN without images


def test_calibration_file_holds_sigma_scale_and_conformal_q(tmp_path: Path) -> None:
    folder = _uncertainty_folder(tmp_path / "valid")
    out = tmp_path / "calibration.json"
    calibrate({"bicubic": [folder]}, "bicubic", 2, out, coverage=0.8)
    fitted = json.loads(out.read_text())
    assert fitted["sigma_scale"] == pytest.approx(1.5, rel=0.1)
    assert fitted["conformal_q"] == pytest.approx(1.5 * 1.2816, rel=0.1)
    assert fitted["coverage"] == 0.8
    calibrate({}, "bicubic", 2, out)
    assert json.loads(out.read_text())["conformal_q"] is None
