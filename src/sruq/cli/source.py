"""What ``sruq upscale``'s ``--model``/``--weights``/``--source`` name: the network(s), the
uncertainty source around them and its sigma-scaling factor, resolved before any image
is read.

Every source is the workflow's own (:func:`sruq.uncertainty.sources.build_source`, the
registry :data:`~sruq.uncertainty.sources.SOURCES`), seeded per image from ``--seed`` and
the image's name as the workflow seeds it, so the CLI's mean and std of an image equal
the workflow's files for the same image and seed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sruq.core import layout
from sruq.core.errors import CLIError

if TYPE_CHECKING:
    from sruq.uncertainty.sources import UncertaintySource

SOURCE_HELP: dict[str, str] = {
    "mc": "MC dropout: a model with dropout (esrcnn...); --samples passes with "
          "dropout on (the default for such a model)",
    "x8": "x8 self-ensemble: any model; the spread of its 8 flipped/rotated outputs",
    "tta": "input-noise TTA: any model; --samples passes with Gaussian noise of std "
           "--tta-noise on the LR input",
    "mcbn": "MC-BatchNorm: a workflow model with BatchNorm (srresnet, srgan, srresbnn, "
            "hetero-srresnet) and its training patches under --results/patches; --samples "
            "passes, each with the statistics of --mcbn-batch random patches",
    "ensemble": "deep ensemble: two or more members, as --model A --model B or "
                "--weights A.pt --weights B.pt; the spread of their outputs",
}
"""Each ``--source`` (a name of :data:`sruq.uncertainty.sources.SOURCES`) and what it needs
(``sruq upscale --help`` prints these lines)."""
SAMPLED = ("mc", "tta", "mcbn")
"""The sources that take ``--samples``."""


@dataclass
class Member:
    """One network of the call: the model, and its weight file when the workflow (or the
    user) trained it."""

    model: Any
    weights: Path | None
    from_results: bool


@dataclass
class ResolvedSource:
    """The resolved ``--source``: the uncertainty source around the network(s), and what
    the command says about it."""

    name: str
    """``mc``, ``x8``, ``tta``, ``mcbn``, ``ensemble``, or ``one pass``."""
    label: str
    """The method as the workflow's tables name it (``esrcnn+x8``)."""
    source: UncertaintySource
    sigma_scale: float
    judge: Any = None
    """``judge(uint8 LR) -> ImageVerdict``: the shift score fitted for the (first) model,
    ``None`` when it has none (:func:`shift_judge`)."""
    no_judge: str = ""
    """Why there is no shift score."""
    conformal_q: float | None = None
    """The static interval factor of the workflow's calibration file (``None``: none)."""
    widening: Any = None
    """That file's shift-aware widening fitted on every degradation (an input's own
    degradation is unknown), ``None`` when it has none."""

    def heatmap_widening(self, verdict: Any) -> float:
        """How much wider the input's shift-aware interval is than the static one (1 when
        it is not widened, or there is no verdict, calibration or widening): what its
        heatmap multiplies the sigma-scaled std by, as the workflow's figures do."""
        from sruq.shift.calibration import image_q, shown_widening

        if verdict is None or verdict.profile is None or self.conformal_q is None:
            return 1.0
        q = image_q(self.conformal_q, self.widening, verdict.profile, verdict.flagged)
        return shown_widening(q, self.conformal_q)

    @property
    def scale(self) -> int:
        return self.source.scale

    @property
    def passes(self) -> int:
        return self.source.passes


def _candidates(name: str, scale: int | None, degradation: str | None,
                results: Path) -> list[Path]:
    return layout.glob(layout.WEIGHTS, results, model=name, scale=scale, degradation=degradation)


def weights_wildcards(weights: Path, results: Path) -> dict[str, str]:
    """Training set (``dataset``), degradation, scale and model of a found weight file."""
    return layout.parse(layout.rooted(layout.WEIGHTS, results), weights)


def _describe(path: Path, results: Path) -> str:
    w = weights_wildcards(path, results)
    return (f"--scale {w['scale']} --degradation {w['degradation']} "
            f"(trained on {w['dataset']}: {path})")


