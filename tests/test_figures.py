"""Figures on a small real run (a scikit-image photo, MATLAB LR, interpolation baselines)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import pytest
import skimage.data
import yaml
from docutils.core import publish_parts
from matplotlib.colors import LogNorm
from PIL import Image
from snakemake.iocontainers import Wildcards

from sruq.core.images import modcrop
from sruq.core.io import save_figure, write_image, write_npy
from sruq.degrade.resize import matlab_downscale_uint8
from sruq.evaluation.metrics import psnr, ssim
from sruq.models import build_model
from sruq.models.predict import upscale_image
from sruq.report.figures import (
    comparison_figure,
    comparison_grid,
    heatmap_figure,
    heatmap_grid,
    metric_spread,
    pick_crop,
    training_curves,
    training_figure,
)
from sruq.uncertainty.heatmaps import HeatmapScale

REPO = Path(__file__).resolve().parents[1]
SCALE = 2
METHODS = ("nearest", "bicubic", "lanczos")


@pytest.fixture(scope="module")
def run() -> dict:
    """HR crops of two photos, their x2 LR and three upscalings, with per-image metrics."""
    photos = {"chelsea": skimage.data.chelsea()[60:156, 150:278],
              "camera": skimage.data.camera()[300:396, 200:328, None]}
    hr, outputs, rows = {}, {}, []
    for name, image in photos.items():
        hr[name] = modcrop(image, SCALE)
        lr = matlab_downscale_uint8(hr[name], SCALE)
        outputs[name] = {m: upscale_image(build_model(m, SCALE), lr) for m in METHODS}
        for method, sr in outputs[name].items():
            rows.append({"dataset": "builtin-test", "scale": SCALE, "degradation": "bicubic",
                         "method": method, "image": name,
                         "psnr": psnr(sr, hr[name], SCALE), "ssim": ssim(sr, hr[name], SCALE)})
    return {"hr": hr, "outputs": outputs, "per_image": pd.DataFrame(rows)}


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label)]


def _check_saved(paths: list[Path], fig) -> None:
    png, pdf = paths
    assert (png.suffix, pdf.suffix) == (".png", ".pdf")
    assert png.stat().st_size > 5000 and pdf.stat().st_size > 2000
    assert pdf.read_bytes().startswith(b"%PDF")
    width, height = Image.open(png).size
    expected = fig.get_size_inches() * 150
    assert abs(width - expected[0]) <= 2 and abs(height - expected[1]) <= 2


def test_metric_spread_labels_and_files(run, tmp_path):
    fig = metric_spread(run["per_image"], "builtin-test", SCALE, "bicubic")
    psnr_ax, ssim_ax = fig.axes
    assert psnr_ax.get_ylabel() == "PSNR (dB) ↑" and ssim_ax.get_ylabel() == "SSIM ↑"
    assert psnr_ax.get_xlabel() == "method"
    assert [t.get_text() for t in psnr_ax.get_xticklabels()] == list(METHODS)
    assert "builtin-test ×2, degradation bicubic" in fig.get_suptitle()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["chelsea", "camera"]
    # every image is drawn: the dots of "camera" are its PSNR per method
    camera = run["per_image"].query("image == 'camera'")["psnr"].to_numpy()
    assert np.allclose(psnr_ax.lines[-1].get_ydata(), camera)
    _check_saved(save_figure(fig, tmp_path / "spread"), fig)


def test_metric_spread_rejects_unknown_input(run):
    with pytest.raises(ValueError, match="'Set5'"):
        metric_spread(run["per_image"], "Set5", SCALE, "bicubic")
    with pytest.raises(ValueError, match="'lpips'"):
        metric_spread(run["per_image"], "builtin-test", SCALE, "bicubic", metrics=["lpips"])


def test_save_figure_is_reproducible(run, tmp_path):
    files = []
    for name in ("a", "b"):
        fig = metric_spread(run["per_image"], "builtin-test", SCALE, "bicubic")
        files.append([p.read_bytes() for p in save_figure(fig, tmp_path / name)])
    assert files[0] == files[1]
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_pick_crop_finds_where_outputs_differ():
    hr = np.zeros((60, 80, 1), np.uint8)
    other = hr.copy()
    other[40:48, 10:18] = 200
    assert pick_crop(hr, {"a": hr, "b": other}, 8) == (40, 10, 8, 8)
    top, left, _, _ = pick_crop(hr, {"a": other}, 16, border=5)
    assert 5 <= top <= 60 - 5 - 16 and 5 <= left and top <= 40 and top + 16 >= 48
    with pytest.raises(ValueError, match="crop size"):
        pick_crop(hr, {"a": hr}, 61)


def test_comparison_grid_panels_and_captions(run, tmp_path):
    hr, outputs = run["hr"]["chelsea"], run["outputs"]["chelsea"]
    scores = {m: psnr(outputs[m], hr, SCALE) for m in METHODS}
    fig = comparison_grid(hr, outputs, scores, crop_size=24, border=SCALE, title="chelsea")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("HR, red box 24×24 px\nat row ")
    assert titles[1] == "HR\nreference"
    assert titles[2] == f"bicubic\n{scores['bicubic']:.2f} dB"  # bicubic first
    assert titles[3:] == [f"{m}\n{scores[m]:.2f} dB" for m in ("nearest", "lanczos")]
    best = max(scores, key=scores.get)
    weights = {ax.get_title().split("\n")[0]: ax.title.get_fontweight() for ax in fig.axes[2:]}
    assert weights[best] == "bold" and sum(w == "bold" for w in weights.values()) == 1
    assert len(fig.axes[0].patches) == 1  # the red box
    assert fig.axes[1].images[0].get_array().shape[:2] == (24, 24)
    _check_saved(save_figure(fig, tmp_path / "grid"), fig)


def test_comparison_grid_given_box_and_bad_box(run):
    hr, outputs = run["hr"]["camera"], run["outputs"]["camera"]
    scores = dict.fromkeys(METHODS, 30.0)
    fig = comparison_grid(hr, outputs, scores, box=(10, 20, 30, 40))
    assert fig.axes[1].images[0].get_array().shape == (30, 40)
    with pytest.raises(ValueError, match="box"):
        comparison_grid(hr, outputs, scores, box=(80, 0, 30, 30))
    with pytest.raises(ValueError, match="'lanczos'"):
        comparison_grid(hr, outputs, {"nearest": 1.0, "bicubic": 2.0})


def test_comparison_figure_from_files_uses_table_psnr(run, tmp_path):
    write_image(tmp_path / "hr.png", skimage.data.camera()[300:397, 200:329])  # odd: mod-crop
    paths = {}
    for method, sr in run["outputs"]["camera"].items():
        paths[method] = tmp_path / f"{method}.png"
        write_image(paths[method], sr)
    fig = comparison_figure(run["per_image"], tmp_path / "hr.png", paths, dataset="builtin-test",
                            scale=SCALE, degradation="bicubic", image="camera")
    table = run["per_image"].query("image == 'camera'").set_index("method")["psnr"]
    assert fig.axes[2].get_title() == f"bicubic\n{table['bicubic']:.2f} dB"
    assert "camera: builtin-test ×2" in fig.get_suptitle()


def _mc_like(run, name):
    """Mean of the two smooth interpolators and their spread: a stand-in (mean, std) pair."""
    stack = np.stack([run["outputs"][name][m] / 255.0 for m in ("bicubic", "lanczos")])
    return stack.mean(axis=0), stack.std(axis=0).transpose(2, 0, 1)  # std as (C, H, W)


def test_heatmap_grid_one_scale_for_error_and_std(run, tmp_path):
    hr = run["hr"]["chelsea"]
    mean, std = _mc_like(run, "chelsea")
    scale = HeatmapScale(0.001, 0.05, "viridis", norm="log")
    fig = heatmap_grid(hr, {"model A": (mean, std), "model B": (run["outputs"]["chelsea"]
                                                               ["nearest"], std * 0)},
                       heatmap=scale, sigma_scales={"model A": 3.0})
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 6
    assert [ax.get_ylabel() for ax in image_axes[::3]] == ["model A", "model B"]
    err_image, std_image = image_axes[1].images[0], image_axes[2].images[0]
    for image in (err_image, std_image, image_axes[5].images[0]):  # one scale, every panel
        assert image.get_clim() == (0.001, 0.05)
        assert isinstance(image.norm, LogNorm) and image.get_cmap().name == "viridis"
    assert "sigma-scaled" in image_axes[2].get_title()
    assert "sigma-scaled" not in image_axes[5].get_title()  # model B has no factor
    bars = [ax for ax in fig.axes if not ax.images]
    assert [ax.get_xlabel() for ax in bars] == [
        "|error| and per-pixel std (0..1 intensity, log scale)"]
    assert bars[0]._colorbar.extend == "both"
    expected_error = np.abs(mean - hr / 255.0).mean(axis=2)
    np.testing.assert_allclose(err_image.get_array(), expected_error)
    np.testing.assert_allclose(std_image.get_array(), 3.0 * std.mean(axis=0))
    _check_saved(save_figure(fig, tmp_path / "heat"), fig)


def test_heatmap_grid_widens_a_shifted_images_std(run):
    """A model's widening (its shift-aware interval over the static one on this image)
    multiplies the std it shows, after the sigma scale, and the title says both."""
    hr = run["hr"]["chelsea"]
    mean, std = _mc_like(run, "chelsea")
    fig = heatmap_grid(hr, {"a": (mean, std), "b": (mean, std)},
                       sigma_scales={"a": 3.0, "b": 3.0}, widenings={"a": 2.5})
    axes = [ax for ax in fig.axes if ax.images]
    np.testing.assert_allclose(axes[2].images[0].get_array(), 7.5 * std.mean(axis=0),
                               rtol=1e-6)
    np.testing.assert_allclose(axes[5].images[0].get_array(), 3.0 * std.mean(axis=0),
                               rtol=1e-6)
    assert axes[2].get_title().startswith("std x 3 (sigma-scaled)\nx 2.5 (shift-aware)\n")
    assert "shift-aware" not in axes[5].get_title()


def test_the_heatmaps_read_each_sources_widening_from_its_uncertainty_table(tmp_path):
    """rule uncertainty_figures: a source's ``interval_q`` over ``conformal_q`` on the
    figure's image (its uncertainty-metrics CSV), where that widens it."""
    from sruq.core.io import write_csv
    from sruq.stages.report import _shift_widenings

    tables = {
        "flagged": pd.DataFrame({"image": ["0801", "baboon"], "conformal_q": [2.0, 2.0],
                                 "interval_q": [2.0, 7.0]}),
        "static": pd.DataFrame({"image": ["baboon"], "conformal_q": [2.0],
                                "interval_q": [2.0]}),
        "no-intervals": pd.DataFrame({"image": ["baboon"], "uce": [0.1]}),
    }
    paths = {}
    for name, table in tables.items():
        write_csv(table, paths.setdefault(name, tmp_path / f"{name}.csv"))
    assert _shift_widenings(paths, "baboon") == {"flagged": pytest.approx(3.5)}
    assert _shift_widenings(paths, "0801") == {}  # a leading zero stays part of the name


