"""Image-level shift scores: the Gaussian density, the LR statistics, fitting on training
and validation images only, the fitted file, the shift-aware conformal factor and the shift
table's score columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sruq.datasets import BUILTIN
from sruq.degrade import PRESETS
from sruq.degrade.presets import degrade_uint8
from sruq.images import image_seed, modcrop
from sruq.io import write_image
from sruq.shift.calibration import flagged_q, image_q
from sruq.shift.scores import (
    GaussianDensity,
    ShiftFit,
    ShiftScore,
    input_vectoriser,
    score_column,
    verdict,
)
from sruq.shift.statistics import lr_statistics, tiles
from sruq.shift.table import shift_markdown, shift_table
from sruq.uncertainty.quality import auroc


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


def test_a_flagged_image_gets_the_widest_factor_of_the_other_degradations():
    shift_q = {"blur": 5.0, "noisy": 3.0, "jpeg": 2.0}
    assert flagged_q(shift_q, "blur") == 3.0  # leave the tested degradation out
    assert flagged_q(shift_q, "noisy") == 5.0
    assert flagged_q(shift_q, None) == 5.0  # unknown degradation: all of them
    assert flagged_q({"blur": 5.0}, "blur") is None
    assert image_q(1.6, shift_q, True, "jpeg") == 5.0
    assert image_q(1.6, shift_q, False, "jpeg") == 1.6
    assert image_q(1.6, {"blur": 1.0}, True, "noisy") == 1.6  # never narrower


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
    from sruq.checkpoint import save_weights
    from sruq.models import build_model
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
        shift_score(tmp_path / "w.pt", folders["train"], [folders["valid"]], rows,
                    tmp_path / f"{test}.json", tmp_path / f"{test}.csv", scale=2,
                    trained_on="bicubic", score="lr-statistics", quantile=0.95, threads=1)
        fits.append(json.loads((tmp_path / f"{test}.json").read_text())["scores"])
    assert fits[0] == fits[1]  # a changed test image changes no threshold or density
    scores = pd.read_csv(tmp_path / "test2.csv")
    assert list(scores["image"]) == ["camera", "chelsea"]
    assert {"shift_laplacian", "shift_lr_statistics", "shift_features", "shift_score",
            "shift_flagged"} <= set(scores.columns)
    assert scores.loc[1, "shift_flagged"] == 1.0  # noisy chelsea
