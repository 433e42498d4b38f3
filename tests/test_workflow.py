"""Real Snakemake runs of the workflow on small configurations."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from workflow_runner import REPO, load_config, planned_outputs, run_workflow

from sruq.core import layout
from sruq.evaluation.lpips_metric import lpips_available
from sruq.uncertainty.heatmaps import heatmap_rgb
from sruq.uncertainty.settings import HeatmapSettings

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
def test_tiny_workflow_tables_list_every_method(tiny_run):
    config = load_config("test-tiny.yaml")
    frame = pd.read_csv(tiny_run / "results" / "tables" / "per_image.csv")
    methods = (config["baselines"] + list(config["models"]) + config["classical"]["methods"]
               + config["variants"] + list(config["ensembles"]))
    assert list(dict.fromkeys(frame["method"])) == methods
    assert set(frame["image"]) == {"chelsea", "camera"}
    assert {"degradation", "psnr", "ssim", "spearman", "ause", "uce", "uce_scaled"} <= set(
        frame.columns)
    uncertain = frame[frame["method"].isin(["esrcnn", "esrcnn+x8", "esrcnn+tta",
                                            "tiny-ensemble"])]
    assert len(uncertain) == 4 * 2
    assert uncertain["ause"].notna().all() and uncertain["uce_scaled"].notna().all()
    for column in ("uce_bayescap", "ccoeff_bayescap", "coverage", "interval_width"):
        assert uncertain[column].notna().all(), column
        assert frame[~frame.index.isin(uncertain.index)][column].isna().all(), column
    assert uncertain["coverage"].between(0, 1).all() and (uncertain["interval_width"] > 0).all()
    assert frame[frame["method"] == "bicubic"]["ause"].isna().all()
    trained = frame["method"].isin(["esrcnn", "espcn", "esrcnn+x8", "esrcnn+tta",
                                    "tiny-ensemble"])
    assert frame[trained]["shift_score"].notna().all()  # each trained model's own fit
    assert set(frame[trained]["shift_flagged"]) <= {0.0, 1.0}
    assert frame[~trained]["shift_score"].isna().all()  # interpolation, classical: no fit
    scores = frame[trained].set_index(["method", "image"])["shift_lr_statistics"]
    assert scores["esrcnn+x8"].equals(scores["esrcnn"])  # a variant's inputs: its model's
    tables = tiny_run / "results" / "tables"
    comparison = (tables / "tiny-test_x2_bicubic.md").read_text()
    assert "**" in comparison and "esrcnn+x8" in comparison
    assert "| ΔPSNR vs bicubic [95% CI] |" in comparison and "C.Coeff (BayesCap) ↑" in comparison
    assert "| Coverage |" in comparison
    block = pd.read_csv(tables / "tiny-test_x2_bicubic.csv").set_index("method")
    assert block.loc["bicubic", ["dpsnr", "dpsnr_low", "dpsnr_high"]].isna().all()
    means = frame.groupby("method")["psnr"].mean()
    assert block.loc["esrcnn", "dpsnr"] == pytest.approx(means["esrcnn"] - means["bicubic"],
                                                         abs=1e-5)
    assert (block["dpsnr_low"].dropna() <= block["dpsnr_high"].dropna()).all()
    assert "\\toprule" in (tables / "tiny-test_x2_bicubic.tex").read_text()


@pytest.mark.slow
def test_tiny_workflow_writes_models_heatmaps_and_figures(tiny_run):
    results = tiny_run / "results"
    model_dir = results / "models" / "tiny-train" / "bicubic" / "x2" / "esrcnn"
    for name in ("weights.pt", "log.csv", "curve.png", "summary.json"):
        assert (model_dir / name).is_file(), name
    assert (results / "models" / "tiny-train" / "x2" / "sparse-coding.npz").is_file()
    image = results / "uncertainty" / "tiny-test" / "bicubic" / "x2" / "esrcnn" / "chelsea"
    for name in ("lr_input.png", "one_pass.png", "mc_mean.png", "std.npy", "error.npy",
                 "heatmap.png", "colorbar.png"):
        assert (image / name).is_file(), name
    for group in ("most_certain", "least_certain"):
        for stem in ("original_lr_patch", "mean_pred_patch", "heatmap"):
            assert (image / "details" / group / f"{stem}_1.png").is_file()
    std = np.load(image / "std.npy")
    assert std.dtype == np.float32 and std.max() > 0
    ensemble = results / "uncertainty" / "tiny-test" / "bicubic" / "x2" / "tiny-ensemble"
    spread = np.load(ensemble / "chelsea" / "std.npy")  # two different networks disagree
    assert spread.shape == std.shape and spread.mean() > 1e-3
    noisy = results / "uncertainty" / "tiny-test" / "bicubic" / "x2" / "esrcnn+tta"
    spread = np.load(noisy / "chelsea" / "std.npy")  # input-noise TTA
    assert spread.shape == std.shape and spread.max() > 0
    assert (results / "calibration" / "bicubic" / "x2" / "esrcnn+tta.json").is_file()
    figures = results / "figures" / "tiny-test_x2_bicubic"
    for name in ("metrics", "comparison", "heatmaps", "sparsification", "reliability"):
        assert (figures / f"{name}.png").stat().st_size > 10_000, name
        assert (figures / f"{name}.pdf").is_file(), name
    assert (results / "figures" / "training_curves.png").is_file()
    calibration = json.loads((results / "calibration" / "bicubic" / "x2" / "esrcnn.json")
                             .read_text())
    assert calibration["sigma_scale"] > 0 and calibration["conformal_q"] > 0
    assert calibration["coverage"] == 0.9


@pytest.mark.slow
def test_figure_legends_give_the_tables_ause(tiny_run):
    """The uncertainty figures' legend numbers (logged by the step) are the per-image
    means of per_image.csv: one AUSE, one UCE (scaled) for figures and tables."""
    results = tiny_run / "results"
    log = (results / "logs" / "uncertainty_figures" / "tiny-test_x2_bicubic.log").read_text()
    frame = pd.read_csv(results / "tables" / "per_image.csv")
    means = frame.groupby("method")[["ause", "uce_scaled"]].mean()
    for method in ("esrcnn", "esrcnn+x8", "tiny-ensemble"):
        line = next(row for row in log.splitlines() if row.startswith(f"{method}: "))
        numbers = line.split(": ", 1)[1].split(" (")[0]  # "ause 0.01, uce ..., uce_scaled ..."
        logged = dict(item.split(" ") for item in numbers.split(", "))
        assert float(logged["ause"]) == pytest.approx(means.loc[method, "ause"], abs=2e-6)
        assert float(logged["uce_scaled"]) == pytest.approx(means.loc[method, "uce_scaled"],
                                                            abs=2e-6)


def readme_examples(command: str) -> list[str]:
    """The ``sruq COMMAND`` lines of the README's code blocks, for the tiny run: its names
    for the default run's data sets."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [line.split("#")[0].strip().replace("builtin-train", "tiny-train")
            .replace("builtin-test", "tiny-test")
            for line in text.splitlines() if line.startswith(f".venv/bin/sruq {command} ")]


