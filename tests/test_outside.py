"""Outside methods: SR images made elsewhere, checked, taken in and scored beside ours."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from workflow_runner import load_config, run_workflow

from sruq.core.errors import ConfigError
from sruq.core.images import FolderMismatch
from sruq.core.io import read_image, write_image
from sruq.pipeline.config import check_outside, outside_folder
from sruq.pipeline.methods import method_kinds, methods_of_kind
from sruq.stages.infer import take_outside

# --- the stage function -------------------------------------------------------------------


@pytest.fixture
def folders(tmp_path):
    """HR ``a`` (33x35: mod-cropped to 32x34 at x2) and an outside folder of its SR image."""
    rng = np.random.default_rng(0)
    write_image(tmp_path / "hr" / "a.png", rng.integers(0, 256, (33, 35, 3), dtype=np.uint8))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    sr = rng.integers(0, 256, (32, 34, 3), dtype=np.uint8)
    Image.fromarray(sr).save(outside / "a.tif")
    return outside, tmp_path / "hr", sr


def test_outside_images_are_taken_in_as_png(folders, tmp_path):
    outside, hr, sr = folders
    take_outside(outside, hr, 2, tmp_path / "sr")
    assert [p.name for p in (tmp_path / "sr").iterdir()] == ["a.png"]
    assert np.array_equal(read_image(tmp_path / "sr" / "a.png"), sr)


def test_a_bad_folder_writes_nothing_and_keeps_the_earlier_one(folders, tmp_path):
    outside, hr, _ = folders
    out = tmp_path / "sr"
    take_outside(outside, hr, 2, out)
    before = (out / "a.png").read_bytes()
    (outside / "a.tif").unlink()
    write_image(outside / "a.png", np.zeros((33, 35, 3), np.uint8))
    with pytest.raises(FolderMismatch, match="a.png: 33x35 pixels, expected 32x34"):
        take_outside(outside, hr, 2, out)
    assert (out / "a.png").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (outside / "a.png").unlink()
    write_image(outside / "a.png", np.zeros((32, 34, 3), np.uint8))
    write_image(outside / "b.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(FolderMismatch, match="b.png: extra SR image"):
        take_outside(outside, hr, 2, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    with pytest.raises(FileNotFoundError, match="nowhere: no such folder"):
        take_outside(tmp_path / "nowhere", hr, 2, tmp_path / "new")


# --- the config ---------------------------------------------------------------------------


def test_outside_methods_are_their_own_kind_and_come_last():
    config = {"baselines": ["bicubic"], "ensembles": {},
              "outside": {"srooe": {"path": "/x"}, "spsr": {"path": "/y"}}}
    kinds = method_kinds(config, lambda *_: False)
    assert kinds == {"bicubic": "baseline", "srooe": "outside", "spsr": "outside"}
    assert methods_of_kind(kinds, "outside") == ["srooe", "spsr"]
    with pytest.raises(ConfigError, match=r"'outside\.bicubic': 'bicubic' is already a method"):
        method_kinds({**config, "outside": {"bicubic": {"path": "/x"}}}, lambda *_: False)


def test_the_path_pattern_is_checked(tmp_path):
    pattern = str(tmp_path / "{dataset}" / "x{scale}" / "{degradation}")
    for dataset in ("Set5", "Set14"):
        (tmp_path / dataset / "x4" / "bicubic").mkdir(parents=True)
    run = (["Set5", "Set14"], [4], ["bicubic"])
    check_outside({"srooe": {"path": pattern}}, *run)
    assert outside_folder(pattern, "Set5", 4, "bicubic") == tmp_path / "Set5/x4/bicubic"
    # one scale and one degradation: those placeholders may be left out
    check_outside({"srooe": {"path": str(tmp_path / "{dataset}" / "x4" / "bicubic")}}, *run)
    cases = [
        (str(tmp_path / "{set}"), r"unknown placeholder \{set\} \(known: \{dataset\}, "
                                  r"\{scale\}, \{degradation\}\)"),
        (str(tmp_path / "{scale:02d}"), r"unknown placeholder \{scale:02d\}"),
        (str(tmp_path / "{dataset"), "expected '}' before end of string"),
        (str(tmp_path / "Set5" / "x{scale}" / "{degradation}"),
         r"no \{dataset\} placeholder, but the run has 2 \(Set5, Set14\)"),
    ]
    for path, message in cases:
        with pytest.raises(ConfigError, match=r"^config key 'outside\.srooe\.path': " + message):
            check_outside({"srooe": {"path": path}}, *run)
    with pytest.raises(ConfigError, match=r"x2/bicubic is not a folder \(the SR images of "
                                          r"Set5 x2 bicubic\)"):
        check_outside({"srooe": {"path": pattern}}, ["Set5"], [2, 4], ["bicubic"])


# --- real workflow runs -------------------------------------------------------------------

COMBO = Path("tiny-test") / "x2" / "bicubic"  # the tiny config's one test combination
SR = Path("results") / "sr" / "tiny-test" / "bicubic" / "x2"


def outside_config(root: Path) -> dict:
    """The tiny config without its trained and classical methods (nothing to train) and
    with one outside method, ``elsewhere``, whose folders lie under ``root``."""
    config = load_config("test-tiny.yaml")
    for key in ("models", "classical", "variants", "ensembles"):
        config.pop(key)
    config["outside"] = {"elsewhere": {"path": str(root / "{dataset}/x{scale}/{degradation}")}}
    (root / COMBO).mkdir(parents=True, exist_ok=True)
    return config


@pytest.fixture(scope="module")
def outside_run(tmp_path_factory):
    """The baselines up to their SR images, then the tiny run's bicubic images as another
    repository would hand them over (BMP and TIFF) as the outside method, then the rest."""
    workdir = tmp_path_factory.mktemp("outside")
    config = outside_config(workdir / "elsewhere")
    run_workflow(workdir, config, "--until", "upscale")
    for path, suffix in zip(sorted((workdir / SR / "bicubic").glob("*.png")), (".bmp", ".tif")):
        Image.open(path).save(workdir / "elsewhere" / COMBO / f"{path.stem}{suffix}")
    result = run_workflow(workdir, config)
    return workdir, config, result


@pytest.mark.slow
def test_outside_method_is_in_every_table_and_figure(outside_run):
    workdir, _, result = outside_run
    assert "rule outside:" in result.stdout + result.stderr
    tables = workdir / "results" / "tables"
    frame = pd.read_csv(tables / "per_image.csv")
    assert list(dict.fromkeys(frame["method"])) == ["nearest", "bicubic", "elsewhere"]
    ours, theirs = (frame[frame["method"] == m].set_index("image")[["psnr", "ssim"]]
                    for m in ("bicubic", "elsewhere"))
    pd.testing.assert_frame_equal(ours, theirs)  # the same images: the same numbers
    rows = {line.split(" | ")[0]: line.split(" | ", 1)[1]
            for line in (tables / "tiny-test_x2_bicubic.md").read_text().splitlines()
            if line.startswith("| ")}
    # the same numbers; only the ΔPSNR cell differs: bicubic is the reference (–), the
    # outside copy of its images is 0 dB from it
    theirs_cells, ours_cells = rows["| elsewhere"].split(" | "), rows["| bicubic"].split(" | ")
    assert ours_cells[1] == "–" and theirs_cells[1] == "+0.00 [+0.00, +0.00]"
    assert theirs_cells[:1] + theirs_cells[2:] == ours_cells[:1] + ours_cells[2:]
    assert "| elsewhere |" in (tables / "summary.md").read_text()
    assert "elsewhere" in (tables / "tiny-test_x2_bicubic.tex").read_text()
    for name in ("metrics", "comparison"):
        assert (workdir / "results" / "figures" / "tiny-test_x2_bicubic" / f"{name}.png").is_file()
    taken = sorted(p.name for p in (workdir / SR / "elsewhere").iterdir()
                   if not p.name.startswith("."))
    assert taken == ["camera.png", "chelsea.png"]
    assert not (workdir / "results" / "uncertainty" / "tiny-test" / "bicubic" / "x2"
                / "elsewhere").exists()


@pytest.mark.slow
def test_a_changed_outside_image_reruns_the_rule(outside_run):
    workdir, config, _ = outside_run
    path = next((workdir / "elsewhere" / COMBO).glob("camera.*"))
    image = np.array(Image.open(path))
    image[0, 0] = 255 - image[0, 0]
    Image.fromarray(image).save(path)
    plan = run_workflow(workdir, config, "--dry-run").stdout
    assert "rule outside:" in plan and "rule tables:" in plan


def _hand_over(hr_dir: Path, folder: Path, case: str) -> None:
    """An outside folder of the HR images mod-cropped (as PNG), spoilt as ``case`` says."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(hr_dir.glob("*.png")):
        image = read_image(path)
        write_image(folder / path.name, image if case == "wrong-size" else image[:300, :450])
    if case == "missing":
        (folder / "camera.png").unlink()
    if case == "extra":
        shutil.copy(folder / "camera.png", folder / "baby.png")