def find_weights(name: str, scale: int | None, degradation: str | None, results: Path) -> Path:
    """The one weight file of workflow model ``name`` under ``results`` (one line listing
    the candidates otherwise)."""
    found = _candidates(name, scale, degradation, results)
    if not found:
        others = _candidates(name, None, None, results)
        if others:
            listing = "; ".join(_describe(p, results) for p in others)
            raise CLIError(f"--model {name!r}: no trained weights for the given --scale/"
                           f"--degradation; trained: {listing}")
        raise CLIError(
            f"--model {name!r}: no trained weights under "
            f"{layout.base_dir(layout.rooted(layout.WEIGHTS, results))} "
            f"(train it with the workflow, or give --weights FILE)")
    if len(found) > 1:
        listing = "; ".join(_describe(p, results) for p in found)
        raise CLIError(f"--model {name!r} matches {len(found)} trained models, pick one with "
                       f"--scale/--degradation (or give --weights FILE): {listing}")
    return found[0]


def _load(path: Path, option: str):
    from sruq.models.checkpoint import load_trained

    if not path.is_file():
        raise CLIError(f"{option} {path}: no such file")
    try:
        return load_trained(path)
    except (ValueError, RuntimeError, OSError) as err:
        prefix = "--weights " if option == "--weights" else f"{option}: "
        raise CLIError(f"{prefix}{err}") from None  # the message starts with the path


def _members(args: argparse.Namespace, base_names: list[str]) -> list[Member]:
    from sruq.models import MODELS, build_model

    members = []
    for path in args.weights or []:
        members.append(Member(_load(path, "--weights"), path, False))
    for name in base_names:
        if name in MODELS and not MODELS[name].trainable:
            if args.scale is None:
                raise CLIError(f"--model {name!r} needs --scale")
            members.append(Member(build_model(name, args.scale), None, False))
            continue
        path = find_weights(name, args.scale, args.degradation, args.results)
        members.append(Member(_load(path, f"--model {name}"), path, True))
    for member in members:
        if args.scale is not None and member.model.scale != args.scale:
            raise CLIError(f"the model upscales x{member.model.scale}, not x{args.scale} "
                           "(--scale)")
    if len({m.model.scale for m in members}) > 1:
        raise CLIError("the ensemble's members upscale by different factors: "
                       + ", ".join(f"x{m.model.scale}" for m in members))
    return members


def _named_source(args: argparse.Namespace) -> tuple[list[str], str | None]:
    """The base model names of ``--model`` and the source a ``NAME+x8`` style name asks for."""
    from sruq.pipeline.methods import SPREAD_VARIANTS, split_method

    names, named = [], set()
    for name in args.model or []:
        try:
            base, variant = split_method(name)
        except ValueError as err:
            raise CLIError(f"--model {err}") from None
        if variant is not None and variant not in SPREAD_VARIANTS:
            raise CLIError(f"--model {name!r}: the command runs the uncertainty sources "
                           f"({', '.join(SPREAD_VARIANTS)} as NAME+x8...), not +{variant}")
        names.append(base)
        named.add(variant)
    variants = named - {None}
    if len(variants) > 1 or (variants and len(names) > 1):
        raise CLIError("--model: one NAME+VARIANT at a time")
    variant = next(iter(variants), None)
    if variant and args.source and args.source != variant:
        raise CLIError(f"--model {args.model[0]!r} asks for --source {variant}, not "
                       f"--source {args.source}")
    return names, variant


def _calibration(args: argparse.Namespace, members: list[Member], label: str) -> Path | None:
    """The workflow's calibration file for ``label`` (a result name) beside the found
    weights (``None``: no such file, or not one model of the workflow's results)."""
    if len(members) != 1 or not members[0].from_results:
        return None
    w = weights_wildcards(members[0].weights, args.results)  # type: ignore[arg-type]
    path = Path(layout.fill(layout.rooted(layout.CALIBRATION, args.results), method=label,
                            degradation=w["degradation"], scale=w["scale"]))
    return path if path.is_file() else None


