"""Degradation shift: the trained-on key, the shift table, its AUROC, and dataset roles."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sruq.core.errors import ConfigError
from sruq.core.layout import result_label, result_name, split_result
from sruq.degrade import PRESETS
from sruq.models import MODELS
from sruq.pipeline.config import check_references, datasets_with_role, role_notes
from sruq.report.tables import comparison_block, comparison_markdown, summarise
from sruq.shift.table import shift_markdown, shift_table
from sruq.uncertainty.quality import auroc


def test_auroc_counts_pairs_and_halves_ties():
    assert auroc([3, 4], [1, 2]) == 1.0
    assert auroc([1, 2], [3, 4]) == 0.0
    assert auroc([1.0], [1.0]) == 0.5
    assert auroc([2, 1], [1, 0]) == pytest.approx(0.875)  # 3.5 of 4 pairs
    assert math.isnan(auroc([1.0], []))


def test_result_names_round_trip():
    assert result_name("esrcnn+x8", "bicubic", "noisy") == "esrcnn+x8@bicubic"
    assert result_name("esrcnn", "noisy", "noisy") == "esrcnn"
    assert result_name("bicubic", None, "noisy") == "bicubic"
    assert split_result("esrcnn+x8@bicubic") == ("esrcnn+x8", "bicubic")
    assert split_result("esrcnn") == ("esrcnn", None)
    assert result_label("esrcnn", "-", "noisy") == "esrcnn"


def _per_image() -> pd.DataFrame:
    rows = []
    for degradation, std, psnr in (("bicubic", [0.01, 0.02, 0.015], 30.0),
                                   ("noisy", [0.03, 0.04, 0.025], 25.0)):
        for image, s in zip(["a", "b", "c"], std, strict=True):
            rows.append({"dataset": "d", "scale": 2, "degradation": degradation,
                         "method": "net", "trained_on": "bicubic", "image": image,
                         "psnr": psnr, "mean_std": s, "ause": 0.01, "spearman": 0.5,
                         "uce": 0.001})
            rows.append({"dataset": "d", "scale": 2, "degradation": degradation,
                         "method": "bicubic", "trained_on": "-", "image": image,
                         "psnr": psnr - 2})
            rows.append({"dataset": "d", "scale": 2, "degradation": degradation,
                         "method": "home", "trained_on": degradation, "image": image,
                         "psnr": psnr + 1, "mean_std": s})
    return pd.DataFrame(rows)


def test_shift_table_has_in_distribution_and_shifted_rows_with_auroc():
    table = shift_table(_per_image())
    assert list(table["method"].unique()) == ["net"]  # untrained and in-distribution-only out
    home, shifted = table.iloc[0], table.iloc[1]
    assert (home["degradation"], bool(home["shifted"])) == ("bicubic", False)
    assert (shifted["degradation"], bool(shifted["shifted"])) == ("noisy", True)
    assert math.isnan(home["auroc_mean_std"])
    # noisy stds 0.03, 0.04, 0.025 vs bicubic 0.01, 0.02, 0.015: 9 of 9 pairs higher
    assert shifted["auroc_mean_std"] == 1.0
    assert shifted["psnr"] == 25.0 and shifted["images"] == 3
    text = shift_markdown(table)
    assert "bicubic (in distribution)" in text and "| net | bicubic | noisy | 3 |" in text


def test_comparison_table_names_shifted_rows():
    per_image = _per_image()
    block = comparison_block(summarise(per_image), "d", 2, "noisy")
    text = comparison_markdown(block, note="d is also the validation set")
    assert "| net@bicubic |" in text and "| home |" in text and "| bicubic |" in text
    assert "method@T: trained on degradation T" in text
    assert "Note: d is also the validation set." in text


def test_a_dataset_can_have_several_roles():
    datasets = {"a": {"source": "builtin", "role": "train"},
                "b": {"source": "builtin", "role": ["valid", "test"]},
                "c": {"source": "builtin", "role": "test"}}
    assert datasets_with_role(datasets, "test") == ["b", "c"]
    assert datasets_with_role(datasets, "valid") == ["b"]
    notes = role_notes(datasets)
    assert list(notes) == ["b"] and "validation" in notes["b"] and "not held out" in notes["b"]


def _config(**models):
    return {"scales": [2], "degradations": ["bicubic", "noisy"], "baselines": ["bicubic"],
            "datasets": {"t": {"source": "builtin", "role": "train", "images": ["astronaut"]},
                         "e": {"source": "builtin", "role": "test", "images": ["camera"]}},
            "models": models, "classical": {"methods": []}, "variants": [],
            "ensembles": {}}


def test_train_degradations_are_checked():
    spec = {"arch": "espcn", "kwargs": {}, "train_degradations": ["bicubic", "blurry"]}
    with pytest.raises(ConfigError, match=r"'models.net.train_degradations.1': unknown preset "
                                          r"'blurry'"):
        check_references(_config(net=spec), PRESETS, MODELS)
    a = {"arch": "espcn", "kwargs": {}, "train_degradations": ["bicubic"]}
    b = {"arch": "espcn", "kwargs": {}}
    config = {**_config(a=a, b=b), "ensembles": {"ab": ["a", "b"]}}
    with pytest.raises(ConfigError, match="'ensembles.ab': members are trained on different"):
        check_references(config, PRESETS, MODELS)
