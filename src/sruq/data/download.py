"""Dataset download layer: local mirror lookup, verified resumable HTTP download, safe extraction.

:func:`ensure_dataset` is the entry point: it returns the folder holding a dataset's images,
taking them from a local mirror when one has them (no network access at all), otherwise
downloading each archive of the dataset's source into ``resources/downloads/`` (resuming an
interrupted download, verifying the published SHA-256), extracting it into
``resources/<name>/`` and recording what it saw in ``resources/<name>/download.json``.
Downloaded archives are kept, keyed by file name, so sets that share one archive (Set5, Set14,
B100 and Urban100 all come from ``benchmark.tar``) download it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path
from typing import Any

from sruq import __version__
from sruq.core.errors import DownloadError
from sruq.core.io import is_image_file, write_text
from sruq.core.progress import progress_bar
from sruq.data.archives import safe_extract
from sruq.data.catalogue import archive_format, resolve_source

"""File suffixes (lower case) that count as images."""

MIRROR_GROUPS = ("", "benchmarks", "train", "valid")
"""Sub-folders of a mirror searched for ``<group>/<name>/``, in this order."""

RECORD_NAME = "download.json"

_TRANSIENT_STATUS = frozenset({408, 429})  # and every 5xx
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")


class UnverifiedDownloadWarning(UserWarning):
    """An archive was used without a published checksum to verify it against."""


class _TransientError(Exception):
    """A failure worth retrying (cut connection, 5xx, ...)."""


def has_images(folder: Path) -> bool:
    """Whether ``folder`` is a directory directly holding at least one image file."""
    return folder.is_dir() and any(
        is_image_file(p) for p in folder.iterdir()
    )


def find_in_mirror(name: str, mirror: Path | str | None) -> Path | None:
    """The mirror folder holding the images of dataset ``name``, or ``None``.

    Looks for ``<mirror>/<name>/``, then ``<mirror>/benchmarks/<name>/``,
    ``<mirror>/train/<name>/`` and ``<mirror>/valid/<name>/`` (the reference layout of
    ``shared/data``); a folder counts only if it directly holds an image file.
    """
    if not mirror:
        return None
    root = Path(mirror)
    for group in MIRROR_GROUPS:
        folder = root / group / name
        if has_images(folder):
            return folder
    return None


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str,
    dest: Path,
    sha256: str | None,
    *,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float = 30.0,
    progress: bool = True,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download ``url`` to ``dest`` (via ``dest.part``), verify it and return ``dest``.

    An existing ``dest`` whose hash matches (or with no hash to match) is kept without network
    access.  An interrupted download resumes with an HTTP Range request; connection errors,
    time-outs and 5xx answers are retried ``retries`` times with exponential back-off, other
    HTTP errors (404, 403, ...) fail at once.  On a checksum mismatch the file is removed and
    :class:`DownloadError` names the URL and both hashes.  Without ``sha256`` the hash seen is
    reported in an :class:`UnverifiedDownloadWarning`.
    """
    _download(url, Path(dest), sha256, retries=retries, backoff=backoff, timeout=timeout,
              progress=progress, chunk_size=chunk_size)
    return Path(dest)


def _download(
    url: str,
    dest: Path,
    sha256: str | None,
    *,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float = 30.0,
    progress: bool = True,
    chunk_size: int = 1 << 20,
) -> str:
    """:func:`fetch`, returning the SHA-256 of the file it leaves at ``dest``."""
    expected = sha256.lower() if sha256 else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        digest = file_sha256(dest)
        if expected in (None, digest):
            _check_digest(url, expected, digest)
            return digest
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, timeout=timeout, progress=progress, chunk_size=chunk_size)
            break
        except (_TransientError, urllib.error.URLError, ConnectionError, TimeoutError,
                HTTPException) as exc:
            if attempt == retries:
                raise DownloadError(
                    f"{url}: failed after {retries + 1} attempt(s): {exc}"
                ) from exc
            time.sleep(backoff * 2**attempt)
    digest = file_sha256(part)
    try:
        _check_digest(url, expected, digest)
    except DownloadError:
        part.unlink()
        raise
    os.replace(part, dest)
    return digest


