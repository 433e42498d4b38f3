"""The image input policy and atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sruq.core.io import (
    ImageReadError,
    atomic_dir,
    quantize,
    read_image,
    write_image,
    write_json,
)
from sruq.core.tensors import to_tensor, to_uint8


def test_rgb_round_trip(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", img)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), img)


def test_greyscale_stays_single_channel(tmp_path):
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(tmp_path / "g.png")
    assert read_image(tmp_path / "g.png").shape == (8, 8, 1)


def test_rgba_drops_alpha_and_palette_expands(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (4, 4, 3) and (out[..., 0] == 200).all()
    Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").shape == (4, 4, 3)


def test_16bit_greyscale_is_rounded_to_8bit(tmp_path):
    arr = np.array([[0, 257, 65535, 128 * 257 + 200]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "x.png")
    np.testing.assert_array_equal(read_image(tmp_path / "x.png")[0, :, 0], [0, 1, 255, 129])


def test_exif_rotation_is_applied(tmp_path):
    img = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert read_image(tmp_path / "r.jpg").shape == (20, 10, 3)


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    with pytest.raises(ImageReadError, match="broken.png"):
        read_image(bad)
    with pytest.raises(ImageReadError, match="no such image"):
        read_image(tmp_path / "missing.png")


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        write_json(tmp / "half.json", {"a": 1})
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "f.png", np.zeros((2, 2), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_previous_result(tmp_path):
    target = tmp_path / "out"
    for value in (1, 2):
        with atomic_dir(target) as tmp:
            write_json(tmp / "v.json", value)
    assert (target / "v.json").read_text().strip() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_to_uint8_clips_never_wraps():
    t = to_tensor(np.array([[[0], [255]]], np.uint8))
    np.testing.assert_array_equal(to_uint8(t)[..., 0], [[0, 255]])
    wild = t * 3 - 1  # values -1 and 2
    np.testing.assert_array_equal(to_uint8(wild)[..., 0], [[0, 255]])


def test_quantize_clips_and_rounds_half_up_like_to_uint8():
    values = np.array([-0.2, 0.0, 0.5 / 255, 1.5 / 255, 0.49999, 1.0, 1.7], dtype=np.float32)
    image = values.reshape(1, -1, 1)
    assert quantize(image).ravel().tolist() == [0, 0, 1, 2, 127, 255, 255]
    import torch

    rng = np.random.default_rng(1)
    floats = rng.uniform(-0.1, 1.1, (5, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        quantize(floats), to_uint8(torch.from_numpy(floats.transpose(2, 0, 1).copy())))
