"""Dataset sources, HR preparation, mod-crop and LR sets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sruq.core.images import image_seed, modcrop
from sruq.core.io import read_image
from sruq.data.datasets import (
    BUILTIN,
    DatasetError,
    load_dataset,
    prepare_hr,
)
from sruq.degrade import PRESETS
from sruq.degrade.resize import matlab_downscale_uint8
from sruq.stages.data import degrade as make_lr_set


def test_builtin_images_load_offline():
    spec = {"source": "builtin", "role": "test", "images": ["chelsea", "camera"]}
    pairs = load_dataset("t", spec)
    assert [n for n, _ in pairs] == ["chelsea", "camera"]
    assert pairs[0][1].shape == (300, 451, 3) and pairs[1][1].shape == (512, 512, 1)
    assert {"astronaut", "coffee", "rocket", "hubble_deep_field"} <= set(BUILTIN)


def test_unknown_builtin_image_names_the_key():
    with pytest.raises(DatasetError, match=r"datasets\.t\.images.*'lenna'"):
        load_dataset("t", {"source": "builtin", "role": "test", "images": ["lenna"]})


def test_folder_source_and_limit(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), i * 50, np.uint8)).save(tmp_path / f"im{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    spec = {"source": "folder", "role": "test", "path": str(tmp_path), "limit": 2}
    pairs = load_dataset("mine", spec)
    assert [n for n, _ in pairs] == ["im0", "im1"]


def test_missing_folder_and_empty_folder_are_clear(tmp_path):
    with pytest.raises(DatasetError, match=r"datasets\.mine\.path.*nowhere"):
        load_dataset("mine", {"source": "folder", "role": "test", "path": f"{tmp_path}/nowhere"})
    with pytest.raises(DatasetError, match="no image files"):
        load_dataset("mine", {"source": "folder", "role": "test", "path": str(tmp_path)})


def test_unreadable_image_in_folder_names_the_file_and_writes_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src / "good.png")
    (src / "bad.png").write_bytes(b"garbage")
    out = tmp_path / "hr"
    with pytest.raises(ValueError, match="bad.png"):
        prepare_hr("mine", {"source": "folder", "role": "test", "path": str(src)}, out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_benchmark_set_through_the_mirror(mirror, tmp_path):
    spec = {"source": "benchmark", "role": "test"}
    names = prepare_hr("Set5", spec, tmp_path / "hr", mirror=mirror, resources=tmp_path / "res")
    assert names == ["baby", "bird", "butterfly", "head", "woman"]
    assert not (tmp_path / "res").exists()  # nothing downloaded


def test_modcrop():
    img = np.zeros((101, 66, 3), np.uint8)
    assert modcrop(img, 4).shape == (100, 64, 3)
    with pytest.raises(ValueError, match="smaller than the scale"):
        modcrop(np.zeros((2, 9, 3), np.uint8), 3)


def test_image_seed_depends_on_names_not_order():
    a = image_seed(0, "bicubic", "2", "x").random(3)
    assert np.array_equal(a, image_seed(0, "bicubic", "2", "x").random(3))
    assert not np.array_equal(a, image_seed(0, "bicubic", "2", "y").random(3))
    assert not np.array_equal(a, image_seed(1, "bicubic", "2", "x").random(3))


def test_lr_set_is_matlab_bicubic_and_records_provenance(tmp_path):
    hr_dir = tmp_path / "hr"
    prepare_hr("t", {"source": "builtin", "role": "test", "images": ["chelsea"]}, hr_dir)
    make_lr_set(hr_dir, tmp_path / "lr", "bicubic", PRESETS["bicubic"], 3, 0, tmp_path / "p.json")
    hr = modcrop(read_image(hr_dir / "chelsea.png"), 3)
    np.testing.assert_array_equal(
        read_image(tmp_path / "lr" / "chelsea.png"), matlab_downscale_uint8(hr, 3)
    )
    record = json.loads((tmp_path / "p.json").read_text())
    assert record["scale"] == 3 and "chelsea" in record["images"]
