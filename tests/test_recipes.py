"""The seed recipes (config/seeds/): each plans a run, and a user sizes one without editing it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from workflow_runner import REPO, planned_outputs, run_workflow

from sruq.core.layout import TABLES, TRAINING_CURVES, WEIGHTS, fill
from sruq.models import has_dropout
from sruq.pipeline.config import check_duplicate_keys, prepare_config
from sruq.pipeline.methods import method_kinds

from conftest import find_mirror

SEEDS = REPO / "config" / "seeds"
RECIPES = sorted(SEEDS.glob("*.yaml"))
CPU_RUN = SEEDS / "overrides" / "srcnn_variants-cpu.yaml"
NO_VGG = SEEDS / "overrides" / "no-vgg.yaml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def job_counts(dry_run: str) -> dict[str, int]:
    """``rule -> jobs`` of a ``--dry-run --quiet rules`` plan."""
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", dry_run, flags=re.M)}


def with_mirror(config: dict) -> dict:
    """The recipe reading the benchmark sets from the local mirror when there is one (else
    the plan downloads them, which a dry run does not)."""
    mirror = find_mirror()
    return {**config, "data_mirror": str(mirror)} if mirror else config


def documented_recipes() -> dict[str, str]:
    """``recipe file -> seed number`` of the recipe table in docs/recipes.md (section 4)."""
    text = (REPO / "docs" / "recipes.md").read_text()
    return dict(re.findall(r"^\| `(\w+\.yaml)` \| (\d{3}) \|", text, flags=re.M))


def header(path: Path) -> str:
    """The comment block a recipe starts with."""
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines[:next(i for i, line in enumerate(lines)
                                                 if not line.startswith("#"))])


def test_every_seed_recipe_is_documented_and_says_how_to_run_it():
    """Each recipe of config/seeds/ has its row in docs/recipes.md and names the same seed
    experiment in its header, which gives the command that runs this very file and how to
    size it; none hard-codes a machine's data mirror, all start from random seed 0, and one
    that asks for LPIPS says which extra to install."""
    documented = documented_recipes()
    assert sorted(documented) == [p.name for p in RECIPES]
    for path in RECIPES:
        text, config = header(path), load(path)
        assert text.startswith(f"# Seed {documented[path.name]} as a recipe: "), path.name
        assert f"snakemake --configfile config/seeds/{path.name} --cores" in text, path.name
        assert "--config budget=" in text, path.name
        assert config["seed"] == 0 and config["data_mirror"] is None, path.name
        assert config["metrics"]["channel"] == "y", path.name  # the seeds' protocol
        if config["metrics"].get("lpips"):
            assert 'pip install "sruq[lpips]"' in text, path.name


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_seed_recipe_plans_its_run(path, tmp_path):
    """The plan trains each model at each of its scales on the training set, scores every
    method (LPIPS too where asked) and writes one set of tables and the training curves."""
    check_duplicate_keys(path)
    config = load(path)
    planned = planned_outputs(tmp_path, with_mirror(config))
    (train_set,) = [n for n, spec in config["datasets"].items() if spec["role"] == "train"]
    assert {p for p in planned["train"] if p.endswith("/weights.pt")} == {
        fill(WEIGHTS, dataset=train_set, degradation=degradation, scale=scale, model=model)
        for model, spec in config["models"].items()
        for scale in spec.get("scales", config["scales"])
        for degradation in config["degradations"]}
    assert planned["training_figure"] == {TRAINING_CURVES}
    assert {f"{TABLES}/summary.md", f"{TABLES}/per_image.csv"} <= planned["tables"]
    lpips = {p.replace("results/lpips/", "results/metrics/") for p in planned.get("lpips", ())}
    assert lpips == (planned["metrics"] if config["metrics"].get("lpips") else set())


def _overridden(tmp_path: Path, *files: Path, config: str | None = None) -> dict[str, int]:
    args = ["--dry-run", "--quiet", "rules"] + (["--config", config] if config else [])
    args += ["--configfile", *map(str, files)]
    mirror = find_mirror()
    if mirror:
        tmp_path.mkdir(parents=True, exist_ok=True)
        (tmp_path / "mirror.yaml").write_text(f"data_mirror: {mirror}\n")
        args.append(str(tmp_path / "mirror.yaml"))
    return job_counts(run_workflow(tmp_path, None, *args).stdout)


def test_a_later_configfile_drops_models_and_datasets(tmp_path):
    """Snakemake merges the configfiles in order; a null model or dataset is left out."""
    recipe = load(SEEDS / "srcnn_variants.yaml")
    counts = _overridden(tmp_path / "no-vgg", SEEDS / "srcnn_variants.yaml", NO_VGG)
    assert counts["train"] == (len(recipe["models"]) - 1) * len(recipe["scales"])
    cpu = load(CPU_RUN)
    counts = _overridden(tmp_path / "cpu", SEEDS / "srcnn_variants.yaml", CPU_RUN,
                         config="budget=0.05")
    kept = [m for m in recipe["models"] if cpu["models"].get(m, {}) is not None]
    assert counts["train"] == len(kept)  # x2 only
    assert counts["prepare_hr"] == 3  # T91, the validation photo, Set5 (not Set14)


def test_budget_on_the_command_line_is_a_number_in_range(tmp_path):
    """``--config budget=0.05`` arrives as a float (a string would fail the schema) and is
    checked; the scaling itself is tested on the loaded recipe below."""
    assert _overridden(tmp_path / "ok", SEEDS / "srcnn_variants.yaml", NO_VGG,
                       config="budget=0.05")["train"] > 0
    bad = run_workflow(tmp_path / "bad", None, "--dry-run", "--config", "budget=2",
                       "--configfile", str(SEEDS / "srcnn_variants.yaml"), check=False)
    assert bad.returncode != 0 and "config key 'budget'" in bad.stdout + bad.stderr


def test_budget_scales_the_recipes_training():
    config = load(SEEDS / "srcnn_variants.yaml")
    config["budget"] = 0.05
    prepare_config(config)
    for spec in config["models"].values():
        assert spec["train"]["iterations"] == 1000  # 20000 x 0.05
        assert spec["train"]["valid_every"] == 100 and spec["train"]["log_every"] == 5
        assert spec["patches"]["per_image"] == 3  # round(64 x 0.05)
        assert spec["patches"]["hr_size"] == 48  # the patch size is the recipe's


def test_srresbnn_recipe_keeps_the_seeds_row_order():
    config = load(SEEDS / "srresbnn.yaml")
    assert list(method_kinds(config, has_dropout)) == ["bicubic", "fd", "srresnet", "srgan",
                                                       "srresbnn"]


def test_the_shift_recipe_plans_every_source_on_every_preset(tmp_path):
    """config/shift.yaml: five models trained on bicubic only (three EDSRs for the deep
    ensemble), every source run on the two test sets and the two validation sets at all
    five presets, one shift fit per trained model, one calibration per source."""
    path = REPO / "config" / "shift.yaml"
    check_duplicate_keys(path)
    config = load(path)
    counts = job_counts(run_workflow(tmp_path, with_mirror(config), "--dry-run", "--quiet",
                                     "rules").stdout)
    presets, sets = len(config["degradations"]), 2 + 2  # test sets, validation sets
    # five trainings; the two ensemble-only EDSRs get no results, so no shift fit either
    assert presets == 5 and counts["train"] == 5 and counts["shift_score"] == 3
    assert counts["upscale"] == 2 * 2 * presets  # bicubic and edsr's single pass
    assert counts["metrics"] == 7 * 2 * presets  # the seven rows of table_order
    assert counts["infer_model"] == 2 * sets * presets  # esrcnn and srresbnn MC dropout
    for rule in ("self_ensemble", "test_time_sampling", "deep_ensemble"):
        assert counts[rule] == sets * presets, rule  # edsr+x8, srresbnn+mcbn, the ensemble
    assert counts["calibrate"] == 5  # esrcnn, srresbnn, srresbnn+mcbn, edsr+x8, edsr-ensemble
    assert counts["uncertainty_metrics"] == 5 * 2 * presets
    assert counts["shift_figure"] == 1
    members = config["ensembles"]["edsr-ensemble"]
    specs = [config["models"][m] for m in members]
    assert len(members) >= 3 and len({s["train"].get("seed", 0) for s in specs}) == len(specs)
    same = {"train", "member_only"}  # what may differ between the members
    assert all({k: v for k, v in s.items() if k not in same} == {
        k: v for k, v in specs[0].items() if k not in same} for s in specs)
    assert [bool(s.get("member_only")) for s in specs] == [False] + [True] * (len(specs) - 1)
