"""Real Snakemake runs of the workflow on small configurations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from workflow_runner import load_config, run_workflow

PUBLISHED = {  # bicubic, PSNR dB / SSIM on Y, literature protocol
    ("Set5", 2): (33.66, 0.9299), ("Set5", 3): (30.39, 0.8682), ("Set5", 4): (28.42, 0.8104),
    ("Set14", 2): (30.24, 0.8688), ("Set14", 3): (27.55, 0.7742), ("Set14", 4): (26.00, 0.7027),
}


@pytest.mark.slow
def test_bicubic_reproduces_published_set5_set14(mirror, tmp_path):
    config = {
        "seed": 0, "scales": [2, 3, 4], "data_mirror": str(mirror),
        "datasets": {"Set5": {"source": "benchmark", "role": "test"},
                     "Set14": {"source": "benchmark", "role": "test"}},
        "degradations": ["bicubic"], "baselines": ["bicubic"],
    }
    run_workflow(tmp_path, config)
    summary = pd.read_csv(tmp_path / "results" / "tables" / "summary.csv")
    assert len(summary) == 6
    for row in summary.itertuples():
        psnr, ssim = PUBLISHED[(row.dataset, row.scale)]
        assert row.psnr == pytest.approx(psnr, abs=0.02), (row.dataset, row.scale)
        assert row.ssim == pytest.approx(ssim, abs=0.002), (row.dataset, row.scale)
    per_image = pd.read_csv(tmp_path / "results" / "tables" / "per_image.csv")
    assert len(per_image) == 3 * (5 + 14)
    assert "| bicubic |" in (tmp_path / "results" / "tables" / "summary.md").read_text()


@pytest.mark.slow
def test_tiny_workflow_end_to_end_and_deterministic(tmp_path):
    config = load_config("test-tiny.yaml")
    run_workflow(tmp_path / "a", config)
    run_workflow(tmp_path / "b", config)
    tables = [tmp_path / run / "results" / "tables" / "per_image.csv" for run in "ab"]
    assert tables[0].read_bytes() == tables[1].read_bytes()
    frame = pd.read_csv(tables[0])
    assert set(frame["method"]) == set(config["baselines"])
    assert set(frame["image"]) == {"chelsea", "camera"}
    assert (frame["psnr"] > 20).all()
    markdown = (tmp_path / "a" / "results" / "tables" / "summary.md").read_text()
    assert "tiny-test x2" in markdown


def test_default_config_targets_every_baseline_and_scale(tmp_path):
    result = run_workflow(tmp_path, None, "--dry-run", "--quiet", "rules")
    config = load_config("config.yaml")
    out = result.stdout
    n = len(config["baselines"]) * len(config["scales"]) * len(config["degradations"])
    assert f"metrics {n}" in " ".join(out.split()) or f"metrics  {n}" in out, out


def test_bad_config_value_fails_at_once_naming_the_key(tmp_path):
    config = load_config("test-tiny.yaml")
    config["metrics"] = {"channel": "lab"}
    result = run_workflow(tmp_path, config, check=False)
    assert result.returncode != 0
    assert "config key 'metrics.channel'" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_missing_dataset_folder_fails_naming_the_key(tmp_path):
    config = load_config("test-tiny.yaml")
    config["datasets"]["tiny-test"] = {"source": "folder", "role": "test",
                                       "path": str(tmp_path / "nowhere")}
    result = run_workflow(tmp_path, config, "--until", "prepare_hr", check=False)
    assert result.returncode != 0
    assert "datasets.tiny-test.path" in result.stderr
    assert not (tmp_path / "results" / "data" / "tiny-test" / "hr").exists()


def test_unreadable_image_fails_naming_the_file(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(images / "ok.png")
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    config = load_config("test-tiny.yaml")
    config["datasets"]["tiny-test"] = {"source": "folder", "role": "test", "path": str(images)}
    result = run_workflow(tmp_path / "run", config, "--until", "prepare_hr", check=False)
    assert result.returncode != 0
    assert "corrupt.png" in result.stderr
    assert not (tmp_path / "run" / "results" / "data" / "tiny-test" / "hr").exists()
