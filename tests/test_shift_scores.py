"""Image-level shift scores: the Gaussian density, the LR statistics, fitting on training
and validation images only, the fitted file, the shift-aware conformal factor and the shift
table's score columns."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sruq.core.images import image_seed, modcrop
from sruq.core.io import write_image
from sruq.data.datasets import BUILTIN
from sruq.degrade import PRESETS
from sruq.degrade.presets import degrade_uint8
from sruq.shift.calibration import (
    ALL,
    PROFILE_COLUMNS,
    ValidationImage,
    Widening,
    image_q,
    left_out,
    row_widening,
    shown_widening,
)
from sruq.shift.scores import (
    FLAG_COLUMN,
    GaussianDensity,
    ShiftFit,
    ShiftScore,
    input_vectoriser,
    score_column,
    verdict,
)
from sruq.shift.statistics import lr_statistics, tiles
from sruq.shift.table import shift_markdown, shift_table
from sruq.stages.evaluate import calibrate
from sruq.uncertainty.quality import auroc, conformal_quantile, interval_coverage


def test_a_density_scores_a_shifted_gaussian_high_and_an_unshifted_one_at_chance():
    rng = np.random.default_rng(0)
    density = GaussianDensity.fit(rng.normal(size=(500, 6)))
    same = [density.distance(v) for v in rng.normal(size=(200, 6))]
    other = [density.distance(v) for v in rng.normal(size=(200, 6))]
    shifted = [density.distance(v) for v in rng.normal(loc=1.5, size=(200, 6))]
    assert auroc(shifted, same) > 0.95
    assert abs(auroc(other, same) - 0.5) < 0.08
    back = GaussianDensity.from_dict(json.loads(json.dumps(density.to_dict())))
    assert back.distance(np.ones(6)) == pytest.approx(density.distance(np.ones(6)))


def _lr(name: str, degradation: str) -> np.ndarray:
    hr = modcrop(np.asarray(BUILTIN[name]()), 2)
    return degrade_uint8(hr, dict(PRESETS[degradation]), 2, image_seed(0, degradation, name))[0]


def test_lr_statistics_move_the_way_each_degradation_pushes_them():
    clean = lr_statistics(_lr("chelsea", "bicubic"))
    blurred = lr_statistics(_lr("chelsea", "gauss-blur-bicubic"))
    noisy = lr_statistics(_lr("chelsea", "noisy"))
    jpeg = lr_statistics(_lr("chelsea", "jpeg"))
    assert blurred[1] < clean[1] - 2  # the top band of the spectrum is gone
    assert noisy[2] > clean[2] + 1  # the quiet blocks are no longer quiet
    assert jpeg[3] > clean[3] + 0.2  # the 8-pixel grid shows
    cut = tiles(np.zeros((200, 50)))  # rows of 96 every 64 (tops 0 and 64); a short side whole
    assert [t.shape for t in cut] == [(96, 50), (96, 50)]


def test_thresholds_come_from_the_validation_images_only():
    train = [_lr("astronaut", "bicubic"), _lr("retina", "bicubic")]
    valid = [_lr("immunohistochemistry", "bicubic")]
    vectorise = input_vectoriser("lr-statistics")
    score = ShiftScore.fit("lr-statistics", vectorise, train, valid)
    again = ShiftScore.fit("lr-statistics", vectorise, train, valid)
    assert score.threshold == again.threshold
    other = ShiftScore.fit("lr-statistics", vectorise, train, [_lr("coffee", "noisy")])
    assert other.threshold != score.threshold  # the validation images place it
    assert score.score(vectorise, _lr("chelsea", "jpeg")) > score.threshold
    with pytest.raises(ValueError, match="no validation images"):
        ShiftScore.fit("lr-statistics", vectorise, train, [])


def test_a_fit_file_round_trips_and_a_bad_one_is_named(tmp_path):
    density = GaussianDensity(np.zeros(1), np.eye(1))
    fit = ShiftFit({"laplacian": ShiftScore("laplacian", density, 2.0)}, "laplacian", 0.95,
                   {"train": "t"})
    fit.write(tmp_path / "shift.json")
    back = ShiftFit.read(tmp_path / "shift.json")
    assert back.flagged({"laplacian": 2.5}) and not back.flagged({"laplacian": 1.5})
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match=r"bad.json: not a sruq shift-score file"):
        ShiftFit.read(tmp_path / "bad.json")
    assert verdict(2.5, 2.0, "laplacian").startswith("unlike the training data")
    assert verdict(1.5, 2.0, "laplacian").startswith("looks like the training data")


def _images(rng: np.random.Generator, n: int, degradation: str, wide: float,
            ) -> list[ValidationImage]:
    """``n`` synthetic images: a profile whose first deviation is ``-wide`` (say, blur
    lowering a band ratio) and an error ``exp(0.5 wide)`` times wider than the std claims."""
    out = []
    for _ in range(n):
        z = rng.normal(0, 0.3, 4)
        z[0] -= wide
        std = rng.uniform(0.01, 0.03, (48, 48))
        error = rng.normal(0, 1, (48, 48)) * std * np.exp(0.5 * wide)
        out.append(ValidationImage(degradation, error, std, z))
    return out


def _coverage(images: list[ValidationImage], q) -> float:
    return float(np.mean([interval_coverage(i.std, i.error, q(i.profile))[0] for i in images]))


def test_a_widening_learns_which_way_of_which_statistic_widens_the_intervals():
    rng = np.random.default_rng(0)
    fitted = [*_images(rng, 20, "bicubic", 0.0), *_images(rng, 20, "mild", 2.0),
              *_images(rng, 20, "strong", 4.0)]
    widening = Widening.fit(fitted, "bicubic", 0.9)
    weights = dict(zip([f"+{i}" for i in range(4)] + [f"-{i}" for i in range(4)],
                       widening.weights, strict=True))
    assert weights["-0"] == pytest.approx(0.5, abs=0.1)  # the statistic that moved, its way
    assert max(v for k, v in weights.items() if k != "-0") < 0.2  # the others: noise
    # each shifted degradation is predicted by a fit on the other: no margin needed
    assert widening.margin < 1.15
    # an unseen, stronger shift of the same statistic is covered near the target
    unseen = _images(rng, 20, "stronger", 6.0)
    assert 0.85 <= _coverage(unseen, widening.q) <= 0.97
    static = conformal_quantile([i.error for i in fitted[:20]], [i.std for i in fitted[:20]])
    assert _coverage(unseen, lambda _: static) < 0.3
    assert widening.q(np.zeros(4)) == pytest.approx(static, rel=0.25)  # in distribution
    back = Widening.from_dict(json.loads(json.dumps(widening.to_dict())))
    assert back.q(unseen[0].profile) == pytest.approx(widening.q(unseen[0].profile))
    assert back.fitted_on == ("bicubic", "mild", "strong")


def test_the_margin_is_what_leaving_a_seen_shift_out_cost():
    """One shifted degradation: the fit without it sees nothing move, so it under-states
    that degradation's factor by exp(0.5 * 4); that is the margin every flagged image gets."""
    rng = np.random.default_rng(3)
    fitted = [*_images(rng, 20, "bicubic", 0.0), *_images(rng, 20, "blur", 4.0)]
    widening = Widening.fit(fitted, "bicubic", 0.9)
    assert widening.margin == pytest.approx(math.exp(2.0), rel=0.2)
    assert _coverage(_images(rng, 20, "stronger", 6.0), widening.q) > 0.9  # conservative


