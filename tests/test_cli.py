"""The `sruq upscale` command: every named output, and clear handling of bad images."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sruq.cli.main import main
from sruq.models import build_model
from sruq.models.checkpoint import save_weights
from sruq.uncertainty.heatmaps import heatmap_rgb


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "weights.pt"
    save_weights(path, build_model("esrcnn", 2, dropout=0.2), "esrcnn", 0, None)
    return path


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (72, 80, 3), dtype=np.uint8)).save(path)
    return path


def test_help_documents_upscale():
    out = subprocess.run([sys.executable, "-m", "sruq.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "upscale" in out
    sub = subprocess.run([sys.executable, "-m", "sruq.cli", "upscale", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for flag in ("--model", "--weights", "--samples", "--mode", "--out", "heatmap.png"):
        assert flag in sub


@pytest.mark.parametrize("mode", ["tiled", "patch"])
def test_upscale_writes_the_seed_output_set(weights, photo, tmp_path, mode):
    out = tmp_path / "out"
    assert main(["upscale", str(photo), "--weights", str(weights), "--samples", "3",
                 "--mode", mode, "--out", str(out), "--details", "2", "--quiet"]) == 0
    for name in ("lr_input.png", "one_pass.png", "mc_mean.png", "std.npy", "heatmap.png",
                 "colorbar.png"):
        assert (out / name).is_file(), name
    for group in ("most_certain", "least_certain"):
        for stem in ("original_lr_patch", "mean_pred_patch", "heatmap"):
            assert (out / "details" / group / f"{stem}_2.png").is_file()
    lr = np.asarray(Image.open(out / "lr_input.png"))
    expected = (72, 80) if mode == "tiled" else (64, 64)  # patch: centre crop to 64s
    assert lr.shape[:2] == expected
    mean = np.asarray(Image.open(out / "mc_mean.png"))
    assert mean.shape[:2] == (2 * expected[0], 2 * expected[1])
    std = np.load(out / "std.npy")
    assert std.dtype == np.float32 and std.shape[:2] == mean.shape[:2] and std.max() > 0


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "I;16"])
def test_unusual_image_modes_are_converted(weights, tmp_path, mode):
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (40, 40), dtype=np.uint16))
    else:
        image = rgb.convert(mode)
    image.save(tmp_path / "in.png")
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path / "in.png"), "--weights", str(weights),
                 "--samples", "2", "--out", str(out), "--quiet"]) == 0
    channels = 1 if mode in ("L", "I;16") else 3
    assert np.load(out / "std.npy").shape == (80, 80, channels)


def test_bad_inputs_give_one_line_errors(weights, photo, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tiny)
    cases = [
        ([str(corrupt), "--weights", str(weights)], "corrupt.png"),
        ([str(text), "--weights", str(weights)], "notes.txt"),
        ([str(tiny), "--weights", str(weights), "--mode", "patch"], "smaller than one 64x64"),
        ([str(photo), "--weights", str(tmp_path / "nope.pt")], "no such file"),
        ([str(photo), "--weights", str(text)], "notes.txt"),
        ([str(photo), "--model", "bicubic"], "needs --scale"),
        ([str(photo), "--model", "esrcnn", "--results", str(tmp_path)], "no trained weights"),
    ]
    for args, message in cases:
        assert main(["upscale", *args, "--out", str(tmp_path / "o"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("sruq: error:") and message in err and "\n" not in err, err
    assert not (tmp_path / "o").exists()


def test_baseline_needs_no_weights(photo, tmp_path):
    out = tmp_path / "out"
    assert main(["upscale", str(photo), "--model", "bicubic", "--scale", "3", "--out", str(out),
                 "--quiet"]) == 0
    assert np.asarray(Image.open(out / "mc_mean.png")).shape == (216, 240, 3)
    assert np.load(out / "std.npy").max() == 0  # deterministic: no uncertainty


def test_model_lookup_lists_candidates_and_uses_the_workflow_calibration(photo, tmp_path,
                                                                         capsys):
    results = tmp_path / "results"
    for degradation in ("bicubic", "noisy"):
        path = results / "models" / "train-set" / degradation / "x2" / "net" / "weights.pt"
        path.parent.mkdir(parents=True)
        save_weights(path, build_model("esrcnn", 2, dropout=0.2), "esrcnn", 0, None)
    common = ["upscale", str(photo), "--model", "net", "--results", str(results),
              "--samples", "3", "--quiet"]
    assert main([*common, "--scale", "2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "matches 2 trained models" in err
    assert "--scale 2 --degradation bicubic" in err and "--scale 2 --degradation noisy" in err
    assert not (tmp_path / "o").exists()
    assert main([*common, "--degradation", "jpeg", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no trained weights for the given" in err and "--degradation noisy" in err

    calibration = results / "calibration" / "noisy" / "x2" / "net.json"
    calibration.parent.mkdir(parents=True)
    calibration.write_text('{"sigma_scale": 3.0}')
    out = tmp_path / "noisy"
    assert main([*common, "--degradation", "noisy", "--out", str(out)]) == 0
    std = np.load(out / "std.npy")
    heatmap = np.asarray(Image.open(out / "heatmap.png"))
    assert np.array_equal(heatmap, heatmap_rgb(3.0 * std.transpose(2, 0, 1)))
    assert not np.array_equal(heatmap, heatmap_rgb(std.transpose(2, 0, 1)))
    out = tmp_path / "bicubic"  # no calibration file there: the raw std
    assert main([*common, "--degradation", "bicubic", "--scale", "2", "--out", str(out)]) == 0
    std = np.load(out / "std.npy")
    assert np.array_equal(np.asarray(Image.open(out / "heatmap.png")),
                          heatmap_rgb(std.transpose(2, 0, 1)))


# --- sruq evaluate ------------------------------------------------------------------------


@pytest.fixture
def scored(tmp_path):
    """An HR folder (a colour image of odd size, a grey one) and an SR folder as another
    repository might write it (JPEG quality 100 and BMP)."""
    rng = np.random.default_rng(3)
    hr, sr = tmp_path / "hr", tmp_path / "their sr"
    hr.mkdir()
    sr.mkdir()
    colour = rng.integers(0, 256, (45, 51, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    Image.fromarray(colour).save(hr / "colour.png")
    Image.fromarray(grey).save(hr / "grey.png")
    noisy = np.clip(colour[:44, :50] + rng.normal(0, 6, (44, 50, 3)), 0, 255)
    Image.fromarray(noisy.astype(np.uint8)).save(sr / "colour.jpg", quality=100)
    Image.fromarray(np.clip(grey.astype(int) + 3, 0, 255).astype(np.uint8)).save(sr / "grey.bmp")
    return sr, hr


def test_evaluate_prints_the_table_and_writes_the_csv(scored, capsys):
    import pandas as pd

    from sruq.evaluation.folders import evaluate_folder

    sr, hr = scored
    assert main(["evaluate", str(sr), str(hr), "--scale", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    expected = evaluate_folder(sr, hr, 2, dataset="", degradation="", method="")
    assert out[0] == f"{sr} against {hr}: x2, Y (greyscale: its channel), 2 border pixels cropped"
    assert out[1].split() == ["image", "PSNR", "(dB)", "SSIM"]
    for line, row in zip(out[2:4], expected.itertuples()):
        assert line.split() == [row.image, f"{row.psnr:.2f}", f"{row.ssim:.4f}"]
    assert out[4].split() == ["mean", f"{expected['psnr'].mean():.2f}",
                              f"{expected['ssim'].mean():.4f}"]
    csv = sr.parent / "their sr.csv"  # beside SR_DIR, never inside an input folder
    assert out[5] == str(csv)
    written = pd.read_csv(csv)
    assert list(written.columns) == ["image", "psnr", "ssim"]
    assert written["psnr"].round(6).tolist() == expected["psnr"].round(6).tolist()
    assert sorted(p.name for p in sr.iterdir()) == ["colour.jpg", "grey.bmp"]


def test_evaluate_options_follow_the_protocol(scored, tmp_path, capsys):
    import pandas as pd

    from sruq.evaluation.folders import evaluate_folder

    sr, hr = scored
    csv = tmp_path / "scores" / "theirs.csv"
    assert main(["evaluate", str(sr), str(hr), "--scale", "2", "--crop", "0", "--channel",
                 "rgb", "--csv", str(csv)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(csv)
    expected = evaluate_folder(sr, hr, 2, dataset="", degradation="", method="", crop=0,
                               channel="rgb")
    assert pd.read_csv(csv)["ssim"].round(6).tolist() == expected["ssim"].round(6).tolist()


def _spoil(sr, hr, case):
    """Return the args of a bad ``sruq evaluate`` call and the expected message."""
    base = [str(sr), str(hr), "--scale", "2"]
    if case == "missing":
        (sr / "grey.bmp").unlink()
        return base, f"{sr / 'grey'}.png: SR image for grey.png is missing"
    if case == "extra":
        Image.new("RGB", (8, 8)).save(sr / "baby.png")
        return base, f"{sr / 'baby.png'}: extra SR image"
    if case == "wrong size":
        Image.new("L", (41, 40)).save(sr / "grey.bmp")
        return base, f"{sr / 'grey.bmp'}: 40x41 pixels, expected 40x40"
    if case == "not an image":
        (sr / "notes.txt").write_text("settings of the other repository")
        return base, f"{sr / 'notes.txt'}: not an image file"
    if case == "unreadable":
        (sr / "grey.bmp").write_bytes(b"BM not really")
        return base, f"{sr / 'grey.bmp'}: not a readable image"
    if case == "no SR_DIR":
        return [str(sr / "nope"), str(hr), "--scale", "2"], f"SR_DIR {sr / 'nope'}: no such folder"
    if case == "SR_DIR a file":
        return [str(hr / "grey.png"), str(hr), "--scale", "2"], "grey.png: not a folder"
    if case == "no HR_DIR":
        return [str(sr), str(sr / "hr"), "--scale", "2"], f"HR_DIR {sr / 'hr'}: no such folder"
    if case == "empty HR_DIR":
        (hr.parent / "empty").mkdir()
        return [str(sr), str(hr.parent / "empty"), "--scale", "2"], "empty: no image files"
    if case == "csv inside SR_DIR":
        return [*base, "--csv", str(sr / "m.csv")], "m.csv: inside SR_DIR"
    if case == "csv a folder":
        return [*base, "--csv", str(hr)], "--csv " + str(hr) + ": is a folder"
    if case == "scale":
        return [str(sr), str(hr), "--scale", "0"], "--scale must be a positive integer"
    if case == "crop":
        return [*base, "--crop", "-1"], "--crop must be 0 or more"
    if case == "crop too large":
        return [*base, "--crop", "22"], "image colour: cannot crop 22 border pixels"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing", "extra", "wrong size", "not an image",
                                  "unreadable", "no SR_DIR", "SR_DIR a file", "no HR_DIR",
                                  "empty HR_DIR", "csv inside SR_DIR", "csv a folder", "scale",
                                  "crop", "crop too large"])
def test_evaluate_errors_are_one_line_with_status_2(scored, case, capsys):
    sr, hr = scored
    args, message = _spoil(sr, hr, case)
    assert main(["evaluate", *args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("sruq: error:") and "\n" not in err and message in err, err
    assert "Traceback" not in captured.err + captured.out
    assert not (sr.parent / "their sr.csv").exists() and not (sr / "m.csv").exists()


@pytest.mark.parametrize(("options", "message"), [
    (["--channel", "lab"], "argument --channel: invalid choice: 'lab'"),
    ([], "the following arguments are required: --scale"),
    (["--scale", "two"], "argument --scale: invalid int value: 'two'"),
])
def test_evaluate_bad_options_are_one_line_too(scored, options, message):
    sr, hr = scored
    result = subprocess.run([sys.executable, "-m", "sruq.cli", "evaluate", str(sr), str(hr),
                             *options], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "see sruq evaluate --help" in result.stderr
