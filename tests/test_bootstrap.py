"""The paired bootstrap interval of a mean PSNR difference (sruq.evaluation.bootstrap)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sruq.evaluation.bootstrap import paired_interval, reference_differences


def _images(values: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame([{"label": label, "image": f"im{i:02d}", "psnr": v}
                         for label, column in values.items() for i, v in enumerate(column)])


def test_interval_covers_the_true_difference_and_excludes_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(28.0, 3.0, 50)  # images differ by far more than the methods do
    b = a + 0.5 + rng.normal(0.0, 0.4, 50)
    table = reference_differences(_images({"a": a, "b": b}), "a", samples=1000, seed=0,
                                  stream=("Set5", "2", "bicubic"))
    d, low, high = table.loc["b"]
    assert d == pytest.approx(np.mean(b - a))
    assert 0 < low < 0.5 < high
    assert high - low < 0.4  # paired: the image-to-image spread of 3 dB cancels
    assert table.loc["a"].isna().all()  # the reference row is empty


def test_interval_is_deterministic_given_the_seed_and_pairs_by_image():
    rng = np.random.default_rng(1)
    d = rng.normal(0.2, 1.0, 30)
    first = paired_interval(d, 500, np.random.default_rng(7))
    assert paired_interval(d, 500, np.random.default_rng(7)) == first
    assert paired_interval(d, 500, np.random.default_rng(8)) != first
    frame = _images({"ref": np.arange(30.0), "m": np.arange(30.0) + d})
    shuffled = frame.sample(frac=1.0, random_state=0)  # row order does not matter
    kwargs = {"samples": 500, "seed": 3, "stream": ("x",)}
    expected = reference_differences(frame, "ref", **kwargs)
    got = reference_differences(shuffled, "ref", **kwargs).loc[["ref", "m"]]
    pd.testing.assert_frame_equal(expected, got)


def test_edge_cases():
    assert math.isnan(paired_interval([0.3], 100, np.random.default_rng(0))[1])
    assert paired_interval([0.3], 100, np.random.default_rng(0))[0] == pytest.approx(0.3)
    frame = _images({"m": np.ones(3)})
    assert reference_differences(frame, "bicubic", samples=10, seed=0, stream=()) is None
    with pytest.raises(ValueError, match="metrics.bootstrap_samples"):
        reference_differences(frame, "m", samples=0, seed=0, stream=())
