"""Aligned LR/HR training patches: cutting them, an on-disk patch set, and datasets.

:func:`make_patches` cuts a model's patches from HR images as its ``patches:`` mapping
(:class:`PatchConfig`) says.  A patch set is a folder with ``lr.npy`` ``(N, C, p, p)`` and
``hr.npy`` ``(N, C, s*p, s*p)`` (uint8, memory-mappable, so training reads no images)
and ``meta.json`` (:mod:`sruq.data.patchset`: writing and reading one, re-exported here).
:class:`OnTheFlyDataset` instead degrades fresh random HR crops every epoch (for random
degradations such as ``realesrgan``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["OnTheFlyDataset", "PatchConfig", "PatchDataset", "extract_patch_pairs",
           "make_patches", "write_patch_set"]

import numpy as np
import torch
from torch.utils.data import Dataset

from sruq.core.channels import match_channels
from sruq.core.images import image_seed, modcrop
from sruq.core.schema import key_error, validate_part
from sruq.core.tensors import to_tensor, to_uint8
from sruq.data.patchset import PatchDataset, to_float, write_patch_set
from sruq.degrade import degrade_uint8, matlab_bicubic_resize, validate_preset


def _augment(arr: np.ndarray, rotations: int, flip: bool) -> np.ndarray:
    """Rotate an ``(H, W, C)`` array by ``rotations`` x 90 degrees, then mirror it."""
    out = np.rot90(arr, k=rotations, axes=(0, 1))
    return out[:, ::-1] if flip else out


def _hwc(image: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"{what} must be an (H, W[, C]) uint8 array, got {arr.dtype} {arr.shape}")
    return np.atleast_3d(arr)


def extract_patch_pairs(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    lr_size: int,
    scale: int,
    per_image: int,
    seed: int,
    augment: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``per_image`` aligned random patches from every ``(lr, hr)`` uint8 ``HWC`` pair.

    The HR patch covers exactly the LR patch (its top-left corner is ``scale``
    times the LR one).  With ``augment`` each pair gets the same random flip
    and 90-degree rotation.  Returns ``(N, C, lr_size, lr_size)`` and
    ``(N, C, lr_size*scale, lr_size*scale)`` uint8 arrays.
    """
    if lr_size < 1 or scale < 1 or per_image < 1:
        raise ValueError(f"lr_size, scale, per_image must be >= 1, got {lr_size}, {scale}, "
                         f"{per_image}")
    rng = np.random.default_rng(seed)
    hr_size = lr_size * scale
    lr_patches, hr_patches = [], []
    channels = None
    for index, (lr_image, hr_image) in enumerate(pairs):
        lr, hr = _hwc(lr_image, f"pairs[{index}] lr"), _hwc(hr_image, f"pairs[{index}] hr")
        h, w, c = lr.shape
        if hr.shape != (h * scale, w * scale, c):
            raise ValueError(f"pairs[{index}]: hr shape {hr.shape} is not scale {scale} x "
                             f"lr shape {lr.shape}")
        if channels not in (None, c):
            raise ValueError(f"pairs[{index}]: {c} channels, earlier images have {channels}")
        channels = c
        if h < lr_size or w < lr_size:
            raise ValueError(f"pairs[{index}]: lr image {h}x{w} is smaller than the patch "
                             f"size {lr_size}")
        for _ in range(per_image):
            y = int(rng.integers(0, h - lr_size + 1))
            x = int(rng.integers(0, w - lr_size + 1))
            lr_patch = lr[y:y + lr_size, x:x + lr_size]
            hr_patch = hr[y * scale:y * scale + hr_size, x * scale:x * scale + hr_size]
            if augment:
                rotations, flip = int(rng.integers(4)), bool(rng.integers(2))
                lr_patch = _augment(lr_patch, rotations, flip)
                hr_patch = _augment(hr_patch, rotations, flip)
            lr_patches.append(lr_patch.transpose(2, 0, 1))
            hr_patches.append(hr_patch.transpose(2, 0, 1))
    if not lr_patches:
        raise ValueError("pairs is empty: no patches to extract")
    return np.ascontiguousarray(np.stack(lr_patches)), np.ascontiguousarray(np.stack(hr_patches))


@dataclass(frozen=True)
class PatchConfig:
    """How training patches are cut (the ``patches:`` mapping of a model entry).

    ``lr_size`` is the LR patch side; or ``hr_size`` the HR side, the LR side then being
    ``hr_size // scale`` (the same cost at every scale for pre-upsampling networks).
    ``per_image`` is the number of patches cut from every (rescaled) training image,
    ``rescales`` the factors by which each HR image is also shrunk
    (MATLAB bicubic) before it is degraded -- more data from few images, as in VDSR and
    FSRCNN; ``augment`` gives each patch a random flip and 90-degree rotation.
    """

    lr_size: int | None = 32
    hr_size: int | None = None
    per_image: int = 64
    rescales: tuple[float, ...] = (1.0,)
    augment: bool = True

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, model: str = "model") -> PatchConfig:
        """Check a config mapping against the ``#/$defs/patches`` rules of the config
        schema; a bad key raises :class:`sruq.pipeline.config.ConfigError` (a ``ValueError``) naming
        ``models.<model>.patches.<key>``."""
        prefix = f"models.{model}.patches"
        values = {} if values is None else values
        validate_part(values, "patches", prefix)
        d = {**cls().__dict__, **values}
        if "hr_size" in values:
            if "lr_size" in values:
                raise key_error(f"{prefix}.hr_size", "cannot be given with lr_size")
            d["lr_size"] = None
        d["rescales"] = tuple(float(f) for f in d["rescales"])
        return cls(**d)

    def lr_side(self, scale: int) -> int:
        """The LR patch side at ``scale``; ``ValueError`` if ``hr_size`` is below the scale."""
        if self.lr_size is not None:
            return self.lr_size
        assert self.hr_size is not None
        if self.hr_size < scale:
            raise ValueError(f"patches.hr_size {self.hr_size} is smaller than the scale {scale}")
        return self.hr_size // scale


