"""Bad input never ends in a traceback or a half-written folder.

Each case runs the real command line (``sruq.cli.main.main``, or ``python -m sruq.cli`` where
the process itself matters) or a real ``snakemake -n`` on the tiny config, and checks the
exit status, a one-line message naming the option, key or file, and that ``--out`` is
untouched (same files, same bytes) when the call fails.
"""

from __future__ import annotations

import io
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from workflow_runner import REPO, load_config, run_workflow

from sruq.cli.main import main
from sruq.data.patchset import write_patch_set
from sruq.models import build_model
from sruq.models.checkpoint import save_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("w") / "weights.pt"
    save_weights(path, build_model("esrcnn", 2, dropout=0.2), "esrcnn", 0, None)
    return path


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def out(weights, tmp_path) -> Path:
    """An --out folder holding an earlier sruq output set and a file of the user's."""
    folder = tmp_path / "out"
    earlier = tmp_path / "earlier.png"
    Image.fromarray(np.full((24, 24, 3), 90, np.uint8)).save(earlier)
    assert main(["upscale", str(earlier), "--weights", str(weights), "--samples", "2",
                     "--out", str(folder), "--quiet"]) == 0
    (folder / "notes.txt").write_text("mine")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def fails(args: list[str], message: str, capsys, status: int = 2) -> str:
    """Run ``sruq upscale ARGS`` in-process: ``status``, one line naming ``message``."""
    assert main(["upscale", *args, "--quiet"]) == status
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("sruq: error:") and "\n" not in err, err
    assert message in err, err
    assert "Traceback" not in captured.err + captured.out
    return err


def no_leftovers(parent: Path) -> None:
    assert not [p for p in parent.iterdir() if p.name.endswith(".sruq-tmp")]


@pytest.mark.parametrize("options, message", [
    (["--samples", "0"], "--samples: samples must be an integer of at least 2"),
    (["--samples", "1"], "--samples: samples must be an integer of at least 2"),
    (["--samples", "-1"], "--samples"),
    (["--device", "banana"], "--device 'banana' is not a device here (devices: auto, cpu"),
    (["--cmap", "nosuchmap"], "--cmap: cmap must be a matplotlib colormap name"),
    (["--vmin", "1", "--vmax", "0"], "--vmax: vmax must exceed vmin"),
    (["--vmin", "0"], "--vmin: a log scale needs vmin > 0"),
    (["--details", "-1"], "--details: details must be a non-negative integer"),
    (["--sigma-scale", "0"], "--sigma-scale must be positive"),
])
def test_bad_options_fail_before_any_work(weights, photo, out, options, message, capsys):
    before = snapshot(out)
    fails([str(photo), "--weights", str(weights), "--out", str(out), *options], message, capsys)
    assert snapshot(out) == before
    no_leftovers(out.parent)


def test_out_that_is_a_file_or_inside_a_file(weights, photo, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("x")
    fails([str(photo), "--weights", str(weights), "--out", str(target)],
          f"--out {target}: exists and is not a folder", capsys)
    fails([str(photo), "--weights", str(weights), "--out", str(target / "sub")],
          "cannot write in", capsys)
    assert target.read_text() == "x"


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def test_decompression_bomb_names_size_limit_and_override(weights, tmp_path, out, capsys):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 100_000, 100_000)
    before = snapshot(out)
    err = fails([str(bomb), "--weights", str(weights), "--out", str(out)],
                "100000x100000 pixels is more than the limit", capsys)
    assert str(bomb) in err and "SRUQ_MAX_IMAGE_PIXELS" in err
    assert snapshot(out) == before


def test_nan_weights_are_refused(photo, tmp_path, out, capsys):
    model = build_model("esrcnn", 2, dropout=0.2)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    path = tmp_path / "nan.pt"
    save_weights(path, model, "esrcnn", 0, None)
    before = snapshot(out)
    err = fails([str(photo), "--weights", str(path), "--out", str(out)],
                "holds NaN or infinite values", capsys)
    assert err.count(str(path)) == 1
    assert snapshot(out) == before


@pytest.mark.parametrize("content", [b"just text\n", bytes(range(256)) * 8])
def test_not_a_weight_file_gives_no_unsafe_advice(photo, tmp_path, out, content, capsys):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    err = fails([str(photo), "--weights", str(path), "--out", str(out)],
                "not a sruq weight file", capsys)
    assert "weights_only" not in err and err.count(str(path)) == 1