def test_a_result_is_judged_by_the_widening_that_never_saw_its_degradation():
    rng = np.random.default_rng(1)
    fit = Widening.fit([*_images(rng, 4, "bicubic", 0.0), *_images(rng, 4, "jpeg", 3.0)],
                       "bicubic")
    widenings = {"blur": fit, ALL: Widening(1.0, np.zeros(8), 1.0, ("bicubic", "blur"))}
    assert left_out(widenings, "blur", "bicubic") is fit
    assert left_out(widenings, "bicubic", "bicubic") is widenings[ALL]  # in distribution
    assert left_out(widenings, None, "bicubic") is widenings[ALL]  # unknown degradation
    assert left_out(widenings, "noisy", "bicubic") is None  # none left noisy out
    z = np.array([-3.0, 0, 0, 0])
    assert image_q(1.6, fit, z, flagged=True) == max(1.6, fit.q(z))
    assert image_q(1.6, fit, np.zeros(4), flagged=False) == 1.6  # like the training data
    assert image_q(1.6, None, z, flagged=True) == 1.6
    assert image_q(1e6, fit, z, flagged=True) == 1e6  # never narrower


def test_sruq_upscale_widens_a_heatmap_as_the_workflow_widens_the_interval():
    """``sruq upscale``'s factor for an input: its interval under the widening fitted on
    every degradation (the input's own is unknown) over the static one; 1 without a
    verdict, a profile, a calibration or a widening, or for an ordinary profile."""
    from sruq.cli.source import ResolvedSource
    from sruq.shift.scoring import ImageVerdict

    widening = Widening(2.0, np.array([0, 0, 0, 0, 0.5, 0, 0, 0]), 1.0, ("bicubic", "blur"))
    source = ResolvedSource("mc", "esrcnn", None, 3.0, conformal_q=2.0, widening=widening)
    z = np.array([-3.0, 0, 0, 0])  # 3 sd low on the first statistic: weight 0.5 per sd
    flagged = ImageVerdict("lr-statistics", 9.0, 2.5, True, z)
    assert source.heatmap_widening(flagged) == pytest.approx(widening.q(z) / 2.0)
    assert source.heatmap_widening(flagged) > 1
    assert source.heatmap_widening(ImageVerdict("lr-statistics", 1.0, 2.5, False, z)) == 1.0
    assert source.heatmap_widening(ImageVerdict("lr-statistics", 9.0, 2.5, True)) == 1.0
    assert source.heatmap_widening(None) == 1.0
    for other in (ResolvedSource("mc", "esrcnn", None, 3.0, conformal_q=2.0),
                  ResolvedSource("mc", "esrcnn", None, 3.0, widening=widening)):
        assert other.heatmap_widening(flagged) == 1.0


