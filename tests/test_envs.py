"""Every rule names a conda env, every env parses, and lists exactly what its scripts import;
every import of the package points down the stack of ``docs/architecture.md``.

The imports of a step script are followed through the sruq package (module-level and
function-level imports alike, a conservative closure; importing ``a.b.c`` runs the
``__init__`` of ``a`` and ``a.b`` too; ``if TYPE_CHECKING:`` blocks never run) down to
third-party modules.  An env lists those and nothing else, so each stage's env stays lean
(the evaluate and report envs have no torch), and every step script imports one stage
module of ``sruq.stages``.
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
STDLIB = set(sys.stdlib_module_names)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _nodes(tree: ast.AST):
    """Every node of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    for child in ast.iter_child_nodes(tree):
        if _is_type_checking(child):
            yield from (n for branch in child.orelse for n in [branch, *_nodes(branch)])
            continue
        yield child
        yield from _nodes(child)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in _nodes(ast.parse(path.read_text())):
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
def _closure(path: Path) -> frozenset[Path]:
    """The sruq source files that importing ``path`` may run."""
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in _imports(current):
            parts = name.split(".")
            if parts[0] != "sruq":
                continue
            for depth in range(1, len(parts) + 1):  # the packages' __init__ run too
                target = _module_file(".".join(parts[:depth]))
                if target is not None:
                    todo.append(target)
    return frozenset(seen)


def third_party(path: Path) -> frozenset[str]:
    """Top-level third-party modules ``path`` needs, following sruq imports."""
    tops = {name.split(".")[0] for f in _closure(path) for name in _imports(f)}
    return frozenset(t for t in tops if t != "sruq" and t not in STDLIB)


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


ENVS = sorted((REPO / "envs").glob("*.yaml"))


def _needed(script: Path) -> set[str]:
    return {CONDA_NAMES.get(m, m) for m in third_party(script)}


def test_every_env_file_parses_and_is_pinned_and_used():
    assert {e.stem for e in ENVS} == {"data", "train", "infer", "evaluate", "lpips", "report"}
    for env in ENVS:
        assert "python" in _packages(env)
    assert {env for _, env, _ in RULES} == set(ENVS)


@pytest.mark.parametrize(("rule", "env", "script"), RULES, ids=[r for r, _, _ in RULES])
def test_env_lists_every_third_party_import(rule, env, script):
    missing = _needed(script) - _packages(env)
    assert not missing, f"rule {rule}: {env.name} lacks {sorted(missing)} used by {script.name}"


@pytest.mark.parametrize("env", ENVS, ids=[e.stem for e in ENVS])
def test_env_lists_nothing_its_scripts_do_not_import(env):
    needed = set().union(*(_needed(script) for _, e, script in RULES if e == env))
    extra = _packages(env) - needed - {"python"}
    assert not extra, f"{env.name} lists {sorted(extra)}, which none of its scripts imports"


def test_evaluate_and_report_envs_need_no_torch():
    for name in ("evaluate", "report"):
        assert "pytorch" not in _packages(REPO / "envs" / f"{name}.yaml")


@pytest.mark.parametrize(("rule", "env", "script"), RULES, ids=[r for r, _, _ in RULES])
def test_each_step_script_imports_one_stage_module(rule, env, script):
    sruq = {n for n in _imports(script) if n.split(".")[0] == "sruq" and _module_file(n)}
    stages = {n for n in sruq if n.startswith("sruq.stages.")}
    assert len(stages) == 1, f"rule {rule}: {script.name} imports stage modules {stages}"
    assert sruq - stages <= {"sruq.pipeline.log"}, f"{script.name} imports {sruq - stages}"
    stage = next(iter(stages)).split(".")[2]
    assert env.stem == stage, f"rule {rule} runs stage {stage} in {env.name}"


def test_the_import_scan_sees_real_imports():
    script = REPO / "workflow" / "scripts" / "train.py"
    assert {"torch", "numpy", "tqdm"} <= third_party(script)
    # a submodule import runs its package's __init__
    assert _module_file("sruq.uncertainty") in _closure(SRC / "sruq/stages/report.py")


def _stack() -> dict[str, set[str]]:
    """Each package of the table in ``docs/architecture.md`` ("The package by concern") ->
    the packages it may import: its "imports from" column, where "the above" is every
    package of the rows before it."""
    text = (REPO / "docs" / "architecture.md").read_text()
    table = text[text.index("| package | what lives there | imports from |"):]
    allowed: dict[str, set[str]] = {}
    for row in table.splitlines()[2:]:
        if not row.startswith("|"):
            break
        packages, _, imports = (cell.strip() for cell in row.strip("|").split("|"))
        names = re.findall(r"`(\w+)/`", packages)
        below = set(allowed) if imports == "the above" else set(re.findall(r"`(\w+)`", imports))
        allowed.update({name: below for name in names})
    return allowed


def test_every_import_of_the_package_points_down_the_stack():
    allowed = _stack()
    packages = {path.name for path in (SRC / "sruq").iterdir() if (path / "__init__.py").is_file()}
    assert packages == set(allowed), "docs/architecture.md's table lists every package"
    back_up = []
    for package in sorted(packages):
        for path in sorted((SRC / "sruq" / package).rglob("*.py")):
            for name in sorted(_imports(path)):
                parts = name.split(".")
                if parts[0] == "sruq" and len(parts) > 1 and _module_file(name) \
                        and parts[1] not in allowed[package] | {package}:
                    back_up.append(f"{path.relative_to(SRC)} imports {name}")
    assert not back_up, "imports that run back up the stack:\n" + "\n".join(back_up)
