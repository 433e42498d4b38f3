"""Per-image evaluation of a folder of SR images."""

from __future__ import annotations

import numpy as np
import pytest

from sruq.evaluate import evaluate_folder
from sruq.io import write_image


def _folders(tmp_path, sr_shift: int = 10):
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 200, (33, 34, 3), dtype=np.uint8)  # mod-cropped to 32x34 at x2
    write_image(tmp_path / "hr" / "a.png", hr)
    write_image(tmp_path / "sr" / "a.png", (hr[:32] + sr_shift).astype(np.uint8))
    return tmp_path / "sr", tmp_path / "hr"


def test_rows_and_extra_metrics(tmp_path):
    sr, hr = _folders(tmp_path)
    frame = evaluate_folder(sr, hr, 2, dataset="d", degradation="bicubic", method="m",
                            extra={"mean_abs": lambda a, b: float(np.abs(a * 1.0 - b).mean())})
    assert list(frame.columns)[-1] == "mean_abs"
    row = frame.iloc[0]
    assert row["image"] == "a" and row["scale"] == 2
    assert row["mean_abs"] == pytest.approx(10.0)
    assert row["psnr"] == pytest.approx(10 * np.log10(255**2 / (10 * 219 / 255) ** 2), abs=0.01)


def test_missing_or_misshapen_sr_image_is_named(tmp_path):
    sr, hr = _folders(tmp_path)
    write_image(tmp_path / "hr" / "b.png", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="b.png"):
        evaluate_folder(sr, hr, 2, dataset="d", degradation="x", method="m")
    write_image(tmp_path / "sr" / "b.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="b.png.*differs"):
        evaluate_folder(sr, hr, 2, dataset="d", degradation="x", method="m")
