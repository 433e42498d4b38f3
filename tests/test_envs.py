"""Every rule names a conda env, every env parses, and lists what its scripts import.

The imports of a step script are followed through the sruq package (module-level and
function-level imports alike, a conservative closure) down to third-party modules.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
# import name -> conda-forge package name
CONDA_NAMES = {"torch": "pytorch", "PIL": "pillow", "skimage": "scikit-image",
               "sklearn": "scikit-learn", "yaml": "pyyaml", "matplotlib": "matplotlib-base"}
# imported only where an optional extra is present (checked with a clear error)
OPTIONAL = {"lpips", "torchvision"}
STDLIB = set(sys.stdlib_module_names)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def third_party(path: Path) -> frozenset[str]:
    """Top-level third-party modules ``path`` needs, following sruq imports."""
    found: set[str] = set()
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in _imports(current):
            top = name.split(".")[0]
            if top == "sruq":
                target = _module_file(name)
                if target is not None:
                    todo.append(target)
                    if target.name == "__init__.py":
                        todo.append(target)
            elif top not in STDLIB and top not in OPTIONAL:
                found.add(top)
    return frozenset(found)


def _rules() -> list[tuple[str, Path, Path]]:
    """(rule, env file, script) of every rule in workflow/rules."""
    rules = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.split(r"^rule ", text, flags=re.M)[1:]:
            name = block.split(":")[0]
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
            assert env, f"rule {name} names no conda env"
            assert script, f"rule {name} has no script"
            rules.append((name, (smk.parent / env.group(1)).resolve(),
                          (smk.parent / script.group(1)).resolve()))
    return rules


def _packages(env: Path) -> set[str]:
    spec = yaml.safe_load(env.read_text())
    assert spec["channels"] and spec["dependencies"], env
    names = set()
    for dep in spec["dependencies"]:
        assert isinstance(dep, str), f"{env}: unexpected dependency {dep!r}"
        name, _, version = dep.partition("=")
        assert version, f"{env}: {name} is not pinned"
        names.add(name)
    return names


RULES = _rules()


def test_every_env_file_parses_and_is_pinned():
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert {e.stem for e in envs} >= {"data", "degrade", "train", "infer", "metrics", "report"}
    for env in envs:
        assert "python" in _packages(env)
    assert {env for _, env, _ in RULES} <= set(envs)


@pytest.mark.parametrize(("rule", "env", "script"), RULES, ids=[r for r, _, _ in RULES])
def test_env_lists_every_third_party_import(rule, env, script):
    needed = {CONDA_NAMES.get(m, m) for m in third_party(script)}
    missing = needed - _packages(env)
    assert not missing, f"rule {rule}: {env.name} lacks {sorted(missing)} used by {script.name}"


def test_the_import_scan_sees_real_imports():
    script = REPO / "workflow" / "scripts" / "train.py"
    assert {"torch", "numpy", "tqdm"} <= third_party(script)
