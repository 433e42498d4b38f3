"""Small operations on images shared by every stage (numpy and Pillow only): the
mod-crop of the benchmarks' protocol, SR/HR pairs of two folders, per-image random streams."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sruq.core.io import IMAGE_SUFFIXES, is_image_file, list_images, read_image


class FolderMismatch(ValueError):
    """An SR folder does not match its HR folder; the message is one line naming the file
    and what was expected."""


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so both sides are multiples of ``scale``."""
    h, w = image.shape[:2]
    if h < scale or w < scale:
        raise ValueError(f"image of {h}x{w} pixels is smaller than the scale {scale}")
    return image[: h - h % scale, : w - w % scale]


def image_seed(seed: int, *keys: str) -> np.random.Generator:
    """A generator seeded from the config seed and names, independent of processing order."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def folder_entries(folder: Path) -> list[Path]:
    """What a folder of SR images is made of: every entry but hidden ones (``.*``, such as
    Snakemake's ``.snakemake_timestamp``), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if not p.name.startswith("."))


def sr_hr_files(sr_dir: Path, hr_dir: Path) -> list[tuple[Path, Path]]:
    """``(SR file, HR file)`` for every HR image, matched by stem: ``sr_dir`` holds exactly
    one image (any suffix :func:`sruq.core.io.read_image` reads) per HR image and nothing else.

    A missing SR image, an extra one (no HR image of its stem), two SR images of one stem,
    or an entry that is not an image file raises :class:`FolderMismatch` naming it."""
    sr_dir, hr_dir = Path(sr_dir), Path(hr_dir)
    by_stem: dict[str, Path] = {}
    for path in folder_entries(sr_dir):
        if not is_image_file(path):
            what = "a folder" if path.is_dir() else "not an image file"
            raise FolderMismatch(f"{path}: {what}; an SR folder holds only the images "
                                 f"({', '.join(IMAGE_SUFFIXES)}) named as the HR images")
        if path.stem in by_stem:
            raise FolderMismatch(f"{path}: a second SR image of {path.stem!r} (also "
                                 f"{by_stem[path.stem].name})")
        by_stem[path.stem] = path
    hr_files = list_images(hr_dir)
    hr_stems = {p.stem for p in hr_files}
    for stem, path in by_stem.items():
        if stem not in hr_stems:
            raise FolderMismatch(f"{path}: extra SR image, {hr_dir} has no HR image "
                                 f"{stem!r}")
    for hr_path in hr_files:
        if hr_path.stem not in by_stem:
            raise FolderMismatch(f"{sr_dir / hr_path.stem}.png: SR image for {hr_path.name} "
                                 f"is missing (any image suffix is read)")
    return [(by_stem[hr_path.stem], hr_path) for hr_path in hr_files]


def checked_sr(sr_path: Path, hr_path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The SR image and its HR image mod-cropped to ``scale``, after checking that the SR
    image has the mod-crop's size (``scale`` x the LR size) and channels.

    An RGB SR image of a greyscale HR image becomes grey by its channel mean (rounded),
    as a grey image comes back from an RGB network (:mod:`sruq.core.channels`); any other
    difference raises :class:`FolderMismatch` naming the file."""
    hr = modcrop(read_image(hr_path), scale)
    sr = read_image(sr_path)
    if sr.shape[:2] != hr.shape[:2]:
        raise FolderMismatch(
            f"{sr_path}: {sr.shape[0]}x{sr.shape[1]} pixels, expected {hr.shape[0]}x"
            f"{hr.shape[1]} (HR {Path(hr_path).name} mod-cropped to x{scale}: {scale} x the "
            f"LR size)")
    if sr.shape[2] == 3 and hr.shape[2] == 1:
        sr = np.floor(sr.mean(axis=2, keepdims=True) + 0.5).astype(np.uint8)
    if sr.shape[2] != hr.shape[2]:
        raise FolderMismatch(f"{sr_path}: {sr.shape[2]} channel(s), expected {hr.shape[2]} as "
                             f"HR {Path(hr_path).name}")
    return sr, hr


def sr_hr_pairs(sr_dir: Path, hr_dir: Path, scale: int,
                ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, sr, hr)`` for every HR image, HR mod-cropped: the folders are matched
    (:func:`sr_hr_files`) before the first image is read, then each image is checked
    (:func:`checked_sr`); a mismatch raises :class:`FolderMismatch` naming the file."""
    for sr_path, hr_path in sr_hr_files(sr_dir, hr_dir):
        sr, hr = checked_sr(sr_path, hr_path, scale)
        yield hr_path.stem, sr, hr