def _check_digest(url: str, expected: str | None, digest: str) -> None:
    """Raise on a mismatch; warn when there is nothing to compare against."""
    if expected is None:
        warnings.warn(
            f"{url}: no published sha256, archive NOT verified; sha256 seen: {digest}",
            UnverifiedDownloadWarning,
            stacklevel=3,
        )
    elif digest != expected:
        raise DownloadError(f"{url}: sha256 mismatch: expected {expected}, got {digest}")


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a Content-Range header; ``None`` for what it does not say."""
    match = _CONTENT_RANGE.fullmatch((header or "").strip())
    if match is None:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _transfer(url: str, part: Path, *, timeout: float, progress: bool, chunk_size: int) -> None:
    """One attempt at bringing ``part`` up to the whole file, resuming what is already there.

    Raises :class:`_TransientError` for what is worth retrying and :class:`DownloadError` for
    what is not; connection errors from ``urllib`` propagate (the caller retries them).
    """
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": f"sruq/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            if _content_range(exc.headers.get("Content-Range"))[1] == offset:
                return  # the part file is already whole
            part.unlink()
            raise _TransientError(f"HTTP 416 when resuming at byte {offset}; restarting") from exc
        if exc.code >= 500 or exc.code in _TRANSIENT_STATUS:
            raise _TransientError(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    with response:
        if response.status == 206:
            start, _ = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink()
                raise _TransientError(f"server resumed at byte {start}, not {offset}; restarting")
        else:  # 200: the server ignored the Range header and sends the whole file
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        with (
            open(part, "ab" if offset else "wb") as fh,
            progress_bar(total=total, initial=offset, unit="B", unit_scale=True,
                         unit_divisor=1024, desc=part.name.removesuffix(".part"),
                         file=sys.stderr, disable=not progress) as bar,
        ):
            while chunk := response.read(chunk_size):
                fh.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise _TransientError(f"connection closed after {size} of {total} bytes")


def _archive_filename(url: str, fmt: str, name: str) -> str:
    """File name for a downloaded archive: the URL's, with the format's suffix ensured."""
    base = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path)) or name
    try:
        if archive_format(base) == fmt:
            return base
    except ValueError:
        pass
    return f"{base}.{fmt}"


def _recorded_urls(record: Path) -> list[str] | None:
    """URLs listed in an existing ``download.json``; ``None`` when there is none readable."""
    try:
        return [a["url"] for a in json.loads(record.read_text())["archives"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_dataset(
    name: str,
    resources: Path,
    mirror: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
) -> Path:
    """The folder holding dataset ``name``'s images, downloading it if needed.

    A mirror folder holding the set wins, with no network access.  Otherwise each archive of
    the (possibly overridden) source is fetched into ``resources/downloads/``, verified and
    extracted into ``resources/<name>/``, and ``resources/<name>/download.json`` records URL,
    SHA-256 seen, size and date.  When that record matches the source and the images are
    there, nothing is fetched again.
    """
    source = resolve_source(name, overrides)
    found = find_in_mirror(name, mirror)
    if found is not None:
        return found
    root = Path(resources) / name
    images = root / source.subdir
    record = root / RECORD_NAME
    urls = [a.url for a in source.archives]
    if record.is_file() and _recorded_urls(record) == urls and has_images(images):
        return images
    entries = []
    for archive in source.archives:
        dest = Path(resources) / "downloads" / _archive_filename(archive.url, archive.format, name)
        digest = _download(archive.url, dest, archive.sha256, progress=progress)
        safe_extract(dest, root, members=archive.members)
        entries.append({
            "url": archive.url,
            "file": str(dest),
            "sha256": digest,
            "verified": archive.sha256 is not None,
            "size": dest.stat().st_size,
            "members": archive.members,
        })
    if not has_images(images):
        raise DownloadError(f"dataset {name!r}: no images in {images} after extraction; "
                            f"check subdir {source.subdir!r}")
    record_data = {"name": name, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "subdir": source.subdir, "archives": entries}
    write_text(record, json.dumps(record_data, indent=2) + "\n")
    return images