def test_heatmap_grid_rejects_bad_input(run):
    hr = run["hr"]["chelsea"]
    mean, std = _mc_like(run, "chelsea")
    with pytest.raises(ValueError, match="vmax must exceed vmin"):
        heatmap_grid(hr, {"m": (mean, std)}, heatmap=HeatmapScale(0.1, 0.1))
    with pytest.raises(ValueError, match="std of 'm'"):
        heatmap_grid(hr, {"m": (mean, std[:, :10])})
    with pytest.raises(ValueError, match="mean of 'm'"):
        heatmap_grid(hr, {"m": (mean[:10], std)})


def test_heatmap_figure_from_files_with_box(run, tmp_path):
    mean, std = _mc_like(run, "camera")
    write_image(tmp_path / "hr.png", run["hr"]["camera"])
    write_image(tmp_path / "mean.png", np.floor(mean * 255 + 0.5).astype(np.uint8))
    write_npy(tmp_path / "std.npy", std[0].astype(np.float32))
    fig = heatmap_figure(tmp_path / "hr.png", SCALE,
                         {"mc": (tmp_path / "mean.png", tmp_path / "std.npy")},
                         box=(0, 0, 32, 48), title="camera")
    std_image = [ax for ax in fig.axes if ax.images][2].images[0]
    np.testing.assert_allclose(std_image.get_array(), std[0, :32, :48], rtol=1e-6)