def test_the_heatmaps_widen_by_the_ratio_of_the_intervals():
    """What a heatmap multiplies a widened image's std by: its interval factor over the
    static one; 1 where the tables' six-digit rounding is all that differs, or a factor is
    missing (NaN in a table, no conformal factor)."""
    assert shown_widening(4.5, 1.5) == pytest.approx(3.0)
    assert shown_widening(16.407161, 16.40716) == 1.0  # rounding, not a widening
    assert shown_widening(1.5, 1.5) == 1.0
    assert shown_widening(None, 1.5) == shown_widening(2.0, None) == 1.0
    assert shown_widening(float("nan"), 1.5) == shown_widening(2.0, float("nan")) == 1.0
    row = pd.Series({"image": "baboon", "interval_q": 4.5, "conformal_q": 1.5})
    assert row_widening(row) == pytest.approx(3.0)  # a row of the per-image metrics
    assert row_widening(None) == row_widening(pd.Series({"image": "baboon"})) == 1.0


def test_an_unflagged_image_whose_profile_predicts_wider_intervals_is_widened():
    """The gate: the 0.95 quantile of the predicted log widening over the validation
    images at the training degradation; a mild blur that the shift score would not flag
    lies beyond it and is widened, an ordinary profile is not."""
    rng = np.random.default_rng(4)
    bicubic = _images(rng, 40, "bicubic", 0.0)
    widening = Widening.fit([*bicubic, *_images(rng, 20, "blur", 4.0)], "bicubic", 0.9, 0.95)
    inside = [widening.widens(image.profile) for image in bicubic]
    assert sum(inside) == 2  # the 5% of the training degradation's images above the quantile
    mild = np.array([-2.0, 0.0, 0.0, 0.0])  # half the blur the fit saw
    assert widening.widens(mild) and not widening.widens(np.zeros(4))
    assert image_q(1.0, widening, mild, flagged=False) == widening.q(mild) > 1.0
    assert image_q(1.0, widening, np.zeros(4), flagged=False) == 1.0
    # a stricter quantile places the gate higher
    assert Widening.fit([*bicubic, *_images(rng, 20, "blur", 4.0)], "bicubic", 0.9,
                        0.5).gate < widening.gate
    back = Widening.from_dict(json.loads(json.dumps(widening.to_dict())))
    assert back.gate == pytest.approx(widening.gate)
    # fewer validation images at the training degradation than a 95th percentile needs
    assert Widening.fit([*bicubic[:19], *_images(rng, 20, "blur", 4.0)], "bicubic", 0.9,
                        0.95).gate == math.inf
    assert Widening.fit([*bicubic[:20], *_images(rng, 20, "blur", 4.0)], "bicubic", 0.9,
                        0.95).gate < math.inf
    # a calibration file written before gates existed widens flagged images only
    old = {k: v for k, v in widening.to_dict().items() if k != "gate"}
    assert not Widening.from_dict(old).widens(mild)
    assert image_q(1.0, Widening.from_dict(old), mild, flagged=False) == 1.0