class _Boom:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("form", ["raw pickle", "torch zip"])
def test_malicious_pickles_are_refused(photo, tmp_path, out, form, capsys):
    path = tmp_path / "evil.pt"
    if form == "raw pickle":
        path.write_bytes(pickle.dumps({"format": "sruq-weights-1", "x": _Boom()}))
    else:
        buffer = io.BytesIO()
        torch.save({"format": "sruq-weights-1", "x": _Boom()}, buffer)
        path.write_bytes(buffer.getvalue())
    err = fails([str(photo), "--weights", str(path), "--out", str(out)],
                "not a sruq weight file", capsys)
    assert "pwned" not in err


def test_reused_out_replaces_earlier_outputs_and_keeps_user_files(weights, tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (80, 80, 3), np.uint8)).save(big)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(small)
    out = tmp_path / "out"
    common = ["--weights", str(weights), "--samples", "2", "--out", str(out), "--quiet"]
    assert main(["upscale", str(big), *common]) == 0
    assert (out / "details" / "least_certain").is_dir()
    (out / "notes.txt").write_text("mine")  # the user's files, added after the first call
    (out / "details" / "trip-2019").mkdir()
    (out / "details" / "trip-2019" / "notes.txt").write_text("also mine")
    assert main(["upscale", str(small), *common]) == 0  # too small for any detail patch
    assert not (out / "details" / "least_certain").exists()  # the earlier set's details go
    assert (out / "notes.txt").read_text() == "mine"  # files sruq did not write stay
    assert (out / "details" / "trip-2019" / "notes.txt").read_text() == "also mine"
    assert np.asarray(Image.open(out / "lr_input.png")).shape[:2] == (20, 20)
    no_leftovers(out.parent)


def test_out_with_the_users_own_files_is_refused_and_left_byte_for_byte(weights, photo,
                                                                         tmp_path, capsys):
    """The data loss of the issue: --out pointing at a folder of the user's own files."""
    userdir = tmp_path / "userdir"
    (userdir / "details" / "trip-2019").mkdir(parents=True)
    (userdir / "heatmap.png").write_bytes(b"my own heatmap")
    (userdir / "details" / "trip-2019" / "notes.txt").write_text("my notes")
    shutil.copy(photo, userdir / "photo.png")
    before = snapshot(userdir)
    fails([str(userdir / "photo.png"), "--weights", str(weights), "--out", str(userdir)],
          f"--out {userdir}: a non-empty folder sruq did not write", capsys)
    assert snapshot(userdir) == before
    # a folder sruq did write, where the user then put a file on one of sruq's new names
    out = tmp_path / "out"
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(small)
    assert main(["upscale", str(small), "--weights", str(weights), "--samples", "2",
                     "--out", str(out), "--quiet"]) == 0
    (out / "details" / "most_certain").mkdir(parents=True)
    (out / "details" / "most_certain" / "heatmap_1.png").write_bytes(b"mine too")
    before = snapshot(out)
    fails([str(photo), "--weights", str(weights), "--samples", "2", "--out", str(out)],
          "a file sruq did not write is in the way", capsys)
    assert snapshot(out) == before
    no_leftovers(tmp_path)


