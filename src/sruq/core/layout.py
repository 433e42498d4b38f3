"""The results tree: every path the workflow writes, as a pattern, in one place.

Patterns use Snakemake's ``{wildcard}`` syntax and are relative to the working directory,
so the rules take them as they are.  :func:`fill` puts values in, :func:`parse` reads them
back from a found path, :func:`glob` finds existing files, :func:`rooted` moves a pattern
under another results folder (the ``sruq`` command's ``--results``) and :func:`base_dir`
is the fixed folder a pattern starts in.  Only the standard library is imported: Snakemake
imports this module at parse time and the command line before any heavy import.

Wildcards: ``{dataset}`` (for a trained model and the sparse-coding dictionary: the set
it learns from), ``{degradation}`` (a preset name), ``{scale}``, ``{method}`` (a table
row: baseline, model, classical method, variant or ensemble), ``{model}`` (a trained
model of the config), ``{figure}`` (a figure name) and, for tables and figures of one test
set, the block name :data:`BLOCK`.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

ROOT = "results"
"""The folder every pattern below starts in."""

# --- data --------------------------------------------------------------------------------
SOURCE = "results/data/{dataset}/source.json"
HR = "results/data/{dataset}/hr"
LR = "results/data/{dataset}/{degradation}/x{scale}/lr"
PROVENANCE = "results/data/{dataset}/{degradation}/x{scale}/provenance.json"

# --- training ----------------------------------------------------------------------------
PATCHES = "results/patches/{dataset}/{degradation}/x{scale}/{model}"
MODEL = "results/models/{dataset}/{degradation}/x{scale}/{model}"
WEIGHTS = f"{MODEL}/weights.pt"
TRAINING_LOG = f"{MODEL}/log.csv"
CURVE = f"{MODEL}/curve.png"
TRAINING_SUMMARY = f"{MODEL}/summary.json"
SHIFT_FIT = f"{MODEL}/shift.json"
"""The shift scores fitted for a trained model (:class:`sruq.shift.scores.ShiftFit`)."""
DICTIONARY = "results/models/{dataset}/x{scale}/sparse-coding.npz"

# --- super-resolution and its evaluation -------------------------------------------------
SR = "results/sr/{dataset}/{degradation}/x{scale}/{method}"
UNCERTAINTY = "results/uncertainty/{dataset}/{degradation}/x{scale}/{method}"
METRICS = "results/metrics/{dataset}/{degradation}/x{scale}/{method}.csv"
LPIPS = "results/lpips/{dataset}/{degradation}/x{scale}/{method}.csv"
UNCERTAINTY_METRICS = f"{UNCERTAINTY}.csv"
CALIBRATION = "results/calibration/{degradation}/x{scale}/{method}.json"
SHIFT_SCORES = "results/shift/{dataset}/{degradation}/x{scale}/{model}.csv"
"""Per test image, the shift scores of a trained model's inputs (its training set,
degradation and scale in the path, as for :data:`MODEL`)."""
SHIFT_PROFILES = "results/shift-profiles/{dataset}/{degradation}/x{scale}/{model}.csv"
"""Per validation and test LR image at every degradation of the run, where its LR
statistics lie against that model's training density (:mod:`sruq.shift.calibration`)
and whether the shift score flags it: what the shift-aware intervals are fitted and
applied on."""

# --- tables and figures ------------------------------------------------------------------
BLOCK = "{dataset}_x{scale}_{degradation}"
"""The name of one test set's block (a comparison table's stem, a figure folder)."""
TABLES = "results/tables"
FIGURE = f"results/figures/{BLOCK}/{{figure}}.png"
TRAINING_CURVES = "results/figures/training_curves.png"
SHIFT_TABLE = f"{TABLES}/shift.csv"
SHIFT_FIGURE = "results/figures/shift.png"
VIEWER = "results/viewer"
"""The results viewer: a static site, ``index.html`` and one page per test image."""

LOGS: dict[str, str] = {
    "download": "results/logs/download/{dataset}.log",
    "prepare_hr": "results/logs/prepare_hr/{dataset}.log",
    "degrade": "results/logs/degrade/{dataset}/{degradation}/x{scale}.log",
    "patches": "results/logs/patches/{dataset}/{degradation}/x{scale}/{model}.log",
    "train": "results/logs/train/{dataset}/{degradation}/x{scale}/{model}.log",
    "sparse_dictionary": "results/logs/sparse_dictionary/{dataset}/x{scale}.log",
    "upscale": "results/logs/upscale/{dataset}/{degradation}/x{scale}/{method}.log",
    "self_ensemble": "results/logs/self_ensemble/{dataset}/{degradation}/x{scale}/{method}.log",
    "test_time_sampling":
        "results/logs/test_time_sampling/{dataset}/{degradation}/x{scale}/{method}.log",
    "infer_model": "results/logs/infer/{dataset}/{degradation}/x{scale}/{method}.log",
    "deep_ensemble": "results/logs/deep_ensemble/{dataset}/{degradation}/x{scale}/{method}.log",
    "outside": "results/logs/outside/{dataset}/{degradation}/x{scale}/{method}.log",
    "metrics": "results/logs/metrics/{dataset}/{degradation}/x{scale}/{method}.log",
    "lpips": "results/logs/lpips/{dataset}/{degradation}/x{scale}/{method}.log",
    "calibrate": "results/logs/calibrate/{degradation}/x{scale}/{method}.log",
    "shift_score": "results/logs/shift_score/{dataset}/{degradation}/x{scale}/{model}.log",
    "uncertainty_metrics":
        "results/logs/uncertainty_metrics/{dataset}/{degradation}/x{scale}/{method}.log",
    "tables": "results/logs/tables.log",
    "figures": f"results/logs/figures/{BLOCK}.log",
    "uncertainty_figures": f"results/logs/uncertainty_figures/{BLOCK}.log",
    "training_figure": "results/logs/figures/training_curves.log",
    "shift_figure": "results/logs/figures/shift.log",
    "viewer": "results/logs/viewer.log",
}
"""The log file of every rule, by rule name."""

_WILDCARD = re.compile(r"\{(\w+)\}")


def wildcards(pattern: str) -> list[str]:
    """The wildcard names of ``pattern``, in order."""
    return _WILDCARD.findall(pattern)


def fill(pattern: str, **values: object) -> str:
    """``pattern`` with the given wildcards replaced by their values; the others stay."""
    return _WILDCARD.sub(lambda m: str(values.get(m[1], m[0])), pattern)


def parse(pattern: str, path: str | Path) -> dict[str, str]:
    """The wildcard values of a path written by ``pattern`` (``ValueError`` if it is not
    one), e.g. ``parse(WEIGHTS, ".../bicubic/x2/esrcnn/weights.pt")["scale"] == "2"``."""
    regex = "".join(
        f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part)
        for i, part in enumerate(_WILDCARD.split(pattern))
    )
    match = re.fullmatch(regex, Path(path).as_posix())
    if match is None:
        raise ValueError(f"{path}: not a path of the pattern {pattern}")
    return match.groupdict()


def rooted(pattern: str, root: str | Path) -> str:
    """``pattern`` under the results folder ``root`` instead of :data:`ROOT`."""
    return (Path(root) / PurePosixPath(pattern).relative_to(ROOT)).as_posix()


def base_dir(pattern: str) -> Path:
    """The fixed folder ``pattern`` starts in: up to its first wildcard (a pattern without
    wildcards: its parent folder)."""
    fixed = _WILDCARD.split(pattern)[0]
    return Path(fixed) if fixed.endswith("/") else Path(fixed).parent


def glob(pattern: str, root: str | Path = ROOT, **values: object) -> list[Path]:
    """Existing paths of ``pattern`` under the results folder ``root``, sorted; wildcards
    given a value (not ``None``) are fixed, the others match any name."""
    relative = PurePosixPath(pattern).relative_to(ROOT).as_posix()
    given = {k: v for k, v in values.items() if v is not None}
    return sorted(Path(root).glob(fill(relative, **{**dict.fromkeys(wildcards(relative), "*"),
                                                    **given})))


# --- result names ------------------------------------------------------------------------

TRAINED_ON = "@"
"""Joins a trained method and the degradation it was trained on in a result name
(``esrcnn@bicubic``: esrcnn trained on bicubic, tested on another degradation)."""
UNTRAINED = "-"
"""The ``trained_on`` value of a method that is not trained (interpolation, classical)."""


def result_name(method: str, trained_on: str | None, degradation: str) -> str:
    """The name of ``method``'s results on test degradation ``degradation`` when trained on
    ``trained_on`` (``None``: not trained): the method itself when in distribution."""
    if trained_on is None or trained_on == degradation:
        return method
    return f"{method}{TRAINED_ON}{trained_on}"


def split_result(name: str) -> tuple[str, str | None]:
    """``"esrcnn+x8@bicubic"`` -> ``("esrcnn+x8", "bicubic")``; a plain name -> no suffix."""
    method, _, trained_on = name.partition(TRAINED_ON)
    return method, trained_on or None


def result_label(method: str, trained_on: str, degradation: str) -> str:
    """The name tables and figures show for a row (``method``, ``trained_on`` key,
    ``degradation``): :func:`result_name`, with ``-`` meaning not trained."""
    return result_name(method, None if trained_on == UNTRAINED else trained_on, degradation)
