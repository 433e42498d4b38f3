"""Per-image evaluation of a folder of SR images, and the checks of its pairing with the
HR folder (one implementation for the metrics, the outside rule and ``sruq evaluate``)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sruq.core.images import FolderMismatch, sr_hr_files, sr_hr_pairs
from sruq.core.io import write_image
from sruq.evaluation.folders import evaluate_folder


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
    with pytest.raises(FolderMismatch, match="b.png: SR image for b.png is missing"):
        evaluate_folder(sr, hr, 2, dataset="d", degradation="x", method="m")
    write_image(tmp_path / "sr" / "b.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FolderMismatch, match="b.png: 8x8 pixels, expected 16x16"):
        evaluate_folder(sr, hr, 2, dataset="d", degradation="x", method="m")


def test_a_crop_too_large_names_the_image(tmp_path):
    sr, hr = _folders(tmp_path)
    with pytest.raises(ValueError, match=r"image a: cannot crop 20 border pixels"):
        evaluate_folder(sr, hr, 2, dataset="d", degradation="x", method="m", crop=20)


# --- the checks ---------------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path):
    """HR ``a`` (odd size: 33x35, mod-crop at x2 is 32x34) and grey ``g``; SR folder empty."""
    rng = np.random.default_rng(1)
    hr, sr = tmp_path / "hr", tmp_path / "sr"
    write_image(hr / "a.png", rng.integers(0, 256, (33, 35, 3), dtype=np.uint8))
    write_image(hr / "g.png", rng.integers(0, 256, (24, 24, 1), dtype=np.uint8))
    sr.mkdir()
    return sr, hr


def _good(sr, rng=None):
    rng = rng or np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (32, 34, 3), dtype=np.uint8)).save(sr / "a.bmp")
    Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)).save(sr / "g.tif")


def _mismatch(sr, hr, scale=2) -> str:
    with pytest.raises(FolderMismatch) as info:
        list(sr_hr_pairs(sr, hr, scale))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_any_image_format_matched_by_stem(pair):
    sr, hr = pair
    _good(sr)
    (sr / ".snakemake_timestamp").touch()  # hidden entries are not part of the folder
    assert [(s.name, h.name) for s, h in sr_hr_files(sr, hr)] == [("a.bmp", "a.png"),
                                                                  ("g.tif", "g.png")]
    shapes = [(name, s.shape, h.shape) for name, s, h in sr_hr_pairs(sr, hr, 2)]
    assert shapes == [("a", (32, 34, 3), (32, 34, 3)), ("g", (24, 24, 1), (24, 24, 1))]


def test_missing_image(pair):
    sr, hr = pair
    _good(sr)
    (sr / "g.tif").unlink()
    assert _mismatch(sr, hr) == (f"{sr / 'g'}.png: SR image for g.png is missing (any image "
                                 "suffix is read)")


def test_extra_image(pair):
    sr, hr = pair
    _good(sr)
    write_image(sr / "baby.png", np.zeros((8, 8, 3), np.uint8))
    message = _mismatch(sr, hr)
    assert message.startswith(f"{sr / 'baby.png'}: extra SR image, {hr} has no HR image 'baby'")


def test_wrong_size_names_the_expected_mod_crop(pair):
    sr, hr = pair
    _good(sr)
    write_image(sr / "a.bmp", np.zeros((33, 35, 3), np.uint8))  # not mod-cropped
    assert _mismatch(sr, hr) == (f"{sr / 'a.bmp'}: 33x35 pixels, expected 32x34 (HR a.png "
                                 "mod-cropped to x2: 2 x the LR size)")
    assert _mismatch(sr, hr, scale=3).startswith(f"{sr / 'a.bmp'}: 33x35 pixels, expected 33x33")


def test_non_image_entries(pair):
    sr, hr = pair
    _good(sr)
    (sr / "log.txt").write_text("made by another repository")
    assert _mismatch(sr, hr).startswith(f"{sr / 'log.txt'}: not an image file")
    (sr / "log.txt").unlink()
    (sr / "x4").mkdir()
    assert _mismatch(sr, hr).startswith(f"{sr / 'x4'}: a folder")


def test_two_images_of_one_stem(pair):
    sr, hr = pair
    _good(sr)
    write_image(sr / "a.png", np.zeros((32, 34, 3), np.uint8))
    assert _mismatch(sr, hr) == f"{sr / 'a.png'}: a second SR image of 'a' (also a.bmp)"


def test_unreadable_image_is_named(pair):
    sr, hr = pair
    _good(sr)
    (sr / "a.bmp").write_bytes(b"BM broken")
    with pytest.raises(ValueError, match="a.bmp: not a readable image"):
        list(sr_hr_pairs(sr, hr, 2))


def test_rgb_of_a_grey_image_becomes_grey_by_the_channel_mean(pair):
    sr, hr = pair
    _good(sr)
    rgb = np.zeros((24, 24, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 11, 13  # mean 11.33 -> 11
    write_image(sr / "g.tif", rgb)
    grey = dict((name, s) for name, s, _ in sr_hr_pairs(sr, hr, 2))["g"]
    assert grey.shape == (24, 24, 1) and (grey == 11).all()
    write_image(sr / "a.bmp", np.zeros((32, 34, 1), np.uint8))  # grey SR of a colour image
    assert _mismatch(sr, hr) == f"{sr / 'a.bmp'}: 1 channel(s), expected 3 as HR a.png"
