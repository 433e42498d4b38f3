"""An installed sruq works: the wheel built from this tree, installed (not editable) into a
fresh virtual environment and run from a folder outside the repository.

The fresh environment borrows the heavy third-party packages (torch, numpy, ...) from the
environment running the tests through a ``.pth`` path line, which adds only that folder to
``sys.path``: the ``.pth`` files inside it (the editable install of this tree) are not run,
so the ``sruq`` imported there can only be the installed one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data

from sruq.degrade import matlab_downscale_uint8

from conftest import REPO

pytestmark = pytest.mark.slow

PACKAGE = REPO / "src" / "sruq"
# a tiny MC-dropout network; its patches and training keys are checked by the config
# schema (sruq/schemas/), read from the installed package
SPEC = {"arch": "esrcnn", "kwargs": {"dropout": 0.1},
        "patches": {"lr_size": 16, "per_image": 16},
        "train": {"iterations": 20, "batch_size": 8, "lr": 0.001, "valid_every": 10,
                  "checkpoint_every": 10, "log_every": 5}}

TRAIN = """
import json, sys
from pathlib import Path
from sruq.degrade import PRESETS
from sruq.stages.train import input_channels, train, training_patches
spec = json.loads(sys.argv[1])
channels = input_channels(spec["arch"], spec["kwargs"])
training_patches("net", spec["patches"], channels, Path("hr-train"), Path("patches"), 2,
                 PRESETS["bicubic"], 0)
train("net", spec, 2, Path("patches"), [], Path("model"), 0, device="cpu")
"""

CHECK = """
import json, sys
import yaml
import sruq
from sruq.core.errors import ConfigError
from sruq.core.schema import SCHEMA_PATH, validate
config = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
validate(config)
config["presets"] = {"mine": {"steps": [{"op": "downscale", "mode": "cubic-typo"}]}}
try:
    validate(config)  # the preset's rules: degradation.schema.yaml, beside the config schema
    error = None
except ConfigError as err:
    error = str(err)
print(json.dumps({"sruq": sruq.__file__, "schema": str(SCHEMA_PATH), "error": error}))
"""


def _run(cmd: list[str | Path], cwd: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"{cmd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _site_packages(python: Path | str, cwd: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    return Path(_run([python, "-c", code], cwd).stdout.strip())


def _package_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """The wheel of this tree installed into a fresh venv: its python, sruq and a folder
    outside the repository to run them in."""
    tmp = tmp_path_factory.mktemp("wheel")
    tree = tmp / "tree"  # a clean copy: no stale build/ folder of the repo can leak in
    shutil.copytree(PACKAGE, tree / "src" / "sruq",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tree / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run(pip + ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
                "-w", tmp / "dist", tree], tmp)
    (wheel,) = (tmp / "dist").glob("sruq-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp)
    python = venv / "bin" / "python"
    borrowed = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    (_site_packages(python, tmp) / "borrowed-deps.pth").write_text("\n".join(borrowed) + "\n")
    _run(pip + ["--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel],
         tmp)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    assert REPO not in elsewhere.parents
    return {"python": python, "sruq": venv / "bin" / "sruq", "cwd": elsewhere,
            "site": _site_packages(python, tmp)}


def _env() -> dict[str, str]:
    """The environment without anything that points Python at the source tree."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def test_the_installed_package_holds_every_file_of_the_source_package(installed):
    """Every module and every data file (the config schemas, the viewer's script and
    style, py.typed) is installed."""
    files = _package_files(installed["site"] / "sruq")
    assert files == _package_files(PACKAGE)
    assert {"schemas/config.schema.yaml", "schemas/degradation.schema.yaml",
            "static/viewer.js", "static/viewer.css"} <= files


def test_the_installed_sruq_is_imported_and_reads_its_own_schema(installed):
    result = _run([installed["python"], "-c", CHECK, REPO / "config" / "config.yaml"],
                  installed["cwd"], _env())
    found = json.loads(result.stdout)
    site = installed["site"]
    assert Path(found["sruq"]) == site / "sruq" / "__init__.py"
    assert Path(found["schema"]) == site / "sruq" / "schemas" / "config.schema.yaml"
    assert found["error"] == ("config key 'presets.mine.steps.0.mode': 'cubic-typo' is not "
                              "one of ['matlab_bicubic', 'area', 'bilinear', 'bicubic']")


def _write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def test_installed_sruq_trains_upscales_and_evaluates_as_the_source_tree_does(installed):
    """A network trained through the installed package (its patch and training settings
    checked by the shipped schema), then ``sruq upscale`` with MC dropout and with bicubic,
    and ``sruq evaluate`` on the result: the same files and numbers as the source tree's
    ``sruq`` gives."""
    cwd, env = installed["cwd"], _env()
    for name in ("astronaut", "chelsea"):
        _write(cwd / "hr-train" / f"{name}.png", getattr(data, name)()[:128, :128])
    hr = data.coffee()[:96, :128]
    lr = _write(cwd / "lr" / "coffee.png", matlab_downscale_uint8(hr, 2))
    _write(cwd / "hr" / "coffee.png", hr)
    _run([installed["python"], "-c", TRAIN, json.dumps(SPEC)], cwd, env)
    weights = cwd / "model" / "weights.pt"
    assert weights.is_file()

    mc = ["upscale", lr, "--weights", weights, "--samples", "4", "--details", "2", "--quiet"]
    source_tree = [sys.executable, "-m", "sruq.cli"]
    _run([installed["sruq"], *mc, "--out", "mc"], cwd, env)
    _run(source_tree + mc + ["--out", "mc-source-tree"], cwd,
         {**env, "PYTHONPATH": str(REPO / "src")})
    out, reference = cwd / "mc", cwd / "mc-source-tree"
    for name in ("lr_input.png", "one_pass.png", "mc_mean.png", "heatmap.png", "colorbar.png"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    std = np.load(out / "std.npy")
    assert std.shape == (96, 128, 3) and std.max() > 0  # an RGB network
    assert np.array_equal(std, np.load(reference / "std.npy"))
    assert (out / "details" / "least_certain" / "heatmap_2.png").is_file()

    _run([installed["sruq"], "upscale", lr, "--model", "bicubic", "--scale", "2", "--out",
          "bicubic", "--quiet"], cwd, env)
    assert np.load(cwd / "bicubic" / "std.npy").max() == 0  # deterministic: no spread

    sr = cwd / "sr"
    sr.mkdir()
    shutil.copy2(out / "mc_mean.png", sr / "coffee.png")
    evaluate = ["evaluate", sr, cwd / "hr", "--scale", "2", "--csv"]
    _run([installed["sruq"], *evaluate, "scores.csv"], cwd, env)
    _run(source_tree + evaluate + ["scores-source-tree.csv"], cwd,
         {**env, "PYTHONPATH": str(REPO / "src")})
    scores = pd.read_csv(cwd / "scores.csv")
    assert scores["image"].tolist() == ["coffee"] and scores["psnr"].iloc[0] > 20
    assert (cwd / "scores.csv").read_bytes() == (cwd / "scores-source-tree.csv").read_bytes()