BAD = {
    "missing": "missing/tiny-test/x2/bicubic/camera.png: SR image for camera.png is missing",
    "extra": "extra/tiny-test/x2/bicubic/baby.png: extra SR image, ",
    "wrong-size": "wrong-size/tiny-test/x2/bicubic/chelsea.png: 300x451 pixels, expected "
                  "300x450 (HR chelsea.png mod-cropped to x2",
}


@pytest.mark.slow
def test_bad_outside_folders_stop_their_jobs_with_one_line(tmp_path):
    """A missing, an extra and a wrong-sized image: three outside methods, each job stops
    with one line naming the file, and none writes its SR folder."""
    config = outside_config(tmp_path / "unused")
    config.pop("outside")
    run_workflow(tmp_path, config, "--until", "prepare_hr")
    hr_dir = tmp_path / "results" / "data" / "tiny-test" / "hr"
    config["outside"] = {}
    for case in BAD:
        _hand_over(hr_dir, tmp_path / case / COMBO, case)
        config["outside"][case] = {"path": str(tmp_path / case / "{dataset}/x{scale}/"
                                               "{degradation}")}
    result = run_workflow(tmp_path, config, "--keep-going",
                          *(str(SR / case) for case in BAD), check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines()
              if line.startswith("sruq: error:") and "(log: " in line]  # the console lines
    assert len(errors) == len(BAD), result.stderr[-3000:]
    for case, message in BAD.items():
        assert any(message in line for line in errors), (case, errors)
        assert not (tmp_path / SR / case).exists()


def test_a_missing_outside_folder_stops_the_run_at_start_up(tmp_path):
    config = outside_config(tmp_path / "elsewhere")
    shutil.rmtree(tmp_path / "elsewhere" / COMBO)
    result = run_workflow(tmp_path / "run", config, "--dry-run", check=False)
    assert result.returncode != 0
    assert (f"config key 'outside.elsewhere.path': {tmp_path / 'elsewhere' / COMBO} is not a "
            "folder") in result.stderr + result.stdout
    assert not (tmp_path / "run" / "results").exists()
