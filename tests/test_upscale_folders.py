"""``sruq upscale`` on folders and several images, and every ``--source`` against the
workflow's own stage functions (real weight files, patch sets and images)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sruq.cli.main import main
from sruq.data.patchset import write_patch_set
from sruq.models import build_model
from sruq.models.checkpoint import save_weights

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("w") / "weights.pt"
    save_weights(path, build_model("esrcnn", 2, dropout=0.2), "esrcnn", 0, None)
    return path


def _image(path: Path, shape, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder as a user has it: good photos (RGB, grey, RGBA), a truncated one, a text
    file with an image name, a text file, and a hidden file."""
    folder = tmp_path / "photos"
    folder.mkdir()
    _image(folder / "beach.png", (30, 34, 3), 1)
    _image(folder / "grey.png", (24, 28), 2)
    _image(folder / "rgba.png", (26, 22, 4), 3)
    whole = _image(tmp_path / "whole.png", (40, 40, 3), 4).read_bytes()
    (folder / "broken.png").write_bytes(whole[:len(whole) // 2])
    (folder / "fake.jpg").write_text("not a picture")
    (folder / "notes.txt").write_text("my notes")
    (folder / ".DS_Store").write_bytes(b"\0")
    return folder


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "summary.csv", newline="") as fh:
        return {Path(row["image"]).stem: row for row in csv.DictReader(fh)}


def _stamps(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file()}


def test_a_folder_of_mixed_images_in_one_call(weights, photos, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["upscale", str(photos), "--weights", str(weights), "--samples", "2",
            "--out", str(out), "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    failed = [line for line in err if line.startswith("sruq: failed:")]
    assert len(failed) == 2
    assert any(str(photos / "broken.png") in line and "truncated" in line for line in failed)
    assert any(str(photos / "fake.jpg") in line and "not a readable image" in line
               for line in failed)
    assert "notes.txt" in " ".join(err) and ".DS_Store" not in " ".join(err)
    for stem, channels in (("beach", 3), ("grey", 1), ("rgba", 3)):
        assert (out / stem / "heatmap.png").is_file() and (out / stem / "mc_mean.png").is_file()
        assert np.load(out / stem / "std.npy").shape[2] == channels
    assert not (out / "broken").exists() and not (out / "fake").exists()
    rows = _summary(out)
    assert {k: v["status"] for k, v in rows.items()} == {
        "beach": "done", "broken": "failed", "fake": "failed", "grey": "done", "rgba": "done"}
    assert rows["beach"]["size"] == "34x30" and float(rows["beach"]["mean_std"]) > 0
    assert float(rows["beach"]["seconds"]) > 0
    assert rows["beach"]["shift"].startswith("no shift score")  # a model with no fitted score
    assert "truncated" in rows["broken"]["reason"]
    before = _stamps(out / "beach")

    assert main(args) == 1  # the rerun: done images skipped, bad ones listed again
    rows = _summary(out)
    assert [rows[s]["status"] for s in ("beach", "grey", "rgba")] == ["skipped"] * 3
    assert rows["beach"]["mean_std"] and rows["beach"]["size"] == "34x30"
    assert _stamps(out / "beach") == before
    assert main([*args, "--overwrite"]) == 1
    assert _summary(out)["beach"]["status"] == "done"
    assert _stamps(out / "beach") != before
    assert main([*args[:-3], "--samples", "3", "--out", str(out), "--quiet"]) == 1
    assert _summary(out)["grey"]["status"] == "done"  # other options: redone, not skipped


def test_a_good_folder_exits_0_and_prints_out(weights, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        _image(folder / f"p{i}.png", (20, 24, 3), i)
    out = tmp_path / "out"
    assert main(["upscale", str(folder), "--weights", str(weights), "--samples", "2",
                     "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert sorted(p.name for p in out.iterdir()) == [".sruq-manifest.json", "p0", "p1", "p2",
                                                      "summary.csv"]


def test_several_files_and_colliding_stems(weights, tmp_path, capsys):
    a_png = _image(tmp_path / "a.png", (20, 20, 3))
    other = tmp_path / "other"
    other.mkdir()
    a_jpg = other / "a.jpg"
    Image.open(a_png).save(a_jpg)
    out = tmp_path / "out"
    common = ["--weights", str(weights), "--samples", "2", "--out", str(out), "--quiet"]
    assert main(["upscale", str(a_png), str(a_jpg), *common]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(a_png) in err and str(a_jpg) in err and "a/" in err
    assert not out.exists()
    assert main(["upscale", str(a_png), str(tmp_path / "nope.png"), *common]) == 2
    assert "nope.png: no such image file or folder" in capsys.readouterr().err
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["upscale", str(empty), *common]) == 2
    assert "no image files in the folder" in capsys.readouterr().err
    b = _image(tmp_path / "b.png", (20, 20, 3), 5)
    assert main(["upscale", str(a_png), str(b), *common]) == 0
    assert (out / "a" / "std.npy").is_file() and (out / "b" / "std.npy").is_file()


def test_a_batch_never_writes_into_a_folder_of_the_users(weights, photos, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.csv").write_text("my own table")
    assert main(["upscale", str(photos), "--weights", str(weights), "--out", str(mine),
                     "--quiet"]) == 2
    assert "a non-empty folder sruq did not write" in capsys.readouterr().err
    assert (mine / "summary.csv").read_text() == "my own table"
    assert sorted(p.name for p in mine.iterdir()) == ["summary.csv"]


# --- every source against the workflow's stage functions --------------------------------

def _results_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A results folder as the workflow leaves it: an MC-dropout model, a BatchNorm model
    with its training patch set and calibration files; and a test LR folder."""
    results = tmp_path / "results"
    model_dir = results / "models" / "train-set" / "bicubic" / "x2"
    torch_models = {"drop": build_model("esrcnn", 2, dropout=0.2),
                    "bn": build_model("srresnet", 2, n_blocks=1, channels=8),
                    "plain": build_model("espcn", 2, n1=8, n2=4)}
    for name, model in torch_models.items():
        arch = {"drop": "esrcnn", "bn": "srresnet", "plain": "espcn"}[name]
        save_weights(model_dir / name / "weights.pt", model, arch, 0, None)
    rng = np.random.default_rng(7)
    write_patch_set(results / "patches" / "train-set" / "bicubic" / "x2" / "bn",
                    rng.integers(0, 256, (12, 3, 8, 8), dtype=np.uint8),
                    rng.integers(0, 256, (12, 3, 16, 16), dtype=np.uint8),
                    {"model": "bn", "scale": 2, "seed": 0, "channels": 3})
    for method, factor in (("drop", 2.0), ("bn+mcbn", 3.0), ("drop+x8", 1.5),
                           ("drop+tta", 0.5)):
        path = results / "calibration" / "bicubic" / "x2" / f"{method}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'{{"sigma_scale": {factor}}}')
    lr = tmp_path / "lr"
    lr.mkdir()
    _image(lr / "chelsea.png", (20, 24, 3), 8)
    _image(lr / "camera.png", (18, 18), 9)
    return results, lr


WORKFLOW_CALLS = {  # CLI options -> the stage call of the workflow's rule for that method
    "mc": (["--model", "drop"], "infer"),
    "x8": (["--model", "drop+x8"], "drop+x8"),
    "tta": (["--model", "drop", "--source", "tta"], "drop+tta"),
    "mcbn": (["--model", "bn+mcbn", "--mcbn-batch", "4"], "bn+mcbn"),
    "ensemble": (["--model", "drop", "--model", "plain"], "ensemble"),
}


@pytest.mark.parametrize("source", WORKFLOW_CALLS)
def test_each_source_gives_what_the_workflow_writes(tmp_path, source):
    from sruq.stages import infer

    results, lr = _results_tree(tmp_path)
    options, method = WORKFLOW_CALLS[source]
    mc = {"samples": 3, "tile": 16, "overlap": 4, "mcbn_batch": 4}
    heatmap = {"details": 1}
    weights = results / "models" / "train-set" / "bicubic" / "x2"
    calibration = results / "calibration" / "bicubic" / "x2"
    sr, unc = tmp_path / "sr", tmp_path / "unc"
    if method == "infer":
        infer.infer(weights / "drop" / "weights.pt", lr, sr, unc, mc, seed=5, device="cpu",
                    progress=False, calibration=calibration / "drop.json", heatmap=heatmap)
    elif method == "ensemble":
        infer.deep_ensemble([weights / "drop" / "weights.pt", weights / "plain" / "weights.pt"],
                            lr, sr, unc, device="cpu", progress=False, heatmap=heatmap)
    else:
        base = method.split("+")[0]
        infer.spread_method(infer.Method(method, 2, weights=weights / base / "weights.pt"),
                            lr, sr, unc, mc=mc, heatmap=heatmap, device="cpu",
                            calibration=calibration / f"{method}.json", seed=5,
                            patches=results / "patches" / "train-set" / "bicubic" / "x2" / base)
    out = tmp_path / "out"
    samples = ["--samples", "3"] if source in ("mc", "tta", "mcbn") else []
    assert main(["upscale", str(lr), *options, *samples, "--results", str(results),
                     "--seed", "5", "--tile", "16", "--overlap", "4", "--details", "1",
                     "--device", "cpu", "--out", str(out), "--quiet"]) == 0
    for image in ("chelsea", "camera"):
        for name in ("mc_mean.png", "one_pass.png", "heatmap.png", "lr_input.png"):
            if name == "heatmap.png" and source == "ensemble":
                continue  # the CLI draws an ensemble's raw std (no factor for named members)
            assert (out / image / name).read_bytes() == (unc / image / name).read_bytes(), name
        assert np.array_equal(np.load(out / image / "std.npy"), np.load(unc / image / "std.npy"))
        assert np.load(out / image / "std.npy").max() > 0


@pytest.mark.parametrize(("options", "message"), [
    (["--model", "plain", "--source", "mc"], "--source mc: plain has no dropout"),
    (["--model", "drop", "--source", "mcbn"], "--source mcbn: drop has no BatchNorm"),
    (["--model", "drop", "--source", "ensemble"], "needs two or more members"),
    (["--model", "drop", "--model", "plain", "--source", "x8"], "needs two or more members"),
    (["--model", "drop+x8", "--samples", "5"], "--samples: drop runs 8 fixed transforms"),
    (["--model", "plain", "--samples", "5"], "--samples: plain runs once (no dropout)"),
    (["--model", "bicubic", "--scale", "2", "--samples", "7"], "--samples: bicubic runs once"),
    (["--model", "drop+x8", "--source", "tta"], "asks for --source x8, not --source tta"),
    (["--model", "drop+edge-post"], "not +edge-post"),
])
def test_a_source_the_model_cannot_run_is_one_line(tmp_path, options, message, capsys):
    results, lr = _results_tree(tmp_path)
    out = tmp_path / "out"
    assert main(["upscale", str(lr / "chelsea.png"), *options, "--results", str(results),
                     "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sruq: error:") and "\n" not in err and message in err, err
    assert not out.exists()


def test_help_lists_what_each_source_needs(capsys):
    with pytest.raises(SystemExit):
        main(["upscale", "--help"])
    text = capsys.readouterr().out
    for needed in ("--source", "mc ", "x8 ", "tta ", "mcbn ", "ensemble ", "dropout",
                   "BatchNorm", "two or more members", "summary.csv", ".sruq-manifest.json"):
        assert needed in text, needed


@pytest.mark.slow
def test_upscale_gives_the_shift_verdict_both_ways_and_says_when_there_is_none(
        tiny_run, tmp_path, capsys):
    """On the tiny run's esrcnn: its own validation photo looks like the training data, the
    same photo with heavy noise does not; a weight file without a fitted score says so."""
    results = tiny_run / "results"
    clean = results / "data" / "tiny-valid" / "bicubic" / "x2" / "lr" / "coffee.png"
    rng = np.random.default_rng(0)
    lr = np.asarray(Image.open(clean), dtype=np.float64)
    noisy = tmp_path / "noisy.png"
    Image.fromarray(np.clip(lr + rng.normal(0, 20, lr.shape), 0, 255).astype(np.uint8)).save(noisy)
    for image, out, expected in ((clean, "clean", False), (noisy, "noisy", True)):
        code = main(["upscale", str(image), "--model", "esrcnn", "--results", str(results),
                         "--samples", "2", "--out", str(tmp_path / out)])
        printed = capsys.readouterr().err
        verdict = json.loads((tmp_path / out / "shift.json").read_text())
        assert code == 0 and verdict["flagged"] is expected, printed
        assert ("unlike the training data" if expected else "looks like the training data") \
            in printed
        assert verdict["threshold"] > 0 and verdict["score_name"] == "lr-statistics"
        # the tiny run has one degradation, so its calibration holds no widening
        assert verdict["heatmap_widening"] == 1.0 and "(shift-aware)" not in printed
    old = tmp_path / "old" / "weights.pt"  # a model trained before shift scores existed
    old.parent.mkdir()
    old.write_bytes((results / "models" / "tiny-train" / "bicubic" / "x2" / "esrcnn"
                     / "weights.pt").read_bytes())
    assert main(["upscale", str(clean), "--weights", str(old), "--samples", "2",
                     "--out", str(tmp_path / "old-out")]) == 0
    assert "no shift score available" in capsys.readouterr().err
    assert not (tmp_path / "old-out" / "shift.json").exists()
