"""The results layout: patterns, filling, parsing, and that it is the only one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sruq.core import layout

REPO = Path(__file__).resolve().parents[1]

PATTERNS = {name: value for name, value in vars(layout).items()
            if name.isupper() and isinstance(value, str)
            and name not in ("ROOT", "BLOCK", "TRAINED_ON", "UNTRAINED")}


def test_every_pattern_lies_in_the_results_folder():
    for pattern in [*PATTERNS.values(), *layout.LOGS.values()]:
        assert pattern.startswith(f"{layout.ROOT}/"), pattern


def test_every_rule_has_its_log():
    rules = {name for path in REPO.glob("workflow/rules/*.smk")
             for name in re.findall(r"^rule (\w+):", path.read_text(), re.MULTILINE)}
    assert set(layout.LOGS) == rules


def test_fill_and_parse_are_inverse():
    values = {"dataset": "tiny-train", "degradation": "bicubic", "scale": "2", "model": "esrcnn"}
    path = layout.fill(layout.WEIGHTS, **values)
    assert path == "results/models/tiny-train/bicubic/x2/esrcnn/weights.pt"
    assert layout.parse(layout.WEIGHTS, Path(path)) == values
    assert layout.wildcards(layout.WEIGHTS) == list(values)


def test_fill_leaves_wildcards_without_a_value():
    assert (layout.fill(layout.FIGURE, figure="heatmaps")
            == "results/figures/{dataset}_x{scale}_{degradation}/heatmaps.png")
    assert layout.fill(layout.SR, scale=4, method="esrcnn+x8").endswith("/x4/esrcnn+x8")


def test_parse_refuses_a_path_of_another_pattern():
    with pytest.raises(ValueError, match="not a path of the pattern"):
        layout.parse(layout.WEIGHTS, "results/models/tiny-train/x2/sparse-coding.npz")


def test_rooted_glob_and_base_dir_serve_another_results_folder(tmp_path):
    root = tmp_path / "my results"
    pattern = layout.rooted(layout.WEIGHTS, root)
    for degradation, scale in [("bicubic", 2), ("noisy", 2), ("bicubic", 4)]:
        path = Path(layout.fill(pattern, dataset="set", degradation=degradation, scale=scale,
                                model="net"))
        path.parent.mkdir(parents=True)
        path.touch()
    assert len(layout.glob(layout.WEIGHTS, root, model="net", scale=None)) == 3
    found = layout.glob(layout.WEIGHTS, root, model="net", degradation="bicubic", scale=4)
    assert [layout.parse(pattern, p)["scale"] for p in found] == ["4"]
    assert layout.glob(layout.WEIGHTS, root, model="other") == []
    assert layout.base_dir(pattern) == root / "models"
    assert layout.base_dir(layout.TABLES) == Path(layout.ROOT)


def test_layout_imports_nothing_heavy():
    code = ("import sys, sruq.core.layout; print(sorted({m.split('.')[0] for m in sys.modules} "
            "& {'torch', 'numpy', 'pandas', 'PIL', 'snakemake'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_no_results_path_outside_the_layout_module():
    """Rules, scripts and the package take every results path from sruq.core.layout."""
    literal = re.compile(r"""["']results/""")
    sources = [*REPO.glob("src/sruq/**/*.py"), *REPO.glob("workflow/**/*.py"),
               *REPO.glob("workflow/**/*.smk"), REPO / "Snakefile"]
    offenders = [f"{path.relative_to(REPO)}:{i}" for path in sources
                 if path.name != "layout.py"
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if literal.search(line)]
    assert offenders == []
