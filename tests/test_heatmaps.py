"""Heatmaps on a fixed scale, most/least certain patch details, and per-image output files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sruq.core.io import read_image
from sruq.core.tensors import to_uint8
from sruq.uncertainty.details import rank_patches, save_details
from sruq.uncertainty.heatmaps import (
    DEFAULT_SCALE,
    RECIPE_SCALE,
    HeatmapScale,
    colorbar_png,
    heatmap_rgb,
    save_colorbar,
    save_heatmap,
)
from sruq.uncertainty.mc import MCResult
from sruq.uncertainty.outputs import save_outputs

CYAN, MAGENTA = [0, 255, 255], [255, 0, 255]  # the ends of matplotlib's 'cool'


def test_seed_scale_is_fixed_linear_and_clips() -> None:
    values = np.array([[0.0, 0.05, 0.1, 0.7, -0.2]])
    rgb = heatmap_rgb(values, RECIPE_SCALE)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 5, 3)
    assert rgb[0, 0].tolist() == CYAN and rgb[0, 4].tolist() == CYAN
    assert rgb[0, 2].tolist() == MAGENTA and rgb[0, 3].tolist() == MAGENTA
    assert rgb[0, 1].tolist() not in (CYAN, MAGENTA)
    wider = heatmap_rgb(values, replace(RECIPE_SCALE, vmax=1.4))  # other colours, same value
    assert wider[0, 3].tolist() != MAGENTA
    hsv = heatmap_rgb(values, replace(RECIPE_SCALE, style="hsv"))
    assert hsv[0, 0].tolist() == [0, 0, 255] and hsv[0, 3].tolist() == [255, 0, 0]


@pytest.mark.parametrize("bad, message", [
    (dict(vmin=0.1, vmax=0.1), "vmax must exceed vmin"),
    (dict(vmin=0.0), "log scale needs vmin > 0"),
    (dict(cmap="no-such-map"), "cmap"),
    (dict(norm="sqrt"), "norm must be one of"),
    (dict(style="rainbow"), "style must be one of"),
])
def test_bad_scales_are_refused_when_built(bad, message) -> None:
    with pytest.raises(ValueError, match=message):
        HeatmapScale(**bad)


def test_default_log_scale_spreads_a_typical_std_over_the_ramp() -> None:
    """An MC-dropout std as the default run measures it (SRResBNN x2: log-normal-like,
    median 0.003, p5..p95 a factor of 16 apart; sigma scaling multiplies it by about 4)
    covers half of the default log ramp; the seed's linear 0..0.1 ramp squeezes the raw
    values into its bottom tenth."""
    rng = np.random.default_rng(0)
    raw = np.exp(rng.normal(np.log(0.003), np.log(16) / 3.29, size=(200, 200)))
    p5, p95 = np.percentile(raw, [5, 95])
    assert 14 < p95 / p5 < 18

    def spread(scale: HeatmapScale, std: np.ndarray) -> float:
        position = scale.position(std)
        return float(np.percentile(position, 95) - np.percentile(position, 5))

    assert 0.5 < spread(DEFAULT_SCALE, 4 * raw) < 0.7
    assert spread(DEFAULT_SCALE, raw) > 0.3  # still readable without sigma scaling
    assert spread(RECIPE_SCALE, raw) < 0.15
    # one fixed scale: the same value gets the same colour in any image
    a = heatmap_rgb(np.array([[0.01, 0.001]]))
    b = heatmap_rgb(np.array([[0.01, 0.1]]))
    assert a[0, 0].tolist() == b[0, 0].tolist()
    assert DEFAULT_SCALE.position(np.array([[0.002, 0.02, 0.2, 0.0]])).tolist() == [
        [0.0, 0.5, 1.0, 0.0]]


def test_heatmap_and_colorbar_files(tmp_path: Path) -> None:
    std = torch.linspace(0, 0.2, 3 * 8 * 12).reshape(3, 8, 12)
    save_heatmap(tmp_path / "heatmap.png", std)
    assert np.array_equal(read_image(tmp_path / "heatmap.png"), heatmap_rgb(std))
    save_colorbar(tmp_path / "colorbar.png")
    bar = read_image(tmp_path / "colorbar.png")
    assert bar.shape[0] > 100 and bar.shape[2] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colorbar.png", "heatmap.png"]


def test_planted_uncertain_region_ranks_first(tmp_path: Path) -> None:
    scale, patch = 2, 8
    gen = torch.Generator().manual_seed(0)
    lr = torch.rand(3, 12, 16, generator=gen)
    mean = torch.rand(3, 24, 32, generator=gen)
    std = torch.full((3, 24, 32), 0.02)
    std[:, 8:16, 16:24] = 0.09  # grid cell (1, 2)
    std[:, 0:8, 24:32] = 0.05  # grid cell (0, 3)
    std[:, 16:24, 0:8] = 0.001  # grid cell (2, 0), the most certain
    ranking = rank_patches(std, patch)
    assert [(p.row, p.col) for p in ranking[:2]] == [(1, 2), (0, 3)]
    assert (ranking[0].top, ranking[0].left) == (8, 16)
    assert ranking[0].score == pytest.approx(0.09)
    chosen = save_details(tmp_path / "details", lr, mean, std, scale, patch=patch, count=2)
    assert (chosen["most_certain"][0].row, chosen["most_certain"][0].col) == (2, 0)
    for group in ("most_certain", "least_certain"):
        names = sorted(p.name for p in (tmp_path / "details" / group).iterdir())
        assert names == sorted(
            f"{kind}_{i}.png"
            for kind in ("original_lr_patch", "mean_pred_patch", "heatmap")
            for i in (1, 2)
        )
    least = tmp_path / "details" / "least_certain"
    assert np.array_equal(read_image(least / "original_lr_patch_1.png"), to_uint8(lr[:, 4:8, 8:12]))
    assert np.array_equal(
        read_image(least / "mean_pred_patch_1.png"), to_uint8(mean[:, 8:16, 16:24])
    )
    assert (
        read_image(least / "heatmap_1.png")[0, 0].tolist()
        == heatmap_rgb(np.full((1, 1), 0.09))[0, 0].tolist()
    )
    with pytest.raises(ValueError, match="multiple of scale"):
        save_details(tmp_path / "d2", lr, mean, std, scale=3, patch=8)


def test_save_outputs_writes_clipped_pngs_and_float_maps(tmp_path: Path) -> None:
    mean = torch.tensor([[[1.2, 0.5], [-0.1, 0.5 / 255]]]).repeat(3, 1, 1)
    std = torch.rand(3, 2, 2, generator=torch.Generator().manual_seed(0)) / 10
    result = MCResult(mean=mean, std=std, one_pass=mean, samples=4)
    hr = torch.zeros(3, 2, 2)
    paths = save_outputs(tmp_path, result, hr)
    assert sorted(paths) == ["error.npy", "mc_mean.png", "one_pass.png", "std.npy"]
    png = read_image(paths["mc_mean.png"])
    assert png[:, :, 0].tolist() == [[255, 128], [0, 1]]  # clipped, rounded half up
    saved = np.load(paths["std.npy"])
    assert saved.dtype == np.float32 and saved.shape == (2, 2, 3)
    assert np.array_equal(saved, std.numpy().transpose(1, 2, 0))
    assert np.allclose(np.load(paths["error.npy"])[:, :, 0], [[1.2, 0.5], [-0.1, 0.5 / 255]])
    with pytest.raises(ValueError, match="hr shape"):
        save_outputs(tmp_path, result, torch.zeros(3, 4, 4))


def test_the_colour_bar_is_drawn_once_per_scale_and_label(tmp_path: Path) -> None:
    """Every image of a job gets the same bar: one drawing, the same bytes in every
    folder; another label or scale is another drawing."""
    colorbar_png.cache_clear()
    for folder in ("a", "b"):
        save_colorbar(tmp_path / folder / "colorbar.png", DEFAULT_SCALE, "per-pixel std x 2")
    first, second = ((tmp_path / f / "colorbar.png").read_bytes() for f in ("a", "b"))
    assert first == second and colorbar_png.cache_info().misses == 1
    assert colorbar_png(DEFAULT_SCALE, "per-pixel std") != first
    assert colorbar_png(RECIPE_SCALE, "per-pixel std x 2") != first
    assert read_image(tmp_path / "a" / "colorbar.png").shape[2] == 3