def _rescale(hr: np.ndarray, factor: float) -> np.ndarray:
    """Shrink a uint8 ``(H, W, C)`` image by ``factor`` with MATLAB bicubic (uint8 out)."""
    if factor == 1.0:
        return hr
    size = (max(1, round(hr.shape[0] * factor)), max(1, round(hr.shape[1] * factor)))
    out = matlab_bicubic_resize(to_tensor(hr)[0], size)
    return to_uint8(out)


def make_patches(
    hr_images: Iterable[np.ndarray],
    scale: int,
    preset: Mapping[str, Any],
    cfg: PatchConfig,
    in_channels: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """LR/HR training patches from HR images: rescale, mod-crop, degrade, cut.

    Every HR ``(H, W, C)`` uint8 image is shrunk by each factor of ``cfg.rescales``,
    mod-cropped, degraded with ``preset`` (as the test LR images are, on all channels),
    converted to ``in_channels`` (Y for one-channel models) and cut into ``cfg.per_image``
    aligned patches.  Versions smaller than the patch are skipped.  Images are consumed one
    at a time (pass a generator for large sets).  Returns ``(N, C, p, p)`` and
    ``(N, C, s*p, s*p)`` uint8 arrays for :func:`write_patch_set`.
    """
    lr_size = cfg.lr_side(scale)
    lr_parts: list[np.ndarray] = []
    hr_parts: list[np.ndarray] = []
    for index, image in enumerate(hr_images):
        for factor in cfg.rescales:
            key = (str(index), f"{factor:g}")
            hr = modcrop(_rescale(np.atleast_3d(image), factor), scale)
            if min(hr.shape[:2]) < lr_size * scale:
                continue
            lr, _ = degrade_uint8(hr, dict(preset), scale, image_seed(seed, "degrade", *key))
            lr = match_channels(np.atleast_3d(lr), in_channels)
            hr = match_channels(hr, in_channels)
            patch_seed = int(image_seed(seed, "patches", *key).integers(2**63))
            lr_p, hr_p = extract_patch_pairs([(lr, hr)], lr_size, scale, cfg.per_image,
                                             patch_seed, cfg.augment)
            lr_parts.append(lr_p)
            hr_parts.append(hr_p)
    if not lr_parts:
        raise ValueError(f"no training image is large enough for LR patches of {lr_size} "
                         f"pixels at scale {scale}")
    return np.concatenate(lr_parts), np.concatenate(hr_parts)


class OnTheFlyDataset(Dataset):
    """Random HR crops degraded afresh with ``preset``: new parameters every epoch.

    Item ``i`` of epoch ``e`` is a pure function of ``(seed, e, i)``: a random
    image, crop, flip/rotation and degradation, quantised to uint8 like the
    on-disk sets.  Call :meth:`set_epoch` before each epoch (DataLoader
    workers see the change when they are re-created each epoch, the default).
    """

    def __init__(
        self,
        hr_images: list[np.ndarray],
        preset: dict[str, Any],
        scale: int,
        lr_size: int,
        per_epoch: int,
        seed: int,
    ) -> None:
        validate_preset("<on-the-fly>", preset)
        if scale < 1 or lr_size < 1 or per_epoch < 1:
            raise ValueError(f"scale, lr_size, per_epoch must be >= 1, got {scale}, {lr_size}, "
                             f"{per_epoch}")
        if not hr_images:
            raise ValueError("hr_images is empty")
        self.crop = lr_size * scale
        self.images = [_hwc(image, f"hr_images[{i}]") for i, image in enumerate(hr_images)]
        for i, image in enumerate(self.images):
            if image.shape[0] < self.crop or image.shape[1] < self.crop:
                raise ValueError(f"hr_images[{i}]: {image.shape[0]}x{image.shape[1]} is smaller "
                                 f"than the HR crop {self.crop}")
        self.preset, self.scale, self.per_epoch, self.seed = preset, scale, per_epoch, seed
        self.epoch = 0

    def fingerprint(self) -> str:
        """A digest of the images, the preset and the sampling settings."""
        digest = hashlib.sha256(json.dumps(
            [self.preset, self.scale, self.crop, self.per_epoch, self.seed],
            sort_keys=True, default=str).encode())
        for image in self.images:
            digest.update(str(image.shape).encode())
            digest.update(np.ascontiguousarray(image).tobytes())
        return digest.hexdigest()

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws the items use."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.per_epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.per_epoch:
            raise IndexError(f"index {index} out of range for {self.per_epoch} items")
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image = self.images[int(rng.integers(len(self.images)))]
        y = int(rng.integers(0, image.shape[0] - self.crop + 1))
        x = int(rng.integers(0, image.shape[1] - self.crop + 1))
        hr = _augment(image[y:y + self.crop, x:x + self.crop], int(rng.integers(4)),
                      bool(rng.integers(2)))
        hr = np.ascontiguousarray(hr)
        lr, _ = degrade_uint8(hr, self.preset, self.scale, rng)
        return to_float(np.atleast_3d(lr).transpose(2, 0, 1)), to_float(hr.transpose(2, 0, 1))

