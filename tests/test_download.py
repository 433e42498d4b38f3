"""Download layer against a real HTTP server on 127.0.0.1, with archives built here."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sruq.data.archives import safe_extract
from sruq.data.catalogue import CATALOGUE, FORMATS, ROLES, resolve_source
from sruq.data.download import (
    DownloadError,
    UnverifiedDownloadWarning,
    ensure_dataset,
    fetch,
    find_in_mirror,
)

FAST = {"retries": 3, "backoff": 0.001, "timeout": 5.0, "progress": False}


@dataclass
class ServerState:
    """What the test server serves and what it saw."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut_first: set[str] = field(default_factory=set)
    ignore_range: bool = False
    fail_with: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    def ranges(self) -> list[str | None]:
        return [r for _, r in self.requests]


class Handler(BaseHTTPRequestHandler):
    """GET with Range support; can cut the first response half-way or answer an error."""

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        with state.lock:
            state.requests.append((self.path, self.headers.get("Range")))
            first = sum(p == self.path for p, _ in state.requests) == 1
            queued = state.fail_with.get(self.path)
            status = queued.pop(0) if queued else None
        data = state.files.get(self.path)
        if status is not None or data is None:
            self.send_error(status or 404)
            return
        start = 0
        header = self.headers.get("Range")
        if header and not state.ignore_range:
            start = int(header.removeprefix("bytes=").rstrip("-"))
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if first and self.path in state.cut_first:
            self.wfile.write(body[: len(body) // 2])  # then the connection closes
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep the test output quiet."""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerState]:
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = ServerState(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def png_bytes(seed: int, size: int = 24) -> bytes:
    """A small random RGB PNG (random so that it does not compress to nothing)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_tar(path: Path, entries: dict[str, bytes], mode: str = "w") -> bytes:
    with tarfile.open(path, mode) as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def make_zip(path: Path, entries: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return path.read_bytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


BENCH = {
    "benchmark/Set5/HR/baby.png": png_bytes(1),
    "benchmark/Set5/HR/bird.png": png_bytes(2),
    "benchmark/Set14/HR/zebra.png": png_bytes(3),
}


# ---------------------------------------------------------------- fetch


def test_fetch_clean_download(server: ServerState, tmp_path: Path) -> None:
    data = make_tar(tmp_path / "src.tar", BENCH)
    server.files["/a.tar"] = data
    dest = tmp_path / "dl" / "a.tar"
    assert fetch(server.url("/a.tar"), dest, sha(data), **FAST) == dest
    assert dest.read_bytes() == data
    assert not (tmp_path / "dl" / "a.tar.part").exists()
    assert server.ranges() == [None]


def test_fetch_resumes_after_cut_connection(server: ServerState, tmp_path: Path) -> None:
    data = make_tar(tmp_path / "src.tar", BENCH)
    server.files["/a.tar"] = data
    server.cut_first.add("/a.tar")
    dest = tmp_path / "a.tar"
    fetch(server.url("/a.tar"), dest, sha(data), **FAST)
    assert server.ranges() == [None, f"bytes={len(data) // 2}-"]
    assert dest.read_bytes() == data


def test_fetch_restarts_when_server_ignores_range(server: ServerState, tmp_path: Path) -> None:
    data = make_tar(tmp_path / "src.tar", BENCH)
    server.files["/a.tar"] = data
    server.cut_first.add("/a.tar")
    server.ignore_range = True
    dest = tmp_path / "a.tar"
    fetch(server.url("/a.tar"), dest, sha(data), **FAST)
    assert server.ranges() == [None, f"bytes={len(data) // 2}-"]
    assert dest.read_bytes() == data


def test_fetch_checksum_mismatch(server: ServerState, tmp_path: Path) -> None:
    data = make_tar(tmp_path / "src.tar", BENCH)
    wrong = data[::-1]
    server.files["/a.tar"] = wrong
    dest = tmp_path / "dl" / "a.tar"
    url = server.url("/a.tar")
    with pytest.raises(DownloadError) as info:
        fetch(url, dest, sha(data), **FAST)
    message = str(info.value)
    assert url in message and sha(data) in message and sha(wrong) in message
    assert "\n" not in message
    assert list((tmp_path / "dl").iterdir()) == []


def test_fetch_404_fails_at_once(server: ServerState, tmp_path: Path) -> None:
    url = server.url("/missing.tar")
    with pytest.raises(DownloadError, match="404") as info:
        fetch(url, tmp_path / "missing.tar", None, **FAST)
    assert url in str(info.value)
    assert len(server.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_fetch_retries_5xx_then_succeeds(server: ServerState, tmp_path: Path) -> None:
    data = b"payload" * 100
    server.files["/a.tar"] = data
    server.fail_with["/a.tar"] = [503, 500]
    fetch(server.url("/a.tar"), tmp_path / "a.tar", sha(data), **FAST)
    assert len(server.requests) == 3
    assert (tmp_path / "a.tar").read_bytes() == data


def test_fetch_retries_are_bounded(server: ServerState, tmp_path: Path) -> None:
    server.files["/a.tar"] = b"x"
    server.fail_with["/a.tar"] = [503] * 10
    with pytest.raises(DownloadError, match="503"):
        fetch(server.url("/a.tar"), tmp_path / "a.tar", None, **{**FAST, "retries": 2})
    assert len(server.requests) == 3


def test_fetch_without_checksum_warns_with_hash_seen(server: ServerState, tmp_path: Path) -> None:
    data = b"unverified" * 50
    server.files["/a.tar"] = data
    with pytest.warns(UnverifiedDownloadWarning, match=sha(data)):
        fetch(server.url("/a.tar"), tmp_path / "a.tar", None, **FAST)
    assert (tmp_path / "a.tar").read_bytes() == data


def test_fetch_keeps_verified_file_without_network(server: ServerState, tmp_path: Path) -> None:
    data = b"cached" * 10
    server.files["/a.tar"] = data
    dest = tmp_path / "a.tar"
    fetch(server.url("/a.tar"), dest, sha(data), **FAST)
    fetch(server.url("/a.tar"), dest, sha(data), **FAST)
    assert len(server.requests) == 1


def test_fetch_replaces_a_tampered_cached_file(server: ServerState, tmp_path: Path) -> None:
    data = b"cached" * 10
    server.files["/a.tar"] = data
    dest = tmp_path / "a.tar"
    fetch(server.url("/a.tar"), dest, sha(data), **FAST)
    dest.write_bytes(b"tampered" + data[8:])
    fetch(server.url("/a.tar"), dest, sha(data), **FAST)
    assert dest.read_bytes() == data and len(server.requests) == 2


def test_fetch_stale_part_is_refused_then_recovered(server: ServerState, tmp_path: Path) -> None:
    data = make_tar(tmp_path / "src.tar", BENCH)
    server.files["/a.tar"] = data
    dest = tmp_path / "a.tar"
    part = tmp_path / "a.tar.part"
    part.write_bytes(b"\0" * (len(data) // 3))  # left by some other, older download
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch(server.url("/a.tar"), dest, sha(data), **FAST)
    assert not part.exists() and not dest.exists()  # nothing unverified is kept
    fetch(server.url("/a.tar"), dest, sha(data), **FAST)
    assert dest.read_bytes() == data


def test_fetch_progress_bar_goes_to_stderr(
    server: ServerState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = b"p" * 5000
    server.files["/bar.tar"] = data
    fetch(server.url("/bar.tar"), tmp_path / "bar.tar", sha(data), **{**FAST, "progress": True})
    captured = capsys.readouterr()
    assert "bar.tar" in captured.err and captured.out == ""


# ---------------------------------------------------------------- safe_extract


@pytest.mark.parametrize("suffix", ["zip", "tar", "tar.gz", "tgz", "tar.bz2"])
def test_safe_extract_formats(tmp_path: Path, suffix: str) -> None:
    archive = tmp_path / f"set.{suffix}"
    if suffix == "zip":
        make_zip(archive, BENCH)
    else:
        mode = {"tar": "w", "tar.gz": "w:gz", "tgz": "w:gz", "tar.bz2": "w:bz2"}[suffix]
        make_tar(archive, BENCH, mode)
    target = tmp_path / "out"
    files = safe_extract(archive, target)
    assert files == sorted(target / name for name in BENCH)
    for name, data in BENCH.items():
        assert (target / name).read_bytes() == data
    assert Image.open(target / "benchmark/Set5/HR/bird.png").size == (24, 24)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([archive.name, "out"])


def test_safe_extract_members_subset(tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    make_tar(archive, BENCH)
    files = safe_extract(archive, tmp_path / "out", members="benchmark/Set5")
    assert [f.name for f in files] == ["baby.png", "bird.png"]
    assert not (tmp_path / "out/benchmark/Set14").exists()


def test_safe_extract_rejects_unknown_type(tmp_path: Path) -> None:
    archive = tmp_path / "data.rar"
    archive.write_bytes(b"nope")
    with pytest.raises(ValueError, match="data.rar"):
        safe_extract(archive, tmp_path / "out")


def _tar_special(path: Path, info: tarfile.TarInfo) -> None:
    with tarfile.open(path, "w") as tf:
        good = tarfile.TarInfo("data/ok.png")
        payload = png_bytes(9)
        good.size = len(payload)
        tf.addfile(good, io.BytesIO(payload))
        tf.addfile(info)


def _tar_link(name: str, link: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _zip_symlink(path: Path, name: str, link: str) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/ok.png", png_bytes(9))
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, link)


def _device() -> tarfile.TarInfo:
    info = tarfile.TarInfo("data/console")
    info.type = tarfile.CHRTYPE
    return info


UNSAFE = {
    "tar-dotdot": ("evil.tar", "../evil.png"),
    "zip-dotdot": ("evil.zip", "../evil.png"),
    "tar-absolute": ("evil.tar", "{outside}/evil.png"),
    "zip-absolute": ("evil.zip", "{outside}/evil.png"),
    "tar-symlink-escape": ("evil.tar", "data/link"),
    "tar-hardlink-escape": ("evil.tar", "data/hard"),
    "zip-symlink": ("evil.zip", "data/link"),
    "tar-device": ("evil.tar", "data/console"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_safe_extract_rejects_unsafe_entries(tmp_path: Path, case: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    filename, entry = UNSAFE[case]
    entry = entry.format(outside=outside)
    archive = tmp_path / filename
    if case.endswith("dotdot") or case.endswith("absolute"):
        entries = {"data/ok.png": png_bytes(9), entry: png_bytes(10)}
        (make_zip if filename.endswith(".zip") else make_tar)(archive, entries)
    elif case == "tar-symlink-escape":
        _tar_special(archive, _tar_link(entry, "../../outside", tarfile.SYMTYPE))
    elif case == "tar-hardlink-escape":
        _tar_special(archive, _tar_link(entry, "../outside/secret", tarfile.LNKTYPE))
    elif case == "zip-symlink":
        _zip_symlink(archive, entry, "../../outside")
    else:
        _tar_special(archive, _device())
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(DownloadError) as info:
        safe_extract(archive, work / "target")
    assert str(archive) in str(info.value) and entry in str(info.value)
    assert list(work.iterdir()) == []  # no target, no temporary folder
    assert list(outside.iterdir()) == []
    assert not list(tmp_path.rglob("evil.png")) and not list(tmp_path.rglob("ok.png"))


# ---------------------------------------------------------------- mirror and ensure_dataset


def _write_png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(seed))


def test_find_in_mirror_layouts(tmp_path: Path) -> None:
    _write_png(tmp_path / "benchmarks/Set5/baby.png", 1)
    _write_png(tmp_path / "Urban100/img_001.png", 2)
    (tmp_path / "train/T91").mkdir(parents=True)
    (tmp_path / "train/T91/readme.txt").write_text("no images here")
    assert find_in_mirror("Set5", tmp_path) == tmp_path / "benchmarks/Set5"
    assert find_in_mirror("Urban100", str(tmp_path)) == tmp_path / "Urban100"
    assert find_in_mirror("T91", tmp_path) is None
    if not (tmp_path / "BENCHMARKS").exists():  # a case-sensitive file system
        assert find_in_mirror("set5", tmp_path) is None
    assert find_in_mirror("Set5", None) is None
    assert find_in_mirror("Set5", tmp_path / "absent") is None


def test_ensure_dataset_mirror_hit_makes_no_request(server: ServerState, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    _write_png(mirror / "benchmarks/Set5/baby.png", 1)
    overrides = {"url": server.url("/benchmark.tar")}
    found = ensure_dataset("Set5", tmp_path / "res", mirror, overrides, progress=False)
    assert found == mirror / "benchmarks/Set5"
    assert server.requests == []
    assert not (tmp_path / "res").exists()


def test_ensure_dataset_downloads_once(server: ServerState, tmp_path: Path) -> None:
    data = make_tar(tmp_path / "src.tar", BENCH)
    server.files["/benchmark.tar"] = data
    overrides = {"url": server.url("/benchmark.tar"), "sha256": sha(data)}
    res = tmp_path / "res"
    hr = ensure_dataset("Set5", res, None, overrides, progress=False)
    assert hr == res / "Set5/benchmark/Set5/HR"
    assert sorted(p.name for p in hr.iterdir()) == ["baby.png", "bird.png"]
    assert not (res / "Set5/benchmark/Set14").exists()
    record = json.loads((res / "Set5/download.json").read_text())
    [archive] = record["archives"]
    assert archive["url"] == overrides["url"] and archive["sha256"] == sha(data)
    assert archive["verified"] is True and archive["size"] == len(data)
    assert record["date"][:2] == "20"
    assert len(server.requests) == 1

    hr14 = ensure_dataset("Set14", res, None, overrides, progress=False)
    assert [p.name for p in hr14.iterdir()] == ["zebra.png"]
    assert len(server.requests) == 1  # the archive both sets share is reused
    (res / "downloads/benchmark.tar").unlink()
    assert ensure_dataset("Set5", res, None, overrides, progress=False) == hr
    assert len(server.requests) == 1  # idempotent: the extracted set and its record suffice


def test_ensure_dataset_unverified_records_hash(server: ServerState, tmp_path: Path) -> None:
    data = make_tar(tmp_path / "src.tar", BENCH)
    server.files["/bench.tar"] = data
    with pytest.warns(UnverifiedDownloadWarning):
        ensure_dataset("Set5", tmp_path, None, {"url": server.url("/bench.tar")}, progress=False)
    [archive] = json.loads((tmp_path / "Set5/download.json").read_text())["archives"]
    assert archive["sha256"] == sha(data) and archive["verified"] is False


def test_ensure_dataset_wrong_subdir_is_an_error(server: ServerState, tmp_path: Path) -> None:
    data = make_tar(tmp_path / "src.tar", BENCH)
    server.files["/bench.tar"] = data
    overrides = {"url": server.url("/bench.tar"), "sha256": sha(data), "subdir": "nowhere"}
    with pytest.raises(DownloadError, match="nowhere"):
        ensure_dataset("Set5", tmp_path / "res", None, overrides, progress=False)
    assert not (tmp_path / "res/Set5/download.json").exists()


def _reference_mirror() -> Path | None:
    env = os.environ.get("SRUQ_DATA_MIRROR")
    candidate = Path(env) if env else Path(__file__).resolve().parents[1] / "../shared/data"
    return candidate if candidate.is_dir() else None


@pytest.mark.skipif(_reference_mirror() is None, reason="no reference data mirror on this machine")
def test_find_in_reference_mirror() -> None:
    mirror = _reference_mirror()
    assert mirror is not None
    set5 = find_in_mirror("Set5", mirror)
    assert set5 is not None and set5.resolve() == (mirror / "benchmarks/Set5").resolve()
    assert sorted(p.stem for p in set5.glob("*.png")) == ["baby", "bird", "butterfly", "head",
                                                          "woman"]
    t91 = find_in_mirror("T91", mirror)
    assert t91 is not None and len(list(t91.glob("*.bmp"))) == 91


# ---------------------------------------------------------------- catalogue


def test_catalogue_entries_are_well_formed() -> None:
    for name, source in CATALOGUE.items():
        assert source.name == name and source.role in ROLES and source.archives
        for archive in source.archives:
            assert archive.format in FORMATS and archive.url.startswith("https://")
            assert archive.sha256 is None or (
                len(archive.sha256) == 64 and set(archive.sha256) <= set("0123456789abcdef")
            )
    assert CATALOGUE["Set5"].archives[0].url == CATALOGUE["Urban100"].archives[0].url


def test_resolve_source_overrides() -> None:
    base = resolve_source("DIV2K_valid_HR", None)
    assert base.archives[0].sha256 is not None
    moved = resolve_source("DIV2K_valid_HR", {"url": "https://example.org/d.tar.gz"})
    assert moved.archives[0].sha256 is None and moved.archives[0].size is None
    assert moved.archives[0].format == "tar.gz" and moved.subdir == base.subdir
    pinned = resolve_source("DIV2K_valid_HR", {"url": "https://example.org/d", "format": "zip",
                                               "sha256": "AB" * 32})
    assert pinned.archives[0].sha256 == "ab" * 32
    with pytest.raises(ValueError, match="NoSuchSet"):
        resolve_source("NoSuchSet", None)
    with pytest.raises(ValueError, match="sha265"):
        resolve_source("Set5", {"sha265": "typo"})
    with pytest.raises(ValueError, match="sha256"):
        resolve_source("Set5", {"sha256": "abc"})
    with pytest.raises(ValueError, match="format"):
        resolve_source("Set5", {"url": "https://example.org/download?id=3"})
