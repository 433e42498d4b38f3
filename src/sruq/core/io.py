"""Reading and writing images and tables, with one documented input policy.

Input policy (applied by :func:`read_image`, so every step sees the same pixels):

* EXIF orientation is applied (a photo shot in portrait stays upright).
* Greyscale (``L``, ``I;16``, ``1``) stays single-channel: metrics then use that
  channel, and RGB networks see it replicated to three channels.
* Palette (``P``) images are expanded to RGB (or RGBA when they carry transparency).
* An alpha channel (``RGBA``, ``LA``, palette transparency) is dropped; the stored
  colour values are kept.  CMYK, YCbCr and other colour modes are converted to RGB.
* 16-bit images are reduced to 8 bits with rounding (``v / 257``).  Pillow itself
  reads 48-bit RGB PNGs as 8-bit RGB.
* Anything Pillow cannot decode raises :class:`ImageReadError` naming the file.
* An image of more than :data:`MAX_PIXELS` pixels (Pillow's decompression-bomb limit,
  about 179 million; the environment variable ``SRUQ_MAX_IMAGE_PIXELS`` sets another) is
  refused before it is decoded, with its size and the limit.

Writes go to a temporary file in the target folder and are renamed into place,
so a crash never leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:  # figures are drawn by the report stage; writing them needs no import
    from matplotlib.figure import Figure

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".ppm", ".pgm", ".webp")
PIXELS_VARIABLE = "SRUQ_MAX_IMAGE_PIXELS"
MAX_PIXELS = int(os.environ.get(PIXELS_VARIABLE) or 2 * (Image.MAX_IMAGE_PIXELS or 89_478_485))
"""Largest image read (width x height): Pillow's decompression-bomb limit by default."""


class ImageReadError(ValueError):
    """An input file is not a readable image."""


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if is_image_file(p))


def _to_uint8(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image, dtype=np.float64)
        return np.clip(np.floor(arr / 257.0 + 0.5), 0, 255).astype(np.uint8)
    if image.mode == "F":
        arr = np.asarray(image, dtype=np.float64)
        return np.clip(np.floor(arr * 255.0 + 0.5), 0, 255).astype(np.uint8)
    if image.mode == "1":
        image = image.convert("L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode == "LA":
        image = image.convert("L")
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def _check_size(path: Path, image: Image.Image) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageReadError(
            f"{path}: {width}x{height} pixels is more than the limit of {MAX_PIXELS} (a "
            f"decompression bomb?); to read it on purpose set {PIXELS_VARIABLE}="
            f"{width * height}")


def _open(path: Path) -> Image.Image:
    """Open an image's header (Pillow's own bomb check off: :func:`_check_size` says the
    size and the way to raise the limit instead); nothing is decoded yet."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        image = Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    try:
        _check_size(path, image)
    except ImageReadError:
        image.close()
        raise
    return image


def check_image_header(path: str | Path, key: str = "") -> None:
    """Open an image's header only (fast): :class:`ImageReadError` naming ``key`` and the
    file when it is not an image or too large."""
    path = Path(path)
    prefix = f"{key}: " if key else ""
    try:
        _open(path).close()
    except ImageReadError as err:
        raise ImageReadError(f"{prefix}{err}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"{prefix}{path}: not a readable image ({err})") from None


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as ``uint8`` ``(H, W, C)`` with C = 1 or 3, following the policy above."""
    path = Path(path)
    try:
        with _open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            arr = _to_uint8(image)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such image file") from None
    except ImageReadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"{path}: not a readable image ({err})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageReadError(f"{path}: image has no pixels")
    return np.ascontiguousarray(arr)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
UMASK = _UMASK
"""The process's umask, read once: what temporary files and folders get before renaming."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give results normal permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}(\.[A-Za-z0-9]+)?")
"""The names :func:`atomic_path` and :func:`atomic_dir` give their temporary files and
folders: ``.<stem>.<8 random characters><suffix>`` (``.curve.k2x_0q9a.png``)."""


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Remove the temporary files and folders an interrupted (killed) write left in
    ``folder``, a rule's own output folder, where nothing else has such a name; returns
    what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.iterdir() if _TEMP_NAME.fullmatch(p.name)]
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return stale


def _replace_dir(tmp: Path, path: Path) -> None:
    """The default end of :func:`atomic_dir`: the complete ``tmp`` replaces ``path``."""
    if path.is_dir():
        shutil.rmtree(path)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_dir(path: str | Path, *, suffix: str = "",
               finish: Callable[[Path, Path], None] = _replace_dir) -> Iterator[Path]:
    """Yield a temporary folder beside ``path`` (named ``.<name>.XXXX<suffix>``, with the
    user's umask); on success ``finish(tmp, path)`` moves it into place (default: it
    replaces ``path``; :func:`sruq.cli.manifest.output_folder` merges it into a user's folder).

    The one atomic-folder writer: a failure, an interrupt included, removes the temporary
    folder and leaves any earlier ``path`` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700: the user's umask instead
        finish(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write a ``uint8`` ``(H, W)`` / ``(H, W, 1|3)`` array losslessly (format from suffix)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"{path}: write_image needs uint8 pixels, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    with atomic_path(path) as tmp:
        fmt = Image.registered_extensions()[Path(path).suffix.lower()]
        Image.fromarray(arr).save(tmp, format=fmt)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


def write_csv(frame: Any, path: str | Path, float_format: str = "%.6f") -> None:
    """Write a pandas DataFrame as CSV, floats with enough digits to compare runs exactly."""
    write_text(path, frame.to_csv(index=False, float_format=float_format, lineterminator="\n"))


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def quantize(image: np.ndarray) -> np.ndarray:
    """Float ``(H, W, C)`` in [0, 1] -> ``uint8``, computed in float32: values are clipped
    (never wrapped) and rounded half up, as MATLAB's ``im2uint8``."""
    arr = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    return np.ascontiguousarray(np.floor(arr * 255 + 0.5).astype(np.uint8))


def save_figure(fig: Figure, stem: str | Path, dpi: int = 150) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` (atomic; the PDF without a creation date)."""
    stem = Path(stem)
    paths = []
    for fmt, metadata in (("png", {}), ("pdf", {"CreationDate": None})):
        path = stem.parent / f"{stem.name}.{fmt}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
        paths.append(path)
    return paths


def unwritable_ancestor(path: str | Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when ``path`` cannot be created in it (not
    a folder, or no write and search permission), else ``None``."""
    ancestor = Path(path).parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK):
        return None
    return ancestor
