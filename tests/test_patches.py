"""Tests of sruq.data.patches: aligned extraction, atomic patch sets, datasets."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sruq.data.patches import OnTheFlyDataset, PatchDataset, extract_patch_pairs, write_patch_set
from sruq.degrade import PRESETS, matlab_downscale_uint8


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """An (H, W, 3) uint8 image with structure at several scales."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 8 + 2, width // 8 + 2, 3))
    up = np.kron(coarse, np.ones((8, 8, 1)))[:height, :width]
    return np.clip(up * 200 + rng.random((height, width, 3)) * 55, 0, 255).astype(np.uint8)


def test_patches_are_aligned_with_bicubic_pairs() -> None:
    scale, lr_size = 4, 12
    pairs = []
    for seed in range(2):
        hr = smooth_image(96, 128, seed)
        pairs.append((matlab_downscale_uint8(hr, scale), hr))
    lr, hr = extract_patch_pairs(pairs, lr_size, scale, per_image=5, seed=0, augment=False)
    assert lr.shape == (10, 3, 12, 12) and hr.shape == (10, 3, 48, 48)
    assert lr.dtype == np.uint8 and hr.dtype == np.uint8
    for lr_patch, hr_patch in zip(lr, hr):
        again = matlab_downscale_uint8(hr_patch.transpose(1, 2, 0), scale).transpose(2, 0, 1)
        # The bicubic support reaches 2 LR pixels past a patch edge: compare the interior.
        np.testing.assert_array_equal(again[:, 2:-2, 2:-2], lr_patch[:, 2:-2, 2:-2])


def test_augmentations_are_applied_identically_to_both_patches() -> None:
    scale, lr_size = 3, 6
    rng = np.random.default_rng(1)
    lr_image = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    hr_image = np.kron(lr_image, np.ones((scale, scale, 1), dtype=np.uint8))  # pixel replication
    lr, hr = extract_patch_pairs([(lr_image, hr_image)], lr_size, scale, per_image=60, seed=3)
    for lr_patch, hr_patch in zip(lr, hr):
        np.testing.assert_array_equal(hr_patch, lr_patch.repeat(scale, 1).repeat(scale, 2))
    windows = np.lib.stride_tricks.sliding_window_view(lr_image, (lr_size, lr_size), axis=(0, 1))
    crops = {w.tobytes() for w in windows.reshape(-1, 3, lr_size, lr_size)}
    as_cropped = [patch.tobytes() in crops for patch in lr]
    assert 0 < sum(as_cropped) < len(as_cropped)  # some identity, most rotated/flipped
    plain, _ = extract_patch_pairs([(lr_image, hr_image)], lr_size, scale, per_image=20, seed=3,
                                   augment=False)
    assert all(patch.tobytes() in crops for patch in plain)


def test_extraction_is_deterministic_per_seed() -> None:
    hr = smooth_image(64, 64, 0)
    pairs = [(matlab_downscale_uint8(hr, 2), hr)]
    a = extract_patch_pairs(pairs, 8, 2, per_image=4, seed=5)
    b = extract_patch_pairs(pairs, 8, 2, per_image=4, seed=5)
    c = extract_patch_pairs(pairs, 8, 2, per_image=4, seed=6)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_small_or_mismatched_images_raise() -> None:
    big = smooth_image(64, 64, 0)
    small = smooth_image(16, 40, 1)
    pairs = [(matlab_downscale_uint8(big, 2), big), (matlab_downscale_uint8(small, 2), small)]
    with pytest.raises(ValueError, match=r"pairs\[1\]: lr image 8x20 is smaller than .* 10"):
        extract_patch_pairs(pairs, 10, 2, per_image=1, seed=0)
    with pytest.raises(ValueError, match=r"pairs\[0\]: hr shape .* is not scale 3"):
        extract_patch_pairs(pairs[:1], 4, 3, per_image=1, seed=0)


def test_write_patch_set_and_patch_dataset(tmp_path: Path) -> None:
    hr_img = smooth_image(64, 64, 2)
    lr, hr = extract_patch_pairs([(matlab_downscale_uint8(hr_img, 2), hr_img)], 8, 2,
                                 per_image=6, seed=0)
    out = tmp_path / "patches" / "train_x2"
    write_patch_set(out, lr, hr, {"scale": 2, "count": 6})
    assert sorted(p.name for p in out.iterdir()) == ["hr.npy", "lr.npy", "meta.json"]
    write_patch_set(out, lr[:3], hr[:3], {"scale": 2, "count": 3})  # replaces atomically
    assert sorted(p.name for p in out.parent.iterdir()) == ["train_x2"]  # no temp folders
    assert json.loads((out / "meta.json").read_text()) == {"scale": 2, "count": 3}
    assert isinstance(np.load(out / "lr.npy", mmap_mode="r"), np.memmap)

    dataset = PatchDataset(out)
    assert len(dataset) == 3 and dataset.meta["count"] == 3
    lr_item, hr_item = dataset[2]
    assert lr_item.shape == (3, 8, 8) and hr_item.shape == (3, 16, 16)
    assert lr_item.dtype == torch.float32 and hr_item.dtype == torch.float32
    torch.testing.assert_close(lr_item, torch.from_numpy(lr[2] / 255.0).float())
    torch.testing.assert_close(hr_item, torch.from_numpy(hr[2] / 255.0).float())
    clone = pickle.loads(pickle.dumps(dataset))  # what DataLoader workers receive
    torch.testing.assert_close(clone[0][1], dataset[0][1])
    with pytest.raises(ValueError, match="has no lr.npy"):
        PatchDataset(tmp_path)


def test_write_patch_set_rejects_inconsistent_arrays(tmp_path: Path) -> None:
    lr = np.zeros((4, 3, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="disagree"):
        write_patch_set(tmp_path / "x", lr, np.zeros((5, 3, 16, 16), np.uint8), {})
    with pytest.raises(ValueError, match="uint8"):
        write_patch_set(tmp_path / "x", lr.astype(np.float32), np.zeros((4, 3, 16, 16)), {})
    assert not (tmp_path / "x").exists()


def test_on_the_fly_dataset_is_deterministic_per_epoch_and_varies_across_epochs() -> None:
    images = [smooth_image(80, 96, 0), smooth_image(72, 72, 1)]

    def make() -> OnTheFlyDataset:
        return OnTheFlyDataset(images, PRESETS["realesrgan"], scale=4, lr_size=16, per_epoch=4,
                               seed=11)

    a, b = make(), make()
    assert len(a) == 4
    lr, hr = a[0]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 64, 64)
    assert lr.dtype == torch.float32 and 0 <= float(lr.min()) <= float(lr.max()) <= 1
    epoch0 = [a[i] for i in range(4)]
    for i in range(4):
        assert torch.equal(b[i][0], epoch0[i][0]) and torch.equal(b[i][1], epoch0[i][1])
    a.set_epoch(1)
    epoch1 = [a[i] for i in range(4)]
    assert all(not torch.equal(x[0], y[0]) for x, y in zip(epoch0, epoch1))
    a.set_epoch(0)
    assert torch.equal(a[3][0], epoch0[3][0])
    with pytest.raises(ValueError, match=r"hr_images\[1\]: 72x72 is smaller than the HR crop 80"):
        OnTheFlyDataset(images, PRESETS["bicubic"], scale=4, lr_size=20, per_epoch=1, seed=0)
