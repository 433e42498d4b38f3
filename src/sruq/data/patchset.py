"""A patch set on disk: ``lr.npy`` ``(N, C, p, p)`` and ``hr.npy`` ``(N, C, s*p, s*p)``
(uint8, memory-mappable) and ``meta.json`` in one folder, written atomically and read as a
dataset.  Only numpy, torch and :mod:`sruq.core.io`: inference reads a model's training patches
(MC-BatchNorm) without the patch-cutting machinery of :mod:`sruq.data.patches`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from sruq.core.io import atomic_dir, write_json


def write_patch_set(out_dir: Path, lr: np.ndarray, hr: np.ndarray, meta: dict[str, Any]) -> None:
    """Write ``lr.npy``, ``hr.npy`` and ``meta.json`` into ``out_dir``, atomically.

    Everything is written to a temporary sibling folder that is then renamed
    to ``out_dir`` (replacing an existing one), so readers never see half a set.
    """
    out_dir = Path(out_dir)
    if lr.dtype != np.uint8 or hr.dtype != np.uint8 or lr.ndim != 4 or hr.ndim != 4:
        raise ValueError(f"lr, hr must be (N, C, H, W) uint8 arrays, got {lr.dtype} {lr.shape} "
                         f"and {hr.dtype} {hr.shape}")
    if lr.shape[:2] != hr.shape[:2]:
        raise ValueError(f"lr and hr disagree on (N, C): {lr.shape[:2]} vs {hr.shape[:2]}")
    with atomic_dir(out_dir) as tmp:
        np.save(tmp / "lr.npy", np.ascontiguousarray(lr))
        np.save(tmp / "hr.npy", np.ascontiguousarray(hr))
        write_json(tmp / "meta.json", meta)


def to_float(arr: np.ndarray) -> torch.Tensor:
    """uint8 array -> float32 tensor in [0, 1]."""
    return torch.from_numpy(np.asarray(arr, dtype=np.float32) / 255.0)


class PatchDataset(Dataset):
    """Patch set written by :func:`write_patch_set`; items are float32 ``(lr, hr)`` in [0, 1].

    The arrays are memory-mapped lazily in each process (so DataLoader
    workers never pickle them).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        for name in ("lr.npy", "hr.npy", "meta.json"):
            if not (self.path / name).is_file():
                raise ValueError(f"patch set {self.path} has no {name}")
        self.meta: dict[str, Any] = json.loads((self.path / "meta.json").read_text())
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None
        lr, hr = self._open()
        if len(lr) != len(hr):
            raise ValueError(f"patch set {self.path}: {len(lr)} lr patches but {len(hr)} hr")

    def _open(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = (np.load(self.path / "lr.npy", mmap_mode="r"),
                            np.load(self.path / "hr.npy", mmap_mode="r"))
        return self._arrays

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": None}

    def fingerprint(self) -> str:
        """Changes when the set is rewritten: ``meta.json`` and the arrays' sizes and times
        (a checkpoint of a run on another set is not resumed, see :mod:`sruq.train`)."""
        digest = hashlib.sha256((self.path / "meta.json").read_bytes())
        for name in ("lr.npy", "hr.npy"):
            stat = (self.path / name).stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()

    def __len__(self) -> int:
        return len(self._open()[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self._open()
        return to_float(lr[index]), to_float(hr[index])