def test_the_calibration_leaves_each_degradation_out_of_its_widening(tmp_path, monkeypatch):
    """calibrate() on real uncertainty folders and a profiles CSV: the widening for
    ``noisy`` is fitted without the noisy validation images -- changing them all leaves it
    as it was -- while the one fitted on every degradation moves."""
    rng = np.random.default_rng(2)
    monkeypatch.chdir(tmp_path)  # the workflow's paths are relative to its directory

    def write(degradation: str, wide: float) -> tuple[Path, list[dict]]:
        folder = Path("results", "uncertainty", "val", degradation, "x2", "m@bicubic")
        rows = []
        for i, (_, error, std, z) in enumerate(_images(rng, 6, degradation, wide)):
            image = folder / f"im{i}"
            image.mkdir(parents=True, exist_ok=True)
            np.save(image / "error.npy", error[..., None].astype(np.float32))
            np.save(image / "std.npy", std[..., None].astype(np.float32))
            rows.append({"dataset": "val", "degradation": degradation, "image": f"im{i}",
                         "shift_score": 0.0, FLAG_COLUMN: 1.0,
                         **dict(zip(PROFILE_COLUMNS, z, strict=True))})
        return folder, rows

    folders, rows = {}, []
    for degradation, wide in (("bicubic", 0.0), ("blur", 3.0), ("noisy", 1.0)):
        folder, entries = write(degradation, wide)
        folders[degradation] = [folder]
        rows += entries
    profiles = tmp_path / "profiles.csv"
    pd.DataFrame(rows).to_csv(profiles, index=False)

    def fitted() -> dict:
        out = tmp_path / "calibration.json"
        calibrate(folders, "bicubic", 2, out, channel="y", crop=0, profiles=profiles)
        return json.loads(out.read_text())["shift_widening"]

    before = fitted()
    assert set(before) == {"bicubic", "blur", "noisy", ALL}
    assert before["noisy"]["fitted_on"] == ["bicubic", "blur"]
    assert before[ALL]["fitted_on"] == ["bicubic", "blur", "noisy"]
    for image in folders["noisy"][0].iterdir():  # ten times the error at noisy
        np.save(image / "error.npy", np.load(image / "error.npy") * 10)
    after = fitted()
    assert after["noisy"] == before["noisy"]
    assert after[ALL]["q0"] != before[ALL]["q0"]