def test_training_curves_from_logs(tmp_path):
    iterations = np.arange(1, 201)
    paths = {}
    for k, name in enumerate(["srresnet", "srresbnn"]):
        log = pd.DataFrame({"iteration": iterations, "loss": 0.2 / np.sqrt(iterations) + k / 100,
                            "valid_psnr": np.where(iterations % 50 == 0, 28 + iterations / 100,
                                                   np.nan), "lr": 1e-4})
        paths[name] = tmp_path / f"{name}.csv"
        log.to_csv(paths[name], index=False)
    fig = training_figure(paths)
    loss_ax, psnr_ax = fig.axes
    assert loss_ax.get_yscale() == "log" and loss_ax.get_ylabel() == "loss (log scale)"
    assert psnr_ax.get_ylabel() == "validation PSNR (dB)" and psnr_ax.get_xlabel() == "iteration"
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == list(paths)
    assert list(psnr_ax.lines[0].get_xdata()) == [50, 100, 150, 200]
    _check_saved(save_figure(fig, tmp_path / "curves"), fig)


def test_training_curves_without_validation_or_loss_column(tmp_path):
    fig = training_curves({"m": pd.DataFrame({"iteration": [1, 2], "loss": [-1.0, -2.0]})})
    assert fig.axes[0].get_yscale() == "linear"  # a negative loss (NLL) stays linear
    assert "no validation PSNR logged" in [t.get_text() for t in fig.axes[1].texts]
    bad = tmp_path / "log.csv"
    pd.DataFrame({"iteration": [1], "valid_psnr": [20.0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="log.csv.*'loss'"):
        training_figure({"m": bad})


@pytest.mark.parametrize("wildcards", [
    {"dataset": "Set5", "scale": "2", "degradation": "bicubic", "image": "baby"}, {},
])
def test_report_captions_render(wildcards):
    """Every caption renders as Snakemake's report does (Jinja2, then docutils, no warnings)."""
    class Snakemake:
        config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

    Snakemake.wildcards = Wildcards(fromdict=wildcards)
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    captions = sorted((REPO / "workflow" / "report").glob("*.rst"))
    assert {"workflow.rst", "data.rst", "training.rst", "heatmaps.rst"} <= {
        p.name for p in captions}
    for path in captions:
        text = env.from_string(path.read_text(encoding="utf-8")).render(snakemake=Snakemake)
        html = publish_parts(text, writer="html",
                             settings_overrides={"halt_level": 2, "report_level": 2})["body"]
        assert "{{" not in html and "{%" not in html, path.name
        if wildcards and path.name == "heatmaps.rst":
            assert "<strong>baby</strong>" in html and "×2" in html
    front = env.from_string((REPO / "workflow" / "report" / "workflow.rst").read_text())
    assert "Test sets: builtin-test" in front.render(snakemake=Snakemake)


def test_training_curves_give_every_run_its_own_colour(tmp_path):
    logs = {}
    for k in range(13):
        path = tmp_path / f"run{k}.csv"
        pd.DataFrame({"iteration": [1, 2], "loss": [1.0 + k, 0.5 + k]}).to_csv(path, index=False)
        logs[f"run{k}"] = path
    fig = training_figure(logs)
    colours = [tuple(line.get_color()) for line in fig.axes[0].get_lines()]
    assert len(colours) == 13 and len(set(colours)) == 13


@pytest.mark.parametrize("shape", [(300, 120), (120, 300), (200, 200)], ids=["portrait",
                                                                           "landscape", "square"])
def test_heatmap_titles_never_run_into_each_other(shape):
    """Each panel title (two lines; the verdict under the mean's) stays inside its own
    column and inside the figure, whatever the image's aspect ratio."""
    from sruq.report.figures import heatmap_grid

    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    std = np.full(shape, 0.01, dtype=np.float32)
    fig = heatmap_grid(hr, {"srresbnn+mcbn": (hr, std), "edsr-ensemble": (hr, std)},
                       sigma_scales={"srresbnn+mcbn": 12.3},
                       verdicts={"srresbnn+mcbn": "unlike the training data (shift 5.31)"})
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    width = fig.bbox.width
    for row in np.array(fig.axes[:6]).reshape(2, 3):
        boxes = [ax.title.get_window_extent(renderer) for ax in row]
        assert all(b.x0 >= 0 and b.x1 <= width for b in boxes)
        for left, right in zip(boxes, boxes[1:], strict=False):
            assert left.x1 < right.x0, (left, right)
    assert "unlike the training data" in fig.axes[0].get_title()


def test_the_shift_figure_shows_static_and_shift_aware_coverage_one_colour_per_method(tmp_path):
    from sruq.uncertainty.plots import plot_shift, shift_figure

    rows = []
    for dataset in ("a", "b"):
        for method in ("m1", "m2"):
            for i, degradation in enumerate(("bicubic", "blur")):
                rows.append({"dataset": dataset, "scale": 2, "method": method,
                             "trained_on": "bicubic", "degradation": degradation,
                             "psnr": 30 - i, "coverage_static": 0.9 - 0.4 * i,
                             "coverage": 0.9 - 0.1 * i, "auroc_lr_statistics": 1.0 if i else None})
    fig = shift_figure(pd.DataFrame(rows))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["PSNR (dB)", "90% coverage, static", "90% coverage, shift-aware",
                      "shift AUROC: lr-statistics"]
    lines = [line for line in fig.axes[0].get_lines() if line.get_label()[0] != "_"]
    style = {line.get_label(): (line.get_color(), line.get_marker()) for line in lines}
    assert style["m1 (trained on bicubic), a x2"][0] == style["m1 (trained on bicubic), b x2"][0]
    assert style["m1 (trained on bicubic), a x2"][0] != style["m2 (trained on bicubic), a x2"][0]
    assert style["m1 (trained on bicubic), a x2"][1] != style["m1 (trained on bicubic), b x2"][1]
    paths = plot_shift(pd.DataFrame(rows), tmp_path / "shift.png")
    assert {p.suffix for p in paths} == {".png", ".pdf"} and all(p.stat().st_size for p in paths)
