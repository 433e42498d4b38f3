"""Datasets: where HR images come from, and the prepared HR / LR image folders.

A dataset in the config has a ``source``:

* ``builtin`` -- photos shipped inside scikit-image's wheel (no network);
* ``folder`` -- any directory of images (``path``);
* ``benchmark`` -- a named set from :mod:`sruq.data.catalogue` (Set5, Set14, B100,
  Urban100, T91, DIV2K, ...), found in the local mirror (config ``data_mirror`` or
  the ``SRUQ_DATA_MIRROR`` environment variable) or downloaded into ``resources/``.

Preparing a dataset writes every image, normalised by :func:`sruq.core.io.read_image`'s
policy, as a PNG named after the source image.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sruq.core.io import (
    IMAGE_SUFFIXES,
    atomic_dir,
    check_image_header,
    list_images,
    read_image,
    write_image,
)

MIRROR_ENV = "SRUQ_DATA_MIRROR"


def _skimage(name: str, index: int | None = None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, name)()
        return np.asarray(image[index] if index is not None else image)

    return load


BUILTIN: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "coffee": _skimage("coffee"),
    "chelsea": _skimage("chelsea"),
    "rocket": _skimage("rocket"),
    "hubble_deep_field": _skimage("hubble_deep_field"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "motorcycle_left": _skimage("stereo_motorcycle", 0),
    "motorcycle_right": _skimage("stereo_motorcycle", 1),
    "retina": _skimage("retina"),
    "colorwheel": _skimage("colorwheel"),
    "camera": _skimage("camera"),
    "moon": _skimage("moon"),
    "coins": _skimage("coins"),
    "clock": _skimage("clock"),
    "brick": _skimage("brick"),
    "grass": _skimage("grass"),
    "gravel": _skimage("gravel"),
}
"""Photos inside scikit-image's wheel; the last seven are greyscale."""


class DatasetError(ValueError):
    """A configured dataset cannot be found or read."""


def data_mirror(configured: str | None = None) -> Path | None:
    """The local mirror folder: the config value, else ``$SRUQ_DATA_MIRROR``, else None."""
    value = configured or os.environ.get(MIRROR_ENV)
    return Path(value).expanduser() if value else None


def _builtin_images(name: str, spec: Mapping[str, Any]) -> list[tuple[str, np.ndarray]]:
    check_dataset(name, spec)  # the names are known
    return [(i, BUILTIN[i]()) for i in spec.get("images") or []]


def check_dataset(name: str, spec: Mapping[str, Any]) -> None:
    """What can be checked of a dataset entry before any job runs (one-line
    :class:`DatasetError` naming the key): builtin names are known, a folder exists and
    holds images whose headers open, a benchmark name is in the catalogue."""
    if spec["source"] == "builtin":
        unknown = [i for i in spec.get("images") or [] if i not in BUILTIN]
        if unknown:
            raise DatasetError(f"datasets.{name}.images: unknown builtin image {unknown[0]!r} "
                               f"(known: {', '.join(BUILTIN)})")
    elif spec["source"] == "folder":
        folder = Path(spec["path"]).expanduser()
        if not folder.is_dir():
            raise DatasetError(f"datasets.{name}.path: {folder} is not a directory")
        files = list_images(folder)
        if not files:
            raise DatasetError(f"datasets.{name}.path: no image files in {folder} (looked for "
                               f"{', '.join(IMAGE_SUFFIXES)})")
        for path in files:
            check_image_header(path, f"datasets.{name}.path")
    else:
        from sruq.data.catalogue import CATALOGUE

        set_name = spec.get("name", name)
        if set_name not in CATALOGUE:
            key = "name" if "name" in spec else "(key)"
            raise DatasetError(f"datasets.{name}.{key}: {set_name!r} is not a benchmark of the "
                               f"catalogue (known: {', '.join(sorted(CATALOGUE))})")


def locate_source(
    name: str, spec: Mapping[str, Any], mirror: Path | None = None,
    resources: Path = Path("resources"), progress: bool = True,
) -> dict[str, Any]:
    """Where a ``folder`` or ``benchmark`` dataset's HR images are; downloads if needed.

    A benchmark set is looked up in the mirror first (no network access then), else
    fetched from its official source into ``resources``.  Returns a JSON-able record.
    """
    if spec["source"] == "folder":
        folder = Path(spec["path"]).expanduser()
        if not folder.is_dir():
            raise DatasetError(f"datasets.{name}.path: {folder} is not a directory")
        return {"dataset": name, "source": "folder", "folder": str(folder.resolve())}
    from sruq.data.download import ensure_dataset, find_in_mirror

    set_name = spec.get("name", name)
    overrides = {k: spec[k] for k in ("url", "sha256") if k in spec}
    try:
        folder = ensure_dataset(set_name, resources, mirror=mirror,
                                overrides=overrides or None, progress=progress)
    except ValueError as err:
        raise DatasetError(f"datasets.{name}: {err}") from None
    record = {"dataset": name, "source": "benchmark", "name": set_name,
              "folder": str(Path(folder).resolve()),
              "from_mirror": find_in_mirror(set_name, mirror) is not None}
    download_json = Path(resources) / set_name / "download.json"
    if not record["from_mirror"] and download_json.is_file():
        record["download"] = str(download_json)
    return record


def load_dataset(
    name: str, spec: Mapping[str, Any], mirror: Path | None = None,
    resources: Path = Path("resources"), folder: Path | None = None,
) -> list[tuple[str, np.ndarray]]:
    """``(image name, uint8 HxWxC)`` pairs of a configured dataset, in a stable order.

    ``folder`` (from :func:`locate_source`) skips locating a non-builtin dataset again.
    """
    if spec["source"] == "builtin":
        pairs = _builtin_images(name, spec)
    else:
        if folder is None:
            folder = Path(locate_source(name, spec, mirror, resources)["folder"])
        files = list_images(folder)
        if not files:
            raise DatasetError(f"datasets.{name}: no image files in {folder}")
        stems = [f.stem for f in files]
        if len(set(stems)) != len(stems):
            raise DatasetError(f"datasets.{name}: two images in {folder} share a name")
        pairs = [(f.stem, read_image(f)) for f in files]
    pairs = [(n, img if img.ndim == 3 else img[:, :, None]) for n, img in pairs]
    limit = spec.get("limit")
    return pairs[:limit] if limit else pairs


def prepare_hr(
    name: str, spec: Mapping[str, Any], out_dir: Path, mirror: Path | None = None,
    resources: Path = Path("resources"), folder: Path | None = None,
) -> list[str]:
    """Write a dataset's HR images as PNGs into ``out_dir`` (atomically); return their names."""
    pairs = load_dataset(name, spec, mirror, resources, folder)
    with atomic_dir(out_dir) as tmp:
        for image_name, image in pairs:
            write_image(tmp / f"{image_name}.png", image)
    return [n for n, _ in pairs]