def resolve_source(args: argparse.Namespace, settings: Any, device: Any) -> ResolvedSource:
    """The network(s) and the uncertainty source the options name, checked: the source
    fits the model (dropout, BatchNorm, members), ``--samples`` is only given where it is
    used.  Every problem is one :class:`CLIError` line naming the option."""
    from sruq.uncertainty.sources import build_source

    names, variant = _named_source(args)
    members = _members(args, names)
    source = args.source or variant
    if source is None:
        source = "mc" if members[0].model.has_dropout and len(members) == 1 else None
        if len(members) > 1:
            source = "ensemble"
    if (source == "ensemble") != (len(members) > 1):
        raise CLIError("--source ensemble needs two or more members (--model A --model B or "
                       "--weights A --weights B); the other sources take one model")
    model = members[0].model
    what = names[0] if names else str(members[0].weights)
    if source == "mc" and not model.has_dropout:
        raise CLIError(f"--source mc: {what} has no dropout to sample; try --source x8 or tta")
    if source == "mcbn" and not getattr(model, "batch_norm", False):
        raise CLIError(f"--source mcbn: {what} has no BatchNorm layers (architectures with "
                       "BatchNorm: srresnet, srgan, srresbnn, hetero-srresnet)")
    if args.samples is not None and source not in SAMPLED:
        runs = {"x8": "8 fixed transforms", "ensemble": "one pass per member"}.get(
            source or "", "once (no dropout)")
        how = f"with --source {source}" if source else "without a --source"
        raise CLIError(f"--samples: {what} runs {runs} {how}; --samples applies to "
                       f"--source {', '.join(SAMPLED)}")
    base = names[0] if names else Path(str(what)).parent.name or "model"
    label = base if source in (None, "mc", "ensemble") else f"{base}+{source}"
    patches = _patches_of(members[0], args.results) if source == "mcbn" else None
    models = [m.model for m in members]
    try:
        built = build_source(source or "mc", models, settings, seed=args.seed, patches=patches,
                             train_batch=args.mcbn_batch, device=device)
    except ValueError as err:
        raise CLIError(f"--source {source}: {err}") from None
    from sruq.shift.calibration import left_out, read_widenings
    from sruq.uncertainty.files import read_conformal_q, read_sigma_scale

    judge, no_judge = shift_judge(members[0], device)
    calibration = _calibration(args, members, label)
    sigma_scale = (args.sigma_scale if args.sigma_scale is not None
                   else read_sigma_scale(calibration))
    return ResolvedSource(name=source or "one pass", label=label, source=built,
                          sigma_scale=sigma_scale, judge=judge, no_judge=no_judge,
                          conformal_q=read_conformal_q(calibration),
                          widening=left_out(read_widenings(calibration), None, None))


def shift_judge(member: Member, device: Any) -> tuple[Any, str]:
    """The verdict function of a trained model's shift fit (``shift.json`` beside its
    weights, rule shift_score), or ``None`` and why there is none."""
    from sruq.shift.scores import NO_SCORE
    from sruq.shift.scoring import fit_beside, judge_image, vectorisers

    if member.weights is None:
        return None, "no shift score (not a trained model)"
    try:
        fit = fit_beside(member.weights)
    except ValueError as err:
        raise CLIError(str(err)) from None
    if fit is None:
        return None, NO_SCORE
    vectorise = vectorisers(member.model, device)
    return (lambda lr: judge_image(fit, vectorise, lr)), ""


def _patches_of(member: Member, results: Path) -> Path:
    """The training patch set of a workflow model (what MC-BatchNorm samples batches from)."""
    if not member.from_results:
        raise CLIError("--source mcbn needs the model's training patches: give it as "
                       "--model NAME (a model the workflow trained under --results)")
    w = weights_wildcards(member.weights, results)  # type: ignore[arg-type]
    path = Path(layout.fill(layout.rooted(layout.PATCHES, results), **w))
    if not (path / "meta.json").is_file():
        raise CLIError(f"--source mcbn: no training patches at {path} (the workflow's "
                       "patches rule writes them; rerun it)")
    return path