def run_sruq(line: str, cwd, *extra: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A ``.venv/bin/sruq ...`` line, run with this Python in ``cwd`` (``env``: variables
    to set)."""
    return subprocess.run([sys.executable, "-m", "sruq.cli", *shlex.split(line)[1:], *extra],
                          cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_readme_upscale_examples_run_after_the_workflow(tiny_run):
    """Every README example, right after a run (the tiny config's names for the default's
    data sets), exits 0 and writes the seed's output set."""
    examples = readme_examples("upscale")
    assert len(examples) >= 6
    assert any("/lr/ " in line for line in examples)  # a folder
    assert any("--source x8" in line for line in examples)
    for line in examples:
        result = run_sruq(line, tiny_run, "--quiet")
        assert result.returncode == 0, (line, result.stderr)
        out = tiny_run / result.stdout.strip()
        sets = [out / row["image"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
                for row in csv.DictReader(open(out / "summary.csv"))] \
            if (out / "summary.csv").is_file() else [out]
        assert len(sets) == (2 if "/lr/ " in line else 1), line
        for folder in sets:
            assert (folder / "heatmap.png").is_file() and (folder / "mc_mean.png").is_file(), line


SOURCE_LINES = {  # sruq upscale options -> the workflow's uncertainty folder of that source
    "--model esrcnn --samples 4": "esrcnn",
    "--model esrcnn+x8": "esrcnn+x8",
    "--model esrcnn --source tta --samples 4": "esrcnn+tta",
    "--model esrcnn --model espcn": "tiny-ensemble",
}


@pytest.mark.slow
@pytest.mark.parametrize("options", SOURCE_LINES)
def test_each_source_gives_the_workflow_files(tiny_run, tmp_path, options):
    """``sruq upscale --source`` on the test images of the tiny run, with the run's mc
    settings and seed: the workflow's mean, std and (for one model: its sigma-scaled)
    heatmap, byte for byte."""
    lr = "results/data/tiny-test/bicubic/x2/lr"
    out = tmp_path / "out"
    # one thread, as Snakemake runs a job (OMP_NUM_THREADS=1): another thread count sums
    # a convolution in another order, a last-bit difference that can flip an 8-bit pixel
    result = run_sruq(f"sruq upscale {lr}/chelsea.png {lr}/camera.png {options} --seed 0 "
                      f"--tile 64 --overlap 16 --details 2 --out {out} --quiet", tiny_run,
                      env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    workflow = tiny_run / "results" / "uncertainty" / "tiny-test" / "bicubic" / "x2"
    for image in ("chelsea", "camera"):
        ours, theirs = out / image, workflow / SOURCE_LINES[options] / image
        assert (ours / "mc_mean.png").read_bytes() == (theirs / "mc_mean.png").read_bytes()
        assert np.array_equal(np.load(ours / "std.npy"), np.load(theirs / "std.npy"))
        if "espcn" not in options:  # an ensemble's factor is not looked up: members by name
            assert (ours / "heatmap.png").read_bytes() == (theirs / "heatmap.png").read_bytes()


def _planned(tiny_run, config) -> dict[str, int]:
    """The jobs a dry run of ``config`` plans on the finished tiny run, by rule."""
    result = run_workflow(tiny_run, config, "--dry-run", "--quiet", "rules")
    table = (result.stdout + result.stderr).split("Job stats:")[-1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def _edit(path: str, value):
    def apply(config):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value(node.get(last)) if callable(value) else value
        return config
    return apply


KEEP_TRAINING = {  # edits that must not re-cut patches or retrain
    "test set": _edit("datasets.tiny-test.images", ["chelsea", "camera", "coffee"]),
    "tested on": lambda c: _edit("degradations", ["bicubic", "noisy"])(
        _edit("models.espcn.train_degradations", ["bicubic"])(
            _edit("models.esrcnn.train_degradations", ["bicubic"])(c))),
    "variants": _edit("variants", ["bicubic+edge-post", "esrcnn+x8"]),
    "mc": _edit("mc.samples", 6),
    "metrics": _edit("metrics", {"coverage": 0.8}),
    "heatmap style": _edit("mc.cmap", "viridis"),
    "train_degradations as the default": _edit("models.esrcnn.train_degradations",
                                               ["bicubic"]),  # espcn, its partner: none
    "device": _edit("device", "cpu"),
}
RETRAIN = {  # edits that must: (rule, jobs)
    "arch": (_edit("models.espcn.arch", "srcnn"), {"train": 1}),
    "kwargs": (_edit("models.esrcnn.kwargs.dropout", 0.2), {"train": 1}),
    "lr": (_edit("models.esrcnn.train.lr", 0.002), {"train": 1}),
    "patch size": (_edit("models.esrcnn.patches.lr_size", 12), {"patches": 1, "train": 1}),
}


@pytest.mark.slow
@pytest.mark.parametrize("edit", KEEP_TRAINING)
def test_config_edits_that_do_not_retrain(tiny_run, edit):
    planned = _planned(tiny_run, KEEP_TRAINING[edit](load_config("test-tiny.yaml")))
    assert not {"patches", "train"} & set(planned), planned


@pytest.mark.slow
@pytest.mark.parametrize("edit", RETRAIN)
def test_config_edits_that_retrain(tiny_run, edit):
    change, expected = RETRAIN[edit]
    planned = _planned(tiny_run, change(load_config("test-tiny.yaml")))
    assert {rule: planned.get(rule, 0) for rule in ("patches", "train")} == {
        "patches": 0, "train": 0, **expected}, planned


@pytest.mark.slow
def test_readme_evaluate_example_runs_after_the_workflow(tiny_run):
    examples = readme_examples("evaluate")
    assert len(examples) >= 1
    for line in examples:
        result = run_sruq(line, tiny_run)
        assert result.returncode == 0, (line, result.stderr)
        lines = result.stdout.splitlines()
        assert lines[-2].split()[0] == "mean", result.stdout
        assert (tiny_run / lines[-1]).is_file(), line


@pytest.mark.slow
def test_sruq_evaluate_reproduces_the_workflow_rows(tiny_run, tmp_path):
    """The bicubic SR images of the tiny run, scored by ``sruq evaluate``: the numbers of
    the workflow's per-image table (printed to 2 and 4 decimals; the CSV's as written)."""
    csv = tmp_path / "bicubic.csv"
    result = run_sruq(f"sruq evaluate results/sr/tiny-test/bicubic/x2/bicubic "
                      f"results/data/tiny-test/hr --scale 2 --csv {csv}", tiny_run)
    assert result.returncode == 0, result.stderr
    per_image = pd.read_csv(tiny_run / "results" / "tables" / "per_image.csv", dtype=str)
    ours = per_image[per_image["method"] == "bicubic"].set_index("image")
    printed = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[2:-2]}
    assert set(printed) == set(ours.index) == {"chelsea", "camera"}
    for image, (psnr, ssim) in printed.items():
        assert abs(float(psnr) - float(ours.loc[image, "psnr"])) <= 0.005 + 1e-9, image
        assert abs(float(ssim) - float(ours.loc[image, "ssim"])) <= 0.00005 + 1e-9, image
    written = pd.read_csv(csv, dtype=str).set_index("image")
    assert (written[["psnr", "ssim"]] == ours.loc[written.index, ["psnr", "ssim"]]).all().all()


@pytest.mark.slow
def test_rule_logs_hold_plain_progress_lines(tiny_run):
    log = (tiny_run / "results" / "logs" / "train" / "tiny-train" / "bicubic" / "x2"
           / "esrcnn.log").read_text()
    assert "\r" not in log and "it/s" not in log  # no tqdm redraws in a file
    lines = [line for line in log.splitlines() if line.startswith("train esrcnn x2: ")]
    assert lines and lines[-1].startswith("train esrcnn x2: 20/20 it (100%)")
    assert "loss=" in lines[-1] and "elapsed" in lines[-1]
    assert len(lines) <= 21  # one line every 5% at most


@pytest.mark.slow
def test_deterministic_networks_have_no_uncertainty_outputs(tiny_run):
    results = tiny_run / "results"
    assert (results / "sr" / "tiny-test" / "bicubic" / "x2" / "espcn" / "chelsea.png").is_file()
    assert not (results / "uncertainty" / "tiny-test" / "bicubic" / "x2" / "espcn").exists()
    assert not (results / "calibration" / "bicubic" / "x2" / "espcn.json").exists()
    frame = pd.read_csv(results / "tables" / "per_image.csv")
    espcn = frame[frame["method"] == "espcn"]
    assert len(espcn) == 2 and espcn["psnr"].notna().all() and espcn["spearman"].isna().all()
    table = (results / "tables" / "tiny-test_x2_bicubic.md").read_text()
    row = next(r for r in table.splitlines() if r.startswith("| espcn |"))
    assert row.count("–") + row.count("-") >= 3, row  # no uncertainty numbers in its row


@pytest.mark.slow
def test_test_set_heatmaps_use_the_validation_sigma_scale(tiny_run):
    results = tiny_run / "results"
    factor = json.loads((results / "calibration" / "bicubic" / "x2" / "esrcnn.json")
                        .read_text())["sigma_scale"]
    assert factor != 1.0
    scale = HeatmapSettings.from_config(load_config("test-tiny.yaml")["heatmap"]).scale
    image = results / "uncertainty" / "tiny-test" / "bicubic" / "x2" / "esrcnn" / "chelsea"
    std = np.load(image / "std.npy")
    shown = np.asarray(Image.open(image / "heatmap.png"))
    assert np.array_equal(shown, heatmap_rgb(factor * std.transpose(2, 0, 1), scale))
    valid = results / "uncertainty" / "tiny-valid" / "bicubic" / "x2" / "esrcnn" / "coffee"
    raw = np.load(valid / "std.npy")  # the images the factor is fitted on: the raw std
    assert np.array_equal(np.asarray(Image.open(valid / "heatmap.png")),
                          heatmap_rgb(raw.transpose(2, 0, 1), scale))


@pytest.mark.slow
def test_deleted_table_is_rebuilt_without_retraining(tiny_run):
    table = tiny_run / "results" / "tables" / "tiny-test_x2_bicubic.tex"
    weights = tiny_run / "results" / "models" / "tiny-train" / "bicubic" / "x2" / "esrcnn"
    before = (weights / "weights.pt").stat().st_mtime_ns
    expected = table.read_bytes()
    table.unlink()
    result = run_workflow(tiny_run, load_config("test-tiny.yaml"), str(table.relative_to(tiny_run)))
    assert table.read_bytes() == expected
    assert (weights / "weights.pt").stat().st_mtime_ns == before
    jobs = " ".join(result.stdout.split()) + " ".join(result.stderr.split())
    assert "rule train:" not in jobs and "rule tables:" in jobs


@pytest.mark.slow
def test_report_holds_tables_and_figures(tiny_run):
    run_workflow(tiny_run, load_config("test-tiny.yaml"), "--report", "results/report.html")
    html = (tiny_run / "results" / "report.html").read_text(errors="replace")
    for name in ("summary.csv", "tiny-test_x2_bicubic.csv", "heatmaps.png", "comparison.png",
                 "training_curves.png", "reliability.png", "provenance.json"):
        assert name in html, name
    assert "esrcnn" in html
    assert "viewer/index.html" in html  # the link to the results viewer, beside the report
    assert (tiny_run / "results" / "viewer" / "index.html").is_file()


@pytest.mark.slow
def test_rerun_with_the_same_seed_gives_identical_numbers(tiny_run, tmp_path):
    run_workflow(tmp_path, load_config("test-tiny.yaml"))
    for rel in ("results/tables/per_image.csv",
                "results/models/tiny-train/bicubic/x2/esrcnn/weights.pt",
                "results/data/tiny-test/bicubic/x2/provenance.json"):
        assert (tmp_path / rel).read_bytes() == (tiny_run / rel).read_bytes(), rel


def test_default_config_scores_every_method_on_its_test_set_and_trains_every_model(tmp_path):
    """The embedded config's plan: the metrics of every method (baselines, networks,
    classical methods, variants) at every scale and degradation on the test photos, and
    nothing else scored; each network trained once per scale and degradation."""
    planned = planned_outputs(tmp_path)
    config = load_config("config.yaml")
    methods = (config["baselines"] + list(config["models"]) + config["classical"]["methods"]
               + config["variants"] + list(config.get("ensembles", {})))
    combos = [(d, s) for d in config["degradations"] for s in config["scales"]]
    assert planned["metrics"] == {
        layout.fill(layout.METRICS, dataset="builtin-test", degradation=d, scale=s, method=m)
        for m in methods for d, s in combos}
    assert {p for p in planned["train"] if p.endswith("/weights.pt")} == {
        layout.fill(layout.WEIGHTS, dataset="builtin-train", degradation=d, scale=s, model=m)
        for m in config["models"] for d, s in combos}


def test_a_model_runs_only_at_its_own_scales(tmp_path):
    config = load_config("test-tiny.yaml")
    config["scales"] = [2, 4]
    config["models"]["esrcnn"]["scales"] = [2]  # the seed's x2 model in an x2/x4 run
    result = run_workflow(tmp_path, config, "--dry-run")
    planned = result.stdout
    assert "results/models/tiny-train/bicubic/x2/esrcnn/weights.pt" in planned
    assert "x4/esrcnn" not in planned  # nor its x8 variant, nor the ensemble it is in
    assert "x4/tiny-ensemble" not in planned
    assert "results/models/tiny-train/bicubic/x4/espcn/weights.pt" in planned
    assert "results/uncertainty/tiny-test/bicubic/x2/esrcnn+x8" in planned
    # x4 has no uncertainty source left: no uncertainty figures there
    assert "tiny-test_x4_bicubic/heatmaps.png" not in planned
    assert "tiny-test_x4_bicubic/comparison.png" in planned


def test_mcbn_variant_samples_the_training_patches_of_its_model(tmp_path):
    """MC-BatchNorm's wiring (its numerics: tests/test_sources.py) on a dry run of the tiny
    config with a small SRResNet and its +mcbn variant."""
    config = load_config("test-tiny.yaml")
    config["models"]["srresnet"] = {**config["models"]["espcn"], "arch": "srresnet",
                                    "kwargs": {"n_blocks": 1, "channels": 8}}
    config["variants"].append("srresnet+mcbn")
    config["mc"]["mcbn_batch"] = 4
    planned = run_workflow(tmp_path, config, "--dry-run", "--printshellcmds").stdout
    blocks = [b for b in planned.split("\n\n") if "rule test_time_sampling:" in b]
    assert len(blocks) == 4  # esrcnn+tta and srresnet+mcbn on the valid and the test set
    mcbn = next(b for b in blocks if "output: results/sr/tiny-test/bicubic/x2/srresnet+mcbn" in b)
    inputs = next(line for line in mcbn.splitlines() if line.strip().startswith("input:"))
    assert "results/patches/tiny-train/bicubic/x2/srresnet" in inputs
    assert "results/models/tiny-train/bicubic/x2/srresnet/weights.pt" in inputs
    assert "results/calibration/bicubic/x2/srresnet+mcbn.json" in inputs
    tta = next(b for b in blocks if "output: results/sr/tiny-test/bicubic/x2/esrcnn+tta" in b)
    assert "results/patches" not in tta
    config["variants"].append("espcn+mcbn")  # ESPCN has no BatchNorm
    result = run_workflow(tmp_path / "bad", config, "--dry-run", check=False)
    assert result.returncode != 0
    assert "config key 'variants.4': MC-BatchNorm needs BatchNorm layers" in (
        result.stderr + result.stdout)


def _inputs_of_test_inference(dry_run: str) -> str:
    blocks = dry_run.split("\n\n")
    block = next(b for b in blocks if "rule infer_model:" in b
                 and "output: results/sr/tiny-test/" in b)
    return next(line for line in block.splitlines() if line.strip().startswith("input:"))


def test_test_heatmaps_wait_for_the_sigma_scale_unless_switched_off(tmp_path):
    config = load_config("test-tiny.yaml")
    planned = run_workflow(tmp_path / "on", config, "--dry-run").stdout
    assert "results/calibration/bicubic/x2/esrcnn.json" in _inputs_of_test_inference(planned)
    config["mc"]["sigma_scaled"] = False  # the seeds' raw-std heatmaps
    planned = run_workflow(tmp_path / "off", config, "--dry-run").stdout
    assert "calibration" not in _inputs_of_test_inference(planned)


@pytest.mark.slow  # a real run (it stops at start-up)
def test_bad_config_value_fails_at_once_naming_the_key(tmp_path):
    config = load_config("test-tiny.yaml")
    config["metrics"] = {"channel": "lab"}
    result = run_workflow(tmp_path, config, check=False)
    assert result.returncode != 0
    assert "config key 'metrics.channel'" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.slow  # a real run (it stops at start-up)
def test_missing_dataset_folder_fails_naming_the_key(tmp_path):
    config = load_config("test-tiny.yaml")
    config["datasets"]["tiny-test"] = {"source": "folder", "role": "test",
                                       "path": str(tmp_path / "nowhere")}
    result = run_workflow(tmp_path, config, "--until", "prepare_hr", check=False)
    assert result.returncode != 0
    assert "datasets.tiny-test.path" in result.stderr
    assert not (tmp_path / "results" / "data" / "tiny-test" / "hr").exists()


@pytest.mark.slow  # a real run (it stops at start-up)
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


@pytest.mark.slow  # a real run (it stops before any job)
@pytest.mark.skipif(lpips_available("alex")[0], reason="LPIPS runs here: nothing to refuse")
def test_requested_lpips_that_cannot_run_stops_before_any_job(tmp_path):
    config = load_config("test-tiny.yaml")
    config["metrics"] = {"lpips": "alex"}
    assert "total" in run_workflow(tmp_path, config, "--dry-run").stdout  # planning works
    result = run_workflow(tmp_path, config, check=False)
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert 'pip install "sruq[lpips]"' in message and "LPIPS (alex) is not available" in message
    assert not (tmp_path / "results").exists()


def test_lpips_is_its_own_job_per_method_and_feeds_the_tables(tmp_path):
    """LPIPS runs in its own rule (env envs/lpips.yaml, see test_envs.py): one job per
    metrics job, and the tables wait for its per-image CSVs."""
    config = load_config("test-tiny.yaml")
    config["metrics"] = {"lpips": "alex"}
    result = run_workflow(tmp_path, config, "--dry-run", "--quiet", "rules")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert int(counts["lpips"]) == int(counts["metrics"]) > 0
    plan = run_workflow(tmp_path, config, "--dry-run", "--until", "tables").stdout
    tables = plan[plan.index("rule tables:"):]
    assert "results/lpips/tiny-test/bicubic/x2/esrcnn.csv" in tables.split("output:")[0]
    assert "lpips" not in " ".join(re.findall(r"^(\w+)\s+\d+$", run_workflow(
        tmp_path, load_config("test-tiny.yaml"), "--dry-run", "--quiet", "rules").stdout,
        flags=re.M))


def test_div2k_x4_recipe_plans_its_cluster_run(tmp_path):
    """config/div2k_x4.yaml (the SRResBNN recipe's setting) must at least plan here."""
    result = run_workflow(tmp_path, load_config("div2k_x4.yaml"), "--dry-run", "--quiet", "rules")
    jobs = " ".join(result.stdout.split())
    config = load_config("div2k_x4.yaml")
    trainings = len(config["models"]) * len(config["scales"]) * len(config["degradations"])
    assert f"train {trainings}" in jobs and "download" in jobs and "infer_model" in jobs


@pytest.mark.slow
def test_train_on_one_degradation_test_on_two_gives_the_shift_table(tmp_path):
    """esrcnn trained on bicubic only, tested on bicubic and noisy; tiny-valid is also a
    test set (valid and test roles)."""
    config = load_config("test-tiny.yaml")
    config["degradations"] = ["bicubic", "noisy"]
    config["models"] = {"esrcnn": {**config["models"]["esrcnn"],
                                   "train_degradations": ["bicubic"]}}
    config["datasets"]["tiny-valid"]["role"] = ["valid", "test"]
    config.update(classical={"methods": []}, variants=[], ensembles={})
    run_workflow(tmp_path, config)
    tables = tmp_path / "results" / "tables"
    per_image = pd.read_csv(tables / "per_image.csv")
    trained = per_image[per_image.method == "esrcnn"]
    assert set(trained.trained_on) == {"bicubic"}  # one model, tested on both
    assert set(trained.degradation) == {"bicubic", "noisy"}
    assert set(per_image[per_image.method == "bicubic"].trained_on) == {"-"}
    assert len(list((tmp_path / "results" / "models").rglob("weights.pt"))) == 1
    shift = pd.read_csv(tables / "shift.csv")
    shifted = shift[shift.shifted]
    assert set(shifted.degradation) == {"noisy"} and set(shifted.trained_on) == {"bicubic"}
    for score in ("mean_std", "laplacian", "lr_statistics", "features"):
        assert shifted[f"auroc_{score}"].between(0, 1).all(), score
        assert shift[~shift.shifted][f"auroc_{score}"].isna().all(), score
    assert len(shifted) == 2  # tiny-test, tiny-valid
    assert shift[~shift.shifted].false_alarms_lr_statistics.between(0, 1).all()
    assert shifted.detected_lr_statistics.between(0, 1).all()
    # the shift-aware intervals: one validation image per degradation, so the only
    # widening is the one fitted on both; none left noisy out, so noisy keeps static ones
    calibration = json.loads((tmp_path / "results" / "calibration" / "bicubic" / "x2"
                              / "esrcnn.json").read_text())
    widenings = calibration["shift_widening"]
    assert set(widenings) == {"*"} and widenings["*"]["fitted_on"] == ["bicubic", "noisy"]
    noisy_rows = trained[trained.degradation == "noisy"]
    assert (noisy_rows.coverage == noisy_rows.coverage_static).all()
    profiles = pd.read_csv(tmp_path / "results" / "shift-profiles" / "tiny-train" / "bicubic"
                           / "x2" / "esrcnn.csv")
    assert set(zip(profiles.dataset, profiles.degradation)) == {
        (d, g) for d in ("tiny-valid", "tiny-test") for g in ("bicubic", "noisy")}
    assert {"shift_score", "shift_flagged", "interval_q", "uce_shift"} <= set(per_image.columns)
    fit = json.loads((tmp_path / "results" / "models" / "tiny-train" / "bicubic" / "x2"
                      / "esrcnn" / "shift.json").read_text())
    assert fit["primary"] == "lr-statistics" and set(fit["scores"]) == {
        "laplacian", "lr-statistics", "features"}
    assert (tmp_path / "results" / "figures" / "shift.png").stat().st_size > 0
    noisy = (tables / "tiny-test_x2_noisy.md").read_text()
    assert "| esrcnn@bicubic |" in noisy and "method@T: trained on degradation T" in noisy
    # sruq upscale widens a flagged input's heatmap by that widening (its degradation is
    # unknown): the validation photo with heavy noise is widened, the clean one is not
    from sruq.cli.main import main

    clean = tmp_path / "results" / "data" / "tiny-valid" / "bicubic" / "x2" / "lr" / "coffee.png"
    lr = np.asarray(Image.open(clean), dtype=np.float64)
    noisy_photo = tmp_path / "noisy.png"
    noise = np.random.default_rng(0).normal(0, 20, lr.shape)
    Image.fromarray(np.clip(lr + noise, 0, 255).astype(np.uint8)).save(noisy_photo)
    for image, flagged in ((clean, False), (noisy_photo, True)):
        out = tmp_path / f"upscaled-{image.stem}-{flagged}"
        assert main(["upscale", str(image), "--model", "esrcnn", "--results",
                     str(tmp_path / "results"), "--samples", "2", "--out", str(out)]) == 0
        verdict = json.loads((out / "shift.json").read_text())
        assert verdict["flagged"] is flagged
        assert (verdict["heatmap_widening"] > 1.0) is flagged, verdict
    valid = (tables / "tiny-valid_x2_bicubic.md").read_text()
    assert "Note: tiny-valid is also the validation" in valid
    assert "Note:" not in (tables / "tiny-test_x2_bicubic.md").read_text()
