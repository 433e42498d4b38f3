"""Folders sruq writes for a user, and the manifest that says which files in them are sruq's.

The ``sruq`` command writes into folders the user names (``--out``).  Every such folder
gets a manifest, :data:`MANIFEST`, listing the files sruq wrote there (relative paths) and
a small record of the call.  A later call replaces exactly those files: anything else in
the folder (the user's notes, a ``details/trip-2019/`` of their own) stays byte for byte,
and a non-empty folder without a manifest is refused (:class:`OutputFolderError`), since
sruq cannot know which of its files are the user's.

:func:`output_folder` writes one output set: into a temporary folder beside the target,
moved into place only when complete (an interrupted call leaves the target as it was).
Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sruq.core.io import UMASK, atomic_dir

MANIFEST = ".sruq-manifest.json"
"""The manifest's file name in every folder sruq writes for a user."""
FORMAT = "sruq-manifest-1"


class OutputFolderError(ValueError):
    """A folder sruq may not write into (one line, naming the folder and the file)."""


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` (``None`` without one; ``OutputFolderError`` if broken)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or not isinstance(data.get("files"), list):
        raise OutputFolderError(f"{path}: not a sruq manifest (move the folder away or "
                                "choose another --out)")
    return data


def owned_files(folder: Path) -> list[str]:
    """The files of ``folder`` sruq wrote, by its manifest (none without one)."""
    manifest = read_manifest(folder)
    return [] if manifest is None else [str(name) for name in manifest["files"]]


def check_writable(folder: Path) -> None:
    """``folder`` may take sruq's outputs: new, empty, or written by sruq (has a manifest).
    Otherwise ``OutputFolderError`` naming the folder: its files are the user's."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise OutputFolderError(f"{folder}: exists and is not a folder")
    if read_manifest(folder) is None and any(folder.iterdir()):
        raise OutputFolderError(
            f"{folder}: a non-empty folder sruq did not write (no {MANIFEST}); sruq never "
            "replaces files it did not write: give a new or empty folder")


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a whole output set: a manifest and every file it lists."""
    try:
        manifest = read_manifest(folder)
    except OutputFolderError:
        return False
    return manifest is not None and all((Path(folder) / name).is_file()
                                        for name in manifest["files"])


def record_of(folder: Path) -> dict[str, Any] | None:
    """The call record a complete output set was written with (``None`` otherwise)."""
    if not is_complete(folder):
        return None
    record = read_manifest(folder).get("record")  # type: ignore[union-attr]
    return record if isinstance(record, dict) else None


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() or p.is_symlink())


def write_manifest(folder: Path, files: list[str], record: Mapping[str, Any] | None) -> None:
    """Write ``folder``'s manifest (to a temporary name, then renamed)."""
    text = json.dumps({"format": FORMAT, "files": sorted(files), "record": dict(record or {})},
                      indent=1, sort_keys=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{MANIFEST}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, Path(folder) / MANIFEST)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents with the user's umask; returns the
    folders created, innermost first (to remove them again on failure)."""
    folder = Path(folder)
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return created


def _replace_into(out: Path, tmp: Path, record: Mapping[str, Any] | None) -> None:
    """Move the complete output set in ``tmp`` into the existing folder ``out``: sruq's
    earlier files (its manifest's) go, the user's stay; a new file whose name the user
    already uses stops everything before any change."""
    old = set(owned_files(out))
    new = [name for name in _files_under(tmp) if name != MANIFEST]
    for name in new:
        target = out / name
        if name not in old and (target.exists() or target.is_symlink()):
            raise OutputFolderError(f"{target}: a file sruq did not write is in the way of "
                                    "its output; move it away or give another --out")
        for parent in Path(name).parents:
            if parent != Path(".") and (out / parent).exists() and not (out / parent).is_dir():
                raise OutputFolderError(f"{out / parent}: a file sruq did not write is in the "
                                        "way of its output folder")
    write_manifest(out, sorted(old | set(new)), record)  # an interruption below: all listed
    for name in sorted(old - set(new)):
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    for name in new:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / name, out / name)
    for name in sorted(old | set(new), key=lambda n: -n.count("/")):
        for parent in Path(name).parents:  # folders emptied by the removals
            if parent == Path("."):
                break
            with contextlib.suppress(OSError):
                (out / parent).rmdir()
    write_manifest(out, new, record)
    shutil.rmtree(tmp)


@contextmanager
def output_folder(out: Path, record: Mapping[str, Any] | None = None) -> Iterator[Path]:
    """A temporary folder beside ``out`` for one output set (:func:`sruq.core.io.atomic_dir`);
    on success it becomes ``out`` (new or empty), or its files replace sruq's earlier ones
    in ``out`` (see the module docs), with a manifest holding ``record`` (as it is when the
    block ends).  On any failure, an interrupt included, the temporary folder is removed,
    ``out`` is left as it was, and the parents made for it go again."""
    out = Path(out)
    check_writable(out)
    created = make_folder(out.parent)

    def finish(tmp: Path, target: Path) -> None:
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        if not target.exists():
            write_manifest(tmp, _files_under(tmp), record)
            os.replace(tmp, target)
            return
        _replace_into(target, tmp, record)

    try:
        with atomic_dir(out, suffix=".sruq-tmp", finish=finish) as tmp:
            yield tmp
    except BaseException:
        for folder in created:  # parents made for this call, innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
