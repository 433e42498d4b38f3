"""Safe extraction of downloaded archives (zip, tar, tar.gz, tgz, tar.bz2).

Every entry is checked before anything is written (absolute paths, ``..`` components,
links leading outside the target, device files); extraction goes to a temporary folder
beside the target that is then renamed into place.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from sruq.core.errors import DownloadError
from sruq.data.catalogue import archive_format


def _archive_kind(archive: Path) -> str:
    """'zip' or 'tar' from the archive's file name; ``ValueError`` for anything else."""
    try:
        return "zip" if archive_format(archive.name) == "zip" else "tar"
    except ValueError:
        raise ValueError(f"archive {archive}: unknown archive type (expected .zip, .tar, "
                         ".tar.gz, .tgz, .tar.bz2 or .tbz2)") from None


def _reject(archive: Path, entry: str, why: str) -> DownloadError:
    return DownloadError(f"archive {archive}: unsafe entry {entry!r}: {why}")


def _check_name(archive: Path, name: str) -> str:
    """The entry name normalised to a relative POSIX path; rejects absolute and '..' paths."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"[A-Za-z]:", posix):
        raise _reject(archive, name, "absolute path")
    if ".." in posix.split("/"):
        raise _reject(archive, name, "'..' path component")
    return posixpath.normpath(posix)


def _check_link(archive: Path, name: str, link: str, base: str) -> None:
    """Rejects a link whose target, taken relative to ``base``, leaves the extraction folder."""
    link = link.replace("\\", "/")
    resolved = posixpath.normpath(posixpath.join(base, link))
    if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise _reject(archive, name, f"link to {link!r} points outside the target")


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> str:
    name = _check_name(archive, member.name)
    if member.issym():
        _check_link(archive, member.name, member.linkname, posixpath.dirname(name))
    elif member.islnk():
        _check_link(archive, member.name, member.linkname, "")
    elif member.ischr() or member.isblk() or member.isfifo():
        raise _reject(archive, member.name, "device or FIFO file")
    return name


def _check_zip_member(archive: Path, info: zipfile.ZipInfo) -> str:
    name = _check_name(archive, info.filename)
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise _reject(archive, info.filename, "symlink (not supported in zip archives)")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _reject(archive, info.filename, "device or special file")
    return name


def _selected(name: str, members: str | None) -> bool:
    prefix = (members or "").strip("/")
    return not prefix or name == prefix or name.startswith(prefix + "/")


def safe_extract(archive: Path, target: Path, members: str | None = None) -> list[Path]:
    """Extract a zip / tar / tar.gz / tgz / tar.bz2 archive into ``target``; the files written.

    Every entry is checked first: absolute paths, '..' components, links leading outside the
    target and device files raise :class:`DownloadError` naming the archive and the entry, and
    nothing is written.  Extraction goes to a temporary folder beside ``target`` (tar with the
    ``"data"`` filter on top of these checks) that is then renamed into place; top-level
    entries already in ``target`` are replaced.  ``members`` restricts extraction to the
    entries under that folder of the archive.
    """
    archive, target = Path(archive), Path(target)
    kind = _archive_kind(archive)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                infos = [i for i in zf.infolist()
                         if _selected(_check_zip_member(archive, i), members)]
                return _extract_into(archive, target, members, len(infos),
                                     lambda tmp: zf.extractall(tmp, members=infos))
        with tarfile.open(archive, "r:*") as tf:
            tinfos = [m for m in tf.getmembers()
                      if _selected(_check_tar_member(archive, m), members)]
            return _extract_into(archive, target, members, len(tinfos),
                                 lambda tmp: tf.extractall(tmp, members=tinfos, filter="data"))
    except tarfile.FilterError as exc:
        raise _reject(archive, exc.tarinfo.name, str(exc)) from exc
    except (zipfile.BadZipFile, tarfile.ReadError, EOFError) as exc:
        raise DownloadError(f"archive {archive}: cannot be read as {kind}: {exc}") from exc


def _extract_into(
    archive: Path, target: Path, members: str | None, count: int,
    extract: Callable[[Path], None],
) -> list[Path]:
    """Run ``extract(tmp)`` into a temporary folder beside ``target`` and move the result in."""
    if not count:
        where = f" under {members!r}" if members else ""
        raise DownloadError(f"archive {archive}: no entries{where} to extract")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extract", dir=target.parent))
    try:
        extract(tmp)
        files = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if not p.is_dir())
        if not target.exists():
            os.replace(tmp, target)
        else:
            for entry in tmp.iterdir():
                old = target / entry.name
                if old.is_dir() and not old.is_symlink():
                    shutil.rmtree(old)
                elif old.exists() or old.is_symlink():
                    old.unlink()
                os.replace(entry, old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [target / f for f in files]