def test_output_folders_follow_the_umask(weights, photo, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        out = tmp_path / "new" / "out"
        assert main(["upscale", str(photo), "--weights", str(weights), "--samples", "2",
                         "--out", str(out), "--quiet"]) == 0
    finally:
        os.umask(old)
    for folder in (out, out / "details", tmp_path / "new"):
        assert folder.stat().st_mode & 0o777 == 0o755, folder
    assert (out / "heatmap.png").stat().st_mode & 0o777 == 0o644


def test_interrupt_while_writing_leaves_out_as_it_was(weights, photo, out, monkeypatch,
                                                      capsys):
    import sruq.uncertainty.outputs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    # after the first files are written
    monkeypatch.setattr(sruq.uncertainty.outputs, "save_colorbar", interrupted)
    before = snapshot(out)
    assert main(["upscale", str(photo), "--weights", str(weights), "--samples", "2",
                     "--out", str(out), "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert snapshot(out) == before
    no_leftovers(out.parent)


def test_a_new_out_folder_appears_whole_or_not_at_all(weights, photo, tmp_path, monkeypatch):
    import sruq.uncertainty.outputs

    target = tmp_path / "deep" / "new"
    monkeypatch.setattr(sruq.uncertainty.outputs, "save_details", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["upscale", str(photo), "--weights", str(weights), "--samples", "2",
                  "--out", str(target), "--quiet", "--debug"])
    assert not (tmp_path / "deep").exists()  # nor the parent made for it


def test_unexpected_error_is_one_line_with_the_traceback_in_a_file(weights, photo, tmp_path,
                                                                   monkeypatch, capsys):
    import sruq.uncertainty.sources

    def broken(*args, **kwargs):
        raise RuntimeError("something inside broke\nsecond line")

    monkeypatch.setattr(sruq.uncertainty.sources, "predict_image", broken)
    err = fails([str(photo), "--weights", str(weights), "--out", str(tmp_path / "o")],
                "unexpected RuntimeError: something inside broke", capsys, status=1)
    trace = Path(err.split("traceback in ")[1].split(";")[0])
    assert "Traceback" in trace.read_text() and "second line" in trace.read_text()
    assert not (tmp_path / "o").exists()


def test_the_installed_command_prints_one_line_too(weights, tmp_path):
    result = subprocess.run([sys.executable, "-m", "sruq.cli", "upscale", str(tmp_path / "no"),
                             "--weights", str(weights), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no such image file" in result.stderr


# --- the config is checked whole before any job ------------------------------------------

def dry_run_fails(tmp_path: Path, config: dict | str, message: str) -> None:
    if isinstance(config, str):
        path = tmp_path / "config.yaml"
        path.write_text(config)
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(tmp_path), "--cores", "1", "-n", "--configfile", str(path)]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    else:
        result = run_workflow(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert message in text, text[-2000:]
    assert not (tmp_path / "results").exists()


def _folder_dataset(tmp_path: Path, path: Path) -> dict:
    config = load_config("test-tiny.yaml")
    config["datasets"]["tiny-test"] = {"source": "folder", "role": "test", "path": str(path)}
    return config


def test_missing_empty_or_broken_folders_fail_the_dry_run(tmp_path):
    dry_run_fails(tmp_path / "a", _folder_dataset(tmp_path, tmp_path / "nowhere"),
                  "config key 'datasets.tiny-test.path'")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("no images here")
    dry_run_fails(tmp_path / "b", _folder_dataset(tmp_path, empty), "no image files in")
    broken = tmp_path / "broken"
    broken.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(broken / "ok.png")
    (broken / "bad.png").write_bytes(b"not a png at all")
    dry_run_fails(tmp_path / "c", _folder_dataset(tmp_path, broken),
                  f"{broken / 'bad.png'}: not a readable image")


def test_unknown_builtin_image_and_benchmark_fail_the_dry_run(tmp_path):
    config = load_config("test-tiny.yaml")
    config["datasets"]["tiny-test"]["images"] = ["chelsea", "no-such-photo"]
    dry_run_fails(tmp_path / "a", config, "datasets.tiny-test.images': unknown builtin image")
    config = load_config("test-tiny.yaml")
    config["datasets"]["tiny-test"] = {"source": "benchmark", "role": "test", "name": "Set6"}
    dry_run_fails(tmp_path / "b", config, "'datasets.tiny-test.name': 'Set6' is not a benchmark")


def test_duplicate_keys_are_refused_with_the_line(tmp_path):
    text = (REPO / "config" / "test-tiny.yaml").read_text()
    text = text.replace("  tiny-test:\n", "  tiny-test:\n    source: builtin\n    role: test\n"
                        "    images: [camera]\n  tiny-test:\n", 1)
    assert yaml.safe_load(text)  # YAML itself accepts it silently
    dry_run_fails(tmp_path, text, "key 'tiny-test' is given twice")


@pytest.mark.parametrize("kwargs, message", [
    ({"bogus": 3}, "config key 'models.esrcnn.kwargs.bogus': not an option of esrcnn"),
    ({"dropout": 1.5}, "config key 'models.esrcnn.kwargs.dropout': dropout must be in [0, 1)"),
])
def test_bad_model_kwargs_name_the_key(tmp_path, kwargs, message):
    config = load_config("test-tiny.yaml")
    config["models"]["esrcnn"]["kwargs"] = kwargs
    dry_run_fails(tmp_path, config, message)


# --- the bad inputs a new user tried (issue: a user's day with sruq) ----------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_one_line_without_a_traceback_file(weights, photo, out,
                                                                      tmp_path, capsys):
    before = snapshot(out)
    tmpdir = Path(tempfile.gettempdir())
    traces = set(tmpdir.glob("sruq-traceback-*"))
    for device in ("cuda", "cuda:1"):
        err = fails([str(photo), "--weights", str(weights), "--out", str(out), "--device",
                     device], f"--device {device!r} is not a device here (devices: auto, cpu",
                    capsys)
        assert "unexpected" not in err
    assert set(tmpdir.glob("sruq-traceback-*")) == traces
    assert snapshot(out) == before


def _payload(**changes) -> dict:
    model = build_model("espcn", 2, n1=16, n2=8)
    payload = {"format": "sruq-weights-1", "arch": "espcn", "kwargs": dict(model.init_kwargs),
               "scale": 2, "state_dict": model.state_dict(), "iteration": 0,
               "valid_psnr": None}
    payload["kwargs"].update(changes.pop("kwargs", {}))
    payload.update(changes)
    return payload


@pytest.mark.parametrize(("payload", "message"), [
    (_payload(kwargs={"n1": 32}), "weights do not fit model 'espcn': tensor "),
    (_payload(scale=4), "the stored scale x4 disagrees with its kwargs' scale x2"),
])
def test_weights_that_do_not_fit_say_which_tensor_in_one_line(photo, out, tmp_path, payload,
                                                               message, capsys):
    path = tmp_path / "misfit.pt"
    torch.save(payload, path)
    err = fails([str(photo), "--weights", str(path), "--out", str(out)], message, capsys)
    if "tensor" in message:
        assert "has shape (16, 3, 5, 5) in the file, the model's is (32, 3, 5, 5)" in err, err
    assert "size mismatch" not in err and "Error(s)" not in err


@pytest.mark.parametrize(("protocol", "loads"), [(3, True), (4, False)])
def test_old_pickle_protocols_print_no_library_warning(photo, tmp_path, protocol, loads):
    path = tmp_path / "old.pt"
    torch.save(_payload(), path, pickle_protocol=protocol, _use_new_zipfile_serialization=False)
    result = subprocess.run([sys.executable, "-m", "sruq.cli", "upscale", str(photo),
                             "--weights", str(path), "--out", str(tmp_path / "o"), "--quiet"],
                            capture_output=True, text=True)
    assert "Warning" not in result.stderr and "warn" not in result.stderr, result.stderr
    if loads:
        assert result.returncode == 0 and result.stderr == "", result.stderr
    else:
        assert result.returncode == 2
        assert result.stderr.strip().count("\n") == 0 and "not a sruq weight file" in result.stderr


def test_evaluate_a_folder_against_itself_is_refused(tmp_path, capsys):
    folder = tmp_path / "hr"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    assert main(["evaluate", str(folder), str(tmp_path / "." / "hr"), "--scale", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "SR_DIR and HR_DIR are the same folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hr"]


def test_a_killed_trainings_temp_files_are_removed_by_the_rerun(tmp_path):
    from sruq.stages.train import train

    rng = np.random.default_rng(0)
    patches = tmp_path / "patches"
    write_patch_set(patches, rng.integers(0, 256, (8, 3, 8, 8), dtype=np.uint8),
                    rng.integers(0, 256, (8, 3, 16, 16), dtype=np.uint8),
                    {"model": "espcn", "scale": 2, "seed": 0, "channels": 3})
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    stale = [model_dir / ".curve.k2x_0q9a.png", model_dir / ".weights.abcdefgh.pt"]
    for path in stale:
        path.write_bytes(b"")  # what SIGKILL leaves mid-write
    (model_dir / "notes.curve.png").write_text("not a temp name")
    spec = {"arch": "espcn", "kwargs": {"n1": 8, "n2": 4},
            "train": {"iterations": 2, "batch_size": 4, "valid_every": 2,
                      "checkpoint_every": 2, "log_every": 1}}
    train("espcn", spec, 2, patches, [], model_dir, seed=0, device="cpu", threads=1)
    assert not any(path.exists() for path in stale)
    assert (model_dir / "weights.pt").is_file() and (model_dir / "notes.curve.png").exists()
    assert not [p for p in model_dir.iterdir() if p.name.startswith(".")]


def test_lapsrn_at_x3_and_cuda_fail_the_dry_run_naming_the_key(tmp_path):
    config = load_config("test-tiny.yaml")
    config["scales"] = [2, 3]
    config["models"]["lap"] = {"arch": "lapsrn", "scales": [3]}
    dry_run_fails(tmp_path / "a", config, "config key 'models.lap.scales.0': lapsrn cannot "
                                          "run at x3")
    del config["models"]["lap"]["scales"]
    dry_run_fails(tmp_path / "b", config, "config key 'models.lap': lapsrn cannot run at x3")
    if not torch.cuda.is_available():
        config = load_config("test-tiny.yaml")
        config["device"] = "cuda"
        dry_run_fails(tmp_path / "c", config, "config key 'device': 'cuda' is not a device "
                                              "here (devices: auto, cpu")


def test_scales_from_the_command_line_are_integers(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text((REPO / "config" / "test-tiny.yaml").read_text())
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(tmp_path), "--cores", "1", "-n", "--configfile", str(config),
         "--config", "scales=[2]"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "results/models/tiny-train/bicubic/x2/esrcnn" in result.stdout + result.stderr