def test_the_shift_table_gives_every_score_its_auroc_and_false_alarms():
    rows = []
    for degradation, values in (("bicubic", [1.0, 2.0, 1.5, 1.2]), ("blur", [4.0, 5.0, 1.8, 6.0])):
        for image, value in zip("abcd", values, strict=True):
            rows.append({"dataset": "d", "scale": 2, "degradation": degradation,
                         "method": "net", "trained_on": "bicubic", "image": image,
                         "psnr": 30.0, "mean_std": 0.01,
                         score_column("lr-statistics"): value,
                         score_column("lr-statistics") + "_above": float(value > 1.9)})
    table = shift_table(pd.DataFrame(rows))
    home, blur = table.iloc[0], table.iloc[1]
    assert home["false_alarms_lr_statistics"] == 0.25  # b (2.0) is above 1.9
    assert blur["detected_lr_statistics"] == 0.75
    assert blur["auroc_lr_statistics"] == pytest.approx(15 / 16)  # 1.8 < 2.0 only
    assert blur["auroc_mean_std"] == 0.5
    text = shift_markdown(table)
    assert "AUROC lr-statistics" in text and "false alarms lr-statistics" in text


def test_the_stage_fits_on_training_and_validation_folders_and_ignores_test_images(tmp_path):
    torch = pytest.importorskip("torch")
    from sruq.models import build_model
    from sruq.models.checkpoint import save_weights
    from sruq.stages.infer import shift_score

    torch.manual_seed(0)
    model = build_model("espcn", scale=2, n1=8, n2=4)
    save_weights(tmp_path / "w.pt", model, "espcn", 0, None)
    folders = {}
    for name, images in (("train", [("astronaut", "bicubic")]),
                         ("valid", [("immunohistochemistry", "bicubic")]),
                         ("test", [("camera", "bicubic"), ("chelsea", "bicubic")]),
                         ("test2", [("camera", "bicubic"), ("chelsea", "noisy")])):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        for image, degradation in images:
            write_image(folders[name] / f"{image}.png", _lr(image, degradation))
    fits = []
    for test in ("test", "test2"):
        rows = [{"dataset": "t", "degradation": "bicubic", "method": "espcn",
                 "lr": str(folders[test])}]
        places = [{"dataset": "v", "degradation": "bicubic", "lr": str(folders["valid"])},
                  {"dataset": "t", "degradation": "bicubic", "lr": str(folders[test])}]
        shift_score(tmp_path / "w.pt", folders["train"], [folders["valid"]], rows, places,
                    tmp_path / f"{test}.json", tmp_path / f"{test}.csv",
                    tmp_path / f"{test}.profiles.csv", scale=2, trained_on="bicubic",
                    score="lr-statistics", quantile=0.95, threads=1)
        fits.append(json.loads((tmp_path / f"{test}.json").read_text())["scores"])
    assert fits[0] == fits[1]  # a changed test image changes no threshold or density
    scores = pd.read_csv(tmp_path / "test2.csv")
    assert list(scores["image"]) == ["camera", "chelsea"]
    assert {"shift_laplacian", "shift_lr_statistics", "shift_features", "shift_score",
            "shift_flagged"} <= set(scores.columns)
    assert scores.loc[1, "shift_flagged"] == 1.0  # noisy chelsea
    profiles = pd.read_csv(tmp_path / "test2.profiles.csv")
    assert list(profiles["image"]) == ["immunohistochemistry", "camera", "chelsea"]
    assert list(profiles["shift_flagged"]) == [0.0, *scores["shift_flagged"]]
    noisy = profiles.set_index("image").loc["chelsea"]
    assert noisy["deviation_noise_floor"] > 3  # noise lifts the quiet blocks far up
    assert abs(noisy["deviation_band_075_1"]) < noisy["deviation_noise_floor"]
