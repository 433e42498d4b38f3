"""Train one SR network on a patch set: resumable, deterministic, budgeted by iterations or time.

:func:`train_model` writes into its output folder:

* ``weights.pt`` -- the best weights by validation PSNR (the latest when there is no
  validation set), in the format of :mod:`sruq.checkpoint`;
* ``last.pt`` -- everything needed to continue exactly where the run stopped (model,
  optimiser, EMA, discriminator and its optimiser, RNG states, sampler position, elapsed
  time, log; the learning-rate schedule is a function of iteration and time);
* ``log.csv`` -- loss and its parts, validation PSNR, learning rate, throughput, time;
* ``curve.png`` -- loss and validation PSNR against the iteration.

If ``last.pt`` exists the run continues from it: a killed run resumed gives the same
weights as one never stopped.  A ``last.pt`` written for another model, other training
settings or other data (see :func:`run_settings`) is not resumed: the run starts afresh.

Each model entry of the workflow config has a ``train:`` mapping read by
:meth:`TrainConfig.from_dict` and a ``patches:`` mapping read by
:meth:`PatchConfig.from_dict` (see :func:`make_patches`).
"""

from __future__ import annotations

import copy
import csv
import json
import math
import random
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sruq.checkpoint import load_trained, save_weights
from sruq.color import rgb_to_y
from sruq.degrade import degrade_uint8, matlab_bicubic_resize
from sruq.images import image_seed, modcrop
from sruq.imresize import round_half_up
from sruq.io import atomic_path
from sruq.losses import (
    build_loss,
    check_perceptual,
    discriminator_adversarial_loss,
)
from sruq.metrics import psnr
from sruq.models import ADVERSARIAL_MODELS, Discriminator, SRModel, build_model
from sruq.patches import extract_patch_pairs
from sruq.predict import pick_device, upscale_image
from sruq.progress import progress_bar
from sruq.tensors import to_tensor, to_uint8

__all__ = [
    "PatchConfig",
    "TrainConfig",
    "TrainingDiverged",
    "check_requirements",
    "load_trained",
    "lr_factor",
    "make_patches",
    "run_settings",
    "train_model",
    "validate_psnr",
]

CHECKPOINT_FORMAT = "sruq-checkpoint-1"
SCHEDULERS = ("step", "cosine", "none")
AMP_MODES = ("none", "bf16", "fp16")
ValidPairs = Sequence[tuple[np.ndarray, np.ndarray]]


class TrainingDiverged(RuntimeError):
    """The loss (or a weight) became NaN or infinite; the files on disk are the last good ones."""


# --------------------------------------------------------------------------- config checks


def _fail(prefix: str, key: str, message: str, value: Any) -> ValueError:
    return ValueError(f"{prefix}.{key} {message}, got {value!r}")


def _int(prefix: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(prefix, key, f"must be an integer >= {minimum}", value)
    return value


def _float(
    prefix: str, key: str, value: Any, low: float, high: float = math.inf,
    low_open: bool = False, high_open: bool = False,
) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise _fail(prefix, key, f"must be a number in {interval}", value)
    return float(value)


def _choice(prefix: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail(prefix, key, f"must be one of {', '.join(choices)}", value)
    return str(value)


def _bool(prefix: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(prefix, key, "must be true or false", value)
    return value


def _mapping(prefix: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(prefix, key, "must be a mapping", value)
    return dict(value)


def _check_known(prefix: str, values: Mapping[str, Any], known: Iterable[str]) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(
            f"{prefix}.{unknown[0]} is not a known setting (known: {', '.join(sorted(known))})"
        )


# --------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class TrainConfig:
    """Training settings of one model (the ``train:`` mapping of a model entry).

    The run stops after ``iterations`` steps or ``minutes`` of wall-clock time, whichever
    comes first (at least one must be set).  ``amp`` is mixed precision on CUDA (``bf16``
    or ``fp16`` with loss scaling); ``bf16`` also applies on the CPU (worth it where the
    CPU has native bf16, e.g. AVX512-BF16: about 2x faster there, slower elsewhere).
    ``channels_last`` applies on CUDA and CPU (not MPS).  ``loss`` is a
    :func:`sruq.losses.build_loss` spec (default ``{"l1": 1.0}``, and
    ``{"gaussian_nll": 1.0}`` for heteroscedastic models).  The ``d_lr``,
    ``adversarial_weight``, ``pretrain_iterations``, ``pretrain_loss`` and
    ``discriminator`` keys are for adversarial models (``srgan``) only: the generator is
    first trained ``pretrain_iterations`` steps on ``pretrain_loss`` alone, then on
    ``loss`` plus ``adversarial_weight`` times the adversarial term against a
    :class:`sruq.models.Discriminator` built with the ``discriminator`` options.
    """

    iterations: int | None = 1000
    minutes: float | None = None
    batch_size: int = 16
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    scheduler: str = "cosine"
    step_size: int = 1000
    gamma: float = 0.5
    ema: float = 0.0
    grad_clip: float = 0.0
    amp: str = "none"
    channels_last: bool = False
    loss: dict[str, Any] | None = None
    valid_every: int = 1000
    checkpoint_every: int = 1000
    log_every: int = 100
    seed: int = 0
    num_workers: int = 0
    d_lr: float = 1e-4
    adversarial_weight: float = 1e-3
    pretrain_iterations: int = 0
    pretrain_loss: dict[str, Any] = field(default_factory=lambda: {"mse": 1.0})
    discriminator: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, model: str = "model") -> TrainConfig:
        """Check a config mapping; a bad key raises ``ValueError`` naming
        ``models.<model>.train.<key>``."""
        prefix = f"models.{model}.train"
        values = dict(values or {})
        _check_known(prefix, values, cls.__dataclass_fields__)
        d = {**cls().__dict__, **values}
        if d["iterations"] is not None:
            _int(prefix, "iterations", d["iterations"], 1)
        if d["minutes"] is not None:
            d["minutes"] = _float(prefix, "minutes", d["minutes"], 0.0, low_open=True)
        if d["iterations"] is None and d["minutes"] is None:
            raise _fail(prefix, "iterations", "or minutes must be set (a budget)", None)
        betas = d["betas"]
        if not isinstance(betas, list | tuple) or len(betas) != 2:
            raise _fail(prefix, "betas", "must be a pair of numbers in [0, 1)", betas)
        d["betas"] = tuple(_float(prefix, "betas", b, 0.0, 1.0, high_open=True) for b in betas)
        d["scheduler"] = _choice(prefix, "scheduler", d["scheduler"], SCHEDULERS)
        d["amp"] = _choice(prefix, "amp", d["amp"], AMP_MODES)
        for key in ("batch_size", "step_size", "valid_every", "checkpoint_every", "log_every"):
            _int(prefix, key, d[key], 1)
        for key in ("seed", "num_workers", "pretrain_iterations"):
            _int(prefix, key, d[key], 0)
        for key in ("lr", "d_lr"):
            d[key] = _float(prefix, key, d[key], 0.0, low_open=True)
        d["gamma"] = _float(prefix, "gamma", d["gamma"], 0.0, 1.0, low_open=True)
        d["ema"] = _float(prefix, "ema", d["ema"], 0.0, 1.0, high_open=True)
        d["grad_clip"] = _float(prefix, "grad_clip", d["grad_clip"], 0.0)
        d["adversarial_weight"] = _float(prefix, "adversarial_weight", d["adversarial_weight"],
                                         0.0)
        d["channels_last"] = _bool(prefix, "channels_last", d["channels_last"])
        for key in ("loss", "pretrain_loss"):
            if d[key] is not None:
                d[key] = _mapping(prefix, key, d[key])
                _check_loss(prefix, key, d[key])
        d["discriminator"] = _mapping(prefix, "discriminator", d["discriminator"])
        return cls(**d)


def _check_loss(prefix: str, key: str, spec: Mapping[str, Any]) -> None:
    """Check a loss spec like :func:`build_loss`, naming the config key in the message.

    A perceptual term is checked with :func:`check_requirements` and not built (that would
    load VGG19): the caller builds the real loss when training starts.
    """
    try:
        check_requirements(spec)
        cheap = {name: value for name, value in spec.items() if name != "perceptual"}
        if cheap:
            build_loss(cheap)
    except ValueError as err:
        raise ValueError(f"{prefix}.{key}: {err}") from None


def check_requirements(loss_spec: Mapping[str, Any] | None) -> None:
    """Raise :class:`MissingExtraError` (one line) if the loss needs what is not installed.

    Only the perceptual loss has requirements: torchvision, and its ``weights_path`` when
    given.  The workflow calls this at start-up, before any training.
    """
    if not loss_spec or "perceptual" not in loss_spec:
        return
    options = loss_spec["perceptual"]
    options = dict(options) if isinstance(options, Mapping) else {}
    check_perceptual(options.get("layer", "relu5_4"), options.get("weights_path"))


@dataclass(frozen=True)
class PatchConfig:
    """How training patches are cut (the ``patches:`` mapping of a model entry).

    ``lr_size`` is the LR patch side; or ``hr_size`` the HR side, the LR side then being
    ``hr_size // scale`` (the same cost at every scale for pre-upsampling networks).
    ``per_image`` is the number of patches cut from every (rescaled) training image,
    ``rescales`` the factors by which each HR image is also shrunk
    (MATLAB bicubic) before it is degraded -- more data from few images, as in VDSR and
    FSRCNN; ``augment`` gives each patch a random flip and 90-degree rotation.
    """

    lr_size: int | None = 32
    hr_size: int | None = None
    per_image: int = 64
    rescales: tuple[float, ...] = (1.0,)
    augment: bool = True

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, model: str = "model") -> PatchConfig:
        """Check a config mapping; a bad key raises ``ValueError`` naming
        ``models.<model>.patches.<key>``."""
        prefix = f"models.{model}.patches"
        values = dict(values or {})
        _check_known(prefix, values, cls.__dataclass_fields__)
        d = {**cls().__dict__, **values}
        if "hr_size" in values:
            if "lr_size" in values:
                raise _fail(prefix, "hr_size", "cannot be given with lr_size", values["hr_size"])
            d["lr_size"] = None
            _int(prefix, "hr_size", d["hr_size"], 1)
        else:
            _int(prefix, "lr_size", d["lr_size"], 1)
        _int(prefix, "per_image", d["per_image"], 1)
        rescales = d["rescales"]
        if not isinstance(rescales, list | tuple) or not rescales:
            raise _fail(prefix, "rescales", "must be a non-empty list of factors in (0, 1]",
                        rescales)
        d["rescales"] = tuple(
            _float(prefix, "rescales", f, 0.0, 1.0, low_open=True) for f in rescales
        )
        d["augment"] = _bool(prefix, "augment", d["augment"])
        return cls(**d)

    def lr_side(self, scale: int) -> int:
        """The LR patch side at ``scale``; ``ValueError`` if ``hr_size`` is below the scale."""
        if self.lr_size is not None:
            return self.lr_size
        assert self.hr_size is not None
        if self.hr_size < scale:
            raise ValueError(f"patches.hr_size {self.hr_size} is smaller than the scale {scale}")
        return self.hr_size // scale


def _match_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """An ``(H, W, C)`` uint8 image with ``channels`` channels: RGB -> Y (BT.601, rounded,
    as the evaluation sees it) for Y models, grey -> replicated for RGB models."""
    if image.shape[2] == channels:
        return image
    if channels == 1:
        y = round_half_up(torch.from_numpy(rgb_to_y(image))).numpy()
        return np.clip(y, 0, 255).astype(np.uint8)[:, :, None]
    return np.repeat(image, channels, axis=2)


def _rescale(hr: np.ndarray, factor: float) -> np.ndarray:
    """Shrink a uint8 ``(H, W, C)`` image by ``factor`` with MATLAB bicubic (uint8 out)."""
    if factor == 1.0:
        return hr
    size = (max(1, round(hr.shape[0] * factor)), max(1, round(hr.shape[1] * factor)))
    out = matlab_bicubic_resize(to_tensor(hr)[0], size)
    return to_uint8(out)


def make_patches(
    hr_images: Iterable[np.ndarray],
    scale: int,
    preset: Mapping[str, Any],
    cfg: PatchConfig,
    in_channels: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """LR/HR training patches from HR images: rescale, mod-crop, degrade, cut.

    Every HR ``(H, W, C)`` uint8 image is shrunk by each factor of ``cfg.rescales``,
    mod-cropped, degraded with ``preset`` (as the test LR images are, on all channels),
    converted to ``in_channels`` (Y for one-channel models) and cut into ``cfg.per_image``
    aligned patches.  Versions smaller than the patch are skipped.  Images are consumed one
    at a time (pass a generator for large sets).  Returns ``(N, C, p, p)`` and
    ``(N, C, s*p, s*p)`` uint8 arrays for :func:`sruq.patches.write_patch_set`.
    """
    lr_size = cfg.lr_side(scale)
    lr_parts: list[np.ndarray] = []
    hr_parts: list[np.ndarray] = []
    for index, image in enumerate(hr_images):
        for factor in cfg.rescales:
            key = (str(index), f"{factor:g}")
            hr = modcrop(_rescale(np.atleast_3d(image), factor), scale)
            if min(hr.shape[:2]) < lr_size * scale:
                continue
            lr, _ = degrade_uint8(hr, dict(preset), scale, image_seed(seed, "degrade", *key))
            lr = _match_channels(np.atleast_3d(lr), in_channels)
            hr = _match_channels(hr, in_channels)
            patch_seed = int(image_seed(seed, "patches", *key).integers(2**63))
            lr_p, hr_p = extract_patch_pairs([(lr, hr)], lr_size, scale, cfg.per_image,
                                             patch_seed, cfg.augment)
            lr_parts.append(lr_p)
            hr_parts.append(hr_p)
    if not lr_parts:
        raise ValueError(f"no training image is large enough for LR patches of {lr_size} "
                         f"pixels at scale {scale}")
    return np.concatenate(lr_parts), np.concatenate(hr_parts)


# --------------------------------------------------------------------------- sampling


class _EpochItems(Dataset):
    """Items addressed as ``(epoch, index)``, so random datasets (``set_epoch``) draw the
    right epoch also inside DataLoader workers."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if hasattr(self.base, "set_epoch") and getattr(self.base, "epoch", None) != epoch:
            self.base.set_epoch(epoch)
        return self.base[index]


def _permutation(size: int, seed: int, epoch: int) -> list[int]:
    """The shuffled order of epoch ``epoch``: a pure function of ``(seed, epoch)``."""
    key = int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0] >> 1)
    return torch.randperm(size, generator=torch.Generator().manual_seed(key)).tolist()


def _batches(size: int, seed: int, batch_size: int, drawn: int) -> Iterator[list[tuple[int, int]]]:
    """Infinite batches of ``(epoch, index)`` keys, reshuffled every epoch, starting after
    ``drawn`` samples (the saved sampler position)."""
    epoch, position = divmod(drawn, size)
    order = _permutation(size, seed, epoch)
    while True:
        batch = []
        for _ in range(batch_size):
            if position == size:
                epoch, position = epoch + 1, 0
                order = _permutation(size, seed, epoch)
            batch.append((epoch, order[position]))
            position += 1
        yield batch


def _loader(
    train_set: Dataset, cfg: TrainConfig, drawn: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    size = len(train_set)  # type: ignore[arg-type]
    if size == 0:
        raise ValueError("train_set is empty")
    loader = DataLoader(
        _EpochItems(train_set),
        batch_sampler=_batches(size, cfg.seed, cfg.batch_size, drawn),  # type: ignore[arg-type]
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # keeps the global RNG untouched
    )
    return iter(loader)


# --------------------------------------------------------------------------- state


class EMA:
    """Exponential moving average of a model's parameters (buffers are copied)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for mine, theirs in zip(self.model.parameters(), model.parameters(), strict=True):
            mine.lerp_(theirs, 1.0 - self.decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)


def _rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors and plain lists (weights_only-safe).

    The global generators are saved (not only torch's) because code the trainer calls, e.g.
    a dataset or a third-party loss, may draw from them.
    """
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos),
                  int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    keys = keys.numpy().astype(np.uint32)
    np.random.set_state((kind, keys, pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global state other code may use
    torch.manual_seed(seed)


def lr_factor(cfg: TrainConfig, iteration: int, elapsed_s: float) -> float:
    """Learning-rate multiplier after ``iteration`` steps and ``elapsed_s`` seconds.

    ``step``: ``gamma ** (iteration // step_size)``.  ``cosine``: ``(1 + cos(pi * p)) / 2``
    where the progress ``p`` is the fraction used of the budget that runs out first
    (iterations or minutes), so a time-limited run also ends at a learning rate of 0.
    The schedule is a function of the saved iteration and time: nothing else to resume.
    """
    if cfg.scheduler == "step":
        return cfg.gamma ** (iteration // cfg.step_size)
    if cfg.scheduler == "cosine":
        progress = 0.0
        if cfg.iterations is not None:
            progress = iteration / cfg.iterations
        if cfg.minutes is not None:
            progress = max(progress, elapsed_s / (60 * cfg.minutes))
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return 1.0


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _state_dict(obj: Any) -> Any:
    return None if obj is None else obj.state_dict()


def _load_state(obj: Any, state: Any) -> None:
    if obj is not None:
        obj.load_state_dict(state)


@dataclass
class _Run:
    """Everything that changes while training, saved in ``last.pt``."""

    model: SRModel
    optimizer: torch.optim.Optimizer
    ema: EMA | None
    disc: nn.Module | None
    d_optimizer: torch.optim.Optimizer | None
    scaler: torch.amp.GradScaler | None
    iteration: int = 0
    drawn: int = 0
    elapsed: float = 0.0
    best_psnr: float | None = None
    best_iteration: int | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    interval: dict[str, float] = field(default_factory=dict)

    @property
    def eval_model(self) -> SRModel:
        """The model to validate and save: the EMA copy when there is one."""
        return self.ema.model if self.ema is not None else self.model  # type: ignore[return-value]


def run_settings(arch: str, model_kwargs: Mapping[str, Any], cfg: TrainConfig,
                 train_set: Dataset) -> str:
    """What a resumed run must share with the run that wrote ``last.pt``: the model, the
    training settings and the training data (its ``fingerprint()`` when it has one, else its
    type and length)."""
    fingerprint = getattr(train_set, "fingerprint", None)
    data = (fingerprint() if callable(fingerprint)
            else f"{type(train_set).__name__}:{len(train_set)}")  # type: ignore[arg-type]
    return json.dumps({"arch": arch, "kwargs": dict(model_kwargs), "train": asdict(cfg),
                       "data": data}, sort_keys=True, default=str)


def _checkpoint(run: _Run, arch: str, settings: str) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "settings": settings,
        "arch": arch,
        "kwargs": dict(run.model.init_kwargs),
        "scale": run.model.scale,
        "iteration": run.iteration,
        "sampler_drawn": run.drawn,
        "elapsed_s": run.elapsed,
        "best_psnr": run.best_psnr,
        "best_iteration": run.best_iteration,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "ema": None if run.ema is None else run.ema.model.state_dict(),
        "discriminator": _state_dict(run.disc),
        "d_optimizer": _state_dict(run.d_optimizer),
        "scaler": _state_dict(run.scaler),
        "log": run.log,
        "interval": run.interval,
        "rng": _rng_state(),
    }


def _resume(run: _Run, path: Path, settings: str) -> None:
    """Restore ``run`` from ``last.pt`` (``ValueError`` naming the file if it is not a
    training checkpoint).  A checkpoint written for another model, other training settings
    or other data is not resumed: the run starts afresh and overwrites it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line error
        raise ValueError(f"{path}: unreadable checkpoint ({type(err).__name__}); delete it "
                         "to start afresh") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a sruq training checkpoint; delete it to start afresh")
    if state.get("settings") != settings:
        print(f"{path}: written for another model, other training settings or data; "
              "training afresh", file=sys.stderr)
        return
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.ema is not None:
        run.ema.model.load_state_dict(state["ema"] or state["model"])
    _load_state(run.disc, state["discriminator"])
    _load_state(run.d_optimizer, state["d_optimizer"])
    if run.scaler is not None and state["scaler"] is not None:
        run.scaler.load_state_dict(state["scaler"])
    run.iteration = state["iteration"]
    run.drawn = state["sampler_drawn"]
    run.elapsed = state["elapsed_s"]
    run.best_psnr, run.best_iteration = state["best_psnr"], state["best_iteration"]
    run.log, run.interval = list(state["log"]), dict(state["interval"])
    _set_rng_state(state["rng"])


# --------------------------------------------------------------------------- outputs


def _write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _write_curve(path: Path, rows: list[dict[str, Any]], title: str) -> None:
    """Training loss (log scale) and validation PSNR against the iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    losses = [(r["iteration"], r["loss"]) for r in rows if r.get("loss") not in (None, "")]
    if losses:
        top.plot(*zip(*losses), color="tab:blue")
        if all(v > 0 for _, v in losses):
            top.set_yscale("log")
    top.set_ylabel("training loss (mean over the log interval)")
    top.set_title(title)
    top.grid(alpha=0.3)
    scores = [(r["iteration"], r["valid_psnr"]) for r in rows
              if r.get("valid_psnr") not in (None, "")]
    if scores:
        bottom.plot(*zip(*scores), marker="o", color="tab:green")
    bottom.set_ylabel("validation PSNR, Y (dB)")
    bottom.set_xlabel("iteration")
    bottom.grid(alpha=0.3)
    fig.subplots_adjust(left=0.13, right=0.97, top=0.94, bottom=0.09, hspace=0.08)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def validate_psnr(model: SRModel, pairs: ValidPairs, device: torch.device) -> float:
    """Mean PSNR (Y channel, border of ``scale`` cropped) of ``model`` over ``(lr, hr)``
    uint8 pairs, the evaluation protocol of :mod:`sruq.metrics`."""
    scores = [psnr(upscale_image(model, lr, device), hr, crop=model.scale) for lr, hr in pairs]
    return float(np.mean(scores))


# --------------------------------------------------------------------------- training


def _autocast(device: torch.device, amp: str) -> AbstractContextManager[Any]:
    """Mixed precision: bf16/fp16 on CUDA, bf16 on the CPU, nothing elsewhere."""
    if device.type == "cuda" and amp != "none":
        return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)
    if device.type == "cpu" and amp == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


def _uses_channels_last(cfg: TrainConfig, device: torch.device) -> bool:
    return cfg.channels_last and device.type in ("cuda", "cpu")


def _diverged(what: str, value: float, iteration: int) -> TrainingDiverged:
    return TrainingDiverged(
        f"{what} is {value} at iteration {iteration}: training stopped; weights.pt and "
        "last.pt are those of the last good checkpoint (lower lr or set grad_clip)"
    )


def _finite(value: torch.Tensor, what: str, iteration: int) -> float:
    """``value`` as a float; :class:`TrainingDiverged` naming the iteration if not finite."""
    number = float(value.detach())
    if not math.isfinite(number):
        raise _diverged(what, number, iteration)
    return number


def loss_spec(arch: str, heteroscedastic: bool, cfg: TrainConfig, prefix: str
              ) -> dict[str, float]:
    """The generator's loss terms for ``arch`` (without the adversarial term), checked
    without building anything, so the config check runs it at start-up: a
    heteroscedastic model trains with ``gaussian_nll`` and only it can; an adversarial
    model's ``adversarial`` weight is ``adversarial_weight``, not a loss term."""
    spec = dict(cfg.loss or ({"gaussian_nll": 1.0} if heteroscedastic else {"l1": 1.0}))
    if arch in ADVERSARIAL_MODELS and "adversarial" in spec:
        raise ValueError(f"{prefix}.loss: leave 'adversarial' out, its weight is "
                         f"{prefix}.adversarial_weight")
    if heteroscedastic != ("gaussian_nll" in spec):
        raise ValueError(f"{prefix}.loss: heteroscedastic models train with gaussian_nll "
                         f"and only they can, got {spec}")
    return spec


class _Step:
    """One optimisation step of the generator (and the discriminator for srgan)."""

    def __init__(self, arch: str, model: SRModel, cfg: TrainConfig, device: torch.device,
                 prefix: str) -> None:
        self.cfg, self.device = cfg, device
        spec = loss_spec(arch, model.heteroscedastic, cfg, prefix)
        self.adversarial = arch in ADVERSARIAL_MODELS
        if self.adversarial:
            self.pretrain_loss = build_loss(cfg.pretrain_loss).to(device)
            spec["adversarial"] = cfg.adversarial_weight
        self.loss = build_loss(spec).to(device)

    def _predict(self, model: SRModel, lr: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        if model.heteroscedastic:
            mean, logvar = model.predict_mean_logvar(lr)  # type: ignore[attr-defined]
            return mean, {"logvar": logvar}
        return model(lr), {}

    def _backward(self, run: _Run, loss: torch.Tensor) -> None:
        if run.scaler is not None:
            run.scaler.scale(loss).backward()
        else:
            loss.backward()

    def _update(self, run: _Run, optimizer: torch.optim.Optimizer,
                params: Iterable[nn.Parameter]) -> None:
        if self.cfg.grad_clip > 0:
            if run.scaler is not None:
                run.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        if run.scaler is not None:
            run.scaler.step(optimizer)
        else:
            optimizer.step()

    def __call__(self, run: _Run, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        """Train on one batch; returns the total loss and its parts (unweighted)."""
        iteration = run.iteration + 1
        factor = lr_factor(self.cfg, run.iteration, run.elapsed)
        _set_lr(run.optimizer, self.cfg.lr * factor)
        if run.d_optimizer is not None:
            _set_lr(run.d_optimizer, self.cfg.d_lr * factor)
        gan_phase = self.adversarial and iteration > self.cfg.pretrain_iterations
        values: dict[str, float] = {}
        with _autocast(self.device, self.cfg.amp):
            pred, extra = self._predict(run.model, lr)
        if gan_phase:
            assert run.disc is not None and run.d_optimizer is not None
            with _autocast(self.device, self.cfg.amp):
                d_loss = discriminator_adversarial_loss(run.disc(hr), run.disc(pred.detach()))
            values["d_loss"] = _finite(d_loss, "discriminator loss", iteration)
            run.d_optimizer.zero_grad(set_to_none=True)
            self._backward(run, d_loss)
            self._update(run, run.d_optimizer, run.disc.parameters())
            with _autocast(self.device, self.cfg.amp):
                extra["fake_logits"] = run.disc(pred)
        loss_fn = self.pretrain_loss if self.adversarial and not gan_phase else self.loss
        with _autocast(self.device, self.cfg.amp):
            total, parts = loss_fn(pred.float(), hr, **{k: v.float() for k, v in extra.items()})
        values = {"loss": _finite(total, "loss", iteration), **values}
        values.update({name: float(value.detach()) for name, value in parts.items()})
        run.optimizer.zero_grad(set_to_none=True)
        self._backward(run, total)
        self._update(run, run.optimizer, run.model.parameters())
        if run.scaler is not None:
            run.scaler.update()
        if run.ema is not None:
            run.ema.update(run.model)
        run.iteration = iteration
        return values


def _make_run(arch: str, model_kwargs: Mapping[str, Any], scale: int, cfg: TrainConfig,
              device: torch.device) -> _Run:
    _seed_everything(cfg.seed)
    model = build_model(arch, scale, **model_kwargs)
    if not model.trainable:
        raise ValueError(f"model {arch!r} has nothing to train")
    model = model.to(device)
    if _uses_channels_last(cfg, device):
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    disc = d_optimizer = None
    if arch in ADVERSARIAL_MODELS:
        disc = Discriminator(in_channels=model.in_channels, **cfg.discriminator).to(device)
        d_optimizer = torch.optim.Adam(disc.parameters(), lr=cfg.d_lr, betas=cfg.betas)
    return _Run(
        model=model.train(),
        optimizer=optimizer,
        ema=EMA(model, cfg.ema) if cfg.ema > 0 else None,
        disc=disc,
        d_optimizer=d_optimizer,
        scaler=torch.amp.GradScaler("cuda") if device.type == "cuda" and cfg.amp == "fp16"
        else None,
    )


class _Trainer:
    """The loop of :func:`train_model`, with its bookkeeping (logging, validation, files)."""

    def __init__(self, arch: str, run: _Run, step: _Step, cfg: TrainConfig,
                 valid_pairs: ValidPairs, out_dir: Path, device: torch.device,
                 settings: str, label: str | None = None) -> None:
        self.arch, self.run, self.step, self.cfg = arch, run, step, cfg
        self.label = label or arch
        self.valid_pairs, self.out, self.device = valid_pairs, out_dir, device
        self.settings = settings

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if _uses_channels_last(self.cfg, self.device):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _accumulate(self, values: Mapping[str, float], seconds: float, images: int) -> None:
        acc = self.run.interval
        for key, value in values.items():
            acc[key] = acc.get(key, 0.0) + value
        acc["_steps"] = acc.get("_steps", 0.0) + 1
        acc["_seconds"] = acc.get("_seconds", 0.0) + seconds
        acc["_images"] = acc.get("_images", 0.0) + images

    def _log_row(self, valid: float | None) -> dict[str, Any]:
        acc, self.run.interval = self.run.interval, {}
        steps = acc.pop("_steps", 0.0)
        seconds, images = acc.pop("_seconds", 0.0), acc.pop("_images", 0.0)
        row: dict[str, Any] = {"iteration": self.run.iteration}
        row.update({key: value / steps for key, value in acc.items()} if steps else {})
        row["valid_psnr"] = "" if valid is None else valid
        row["lr"] = self.run.optimizer.param_groups[0]["lr"]
        row["img_per_s"] = images / seconds if seconds > 0 else ""
        row["elapsed_s"] = self.run.elapsed
        self.run.log.append(row)
        return row

    def _validate(self) -> float | None:
        if not self.valid_pairs:
            return None
        score = validate_psnr(self.run.eval_model, self.valid_pairs, self.device)
        self.run.model.train()
        if self.run.best_psnr is None or score > self.run.best_psnr:
            self.run.best_psnr, self.run.best_iteration = score, self.run.iteration
            self._check_weights()
            save_weights(self.out / "weights.pt", self.run.eval_model, self.arch,
                         self.run.iteration, score)
        return score

    def _check_weights(self) -> None:
        for name, value in self.run.model.state_dict().items():
            if value.is_floating_point() and not torch.isfinite(value).all():
                raise _diverged(f"weight {name}", math.nan, self.run.iteration)

    def _save(self) -> None:
        self._check_weights()
        if not self.valid_pairs:
            save_weights(self.out / "weights.pt", self.run.eval_model, self.arch,
                         self.run.iteration, None)
        with atomic_path(self.out / "last.pt") as tmp, open(tmp, "wb") as fh:
            torch.save(_checkpoint(self.run, self.arch, self.settings), fh)
        _write_log(self.out / "log.csv", self.run.log)
        _write_curve(self.out / "curve.png", self.run.log,
                     f"{self.arch} x{self.run.model.scale}")

    def _out_of_budget(self) -> str | None:
        if self.cfg.iterations is not None and self.run.iteration >= self.cfg.iterations:
            return "iterations"
        if self.cfg.minutes is not None and self.run.elapsed >= 60 * self.cfg.minutes:
            return "minutes"
        return None

    def loop(self, train_set: Dataset, progress: bool) -> str:
        run, cfg = self.run, self.cfg
        stopped = self._out_of_budget()
        if stopped:
            return stopped
        batches = _loader(train_set, cfg, run.drawn, self.device)
        bar = progress_bar(total=cfg.iterations, initial=run.iteration, disable=not progress,
                           file=sys.stderr, desc=f"train {self.label} x{run.model.scale}",
                           unit="it", dynamic_ncols=True)
        last_row: dict[str, Any] = {}
        with bar:
            while stopped is None:
                started = time.perf_counter()
                lr, hr = next(batches)
                values = self.step(run, self._to_device(lr), self._to_device(hr))
                run.drawn += len(lr)
                seconds = time.perf_counter() - started
                run.elapsed += seconds
                self._accumulate(values, seconds, len(lr))
                stopped = self._out_of_budget()
                it = run.iteration
                valid = None
                if it % cfg.valid_every == 0 or stopped:
                    tick = time.perf_counter()
                    valid = self._validate()
                    run.elapsed += time.perf_counter() - tick
                if it % cfg.log_every == 0 or valid is not None or stopped:
                    last_row = self._log_row(valid)
                    bar.set_postfix(loss=f"{last_row.get('loss', math.nan):.4g}",
                                    psnr="" if valid is None else f"{valid:.2f}")
                if it % cfg.checkpoint_every == 0 or stopped:
                    self._save()
                bar.update(1)
        return stopped


def train_model(
    name: str,
    model_kwargs: Mapping[str, Any],
    scale: int,
    train_set: Dataset,
    valid_pairs: ValidPairs,
    cfg: TrainConfig,
    out_dir: str | Path,
    device: str = "auto",
    progress: bool = True,
    label: str | None = None,
) -> dict[str, Any]:
    """Train model ``name`` (built with ``model_kwargs`` for ``scale``) on ``train_set``.

    ``label`` is the model's name in the config (default ``name``, the architecture): errors
    name the key ``models.<label>.train`` and the progress lines say ``train <label>``.

    ``train_set`` yields float ``(lr, hr)`` tensor pairs (a :class:`sruq.patches.PatchDataset`
    or ``OnTheFlyDataset``); ``valid_pairs`` are uint8 ``HWC`` ``(lr, hr)`` images (HR
    mod-cropped), scored every ``cfg.valid_every`` iterations and at the end.  Continues
    from ``out_dir/last.pt`` when it exists and was written with the same settings and
    data.  Raises :class:`TrainingDiverged` on a NaN or infinite loss.  Returns a summary:
    iterations, best and final validation PSNR, elapsed seconds, what stopped the run.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    prefix = f"models.{label or name}.train"
    check_requirements(cfg.loss)
    run = _make_run(name, model_kwargs, scale, cfg, dev)
    step = _Step(name, run.model, cfg, dev, prefix)
    settings = run_settings(name, model_kwargs, cfg, train_set)
    if (out / "last.pt").is_file():
        _resume(run, out / "last.pt", settings)
    trainer = _Trainer(name, run, step, cfg, valid_pairs, out, dev, settings, label)
    stopped = trainer.loop(train_set, progress)
    final = next((r["valid_psnr"] for r in reversed(run.log) if r["valid_psnr"] != ""), None)
    return {
        "arch": name,
        "scale": scale,
        "iterations": run.iteration,
        "stopped_by": stopped,
        "elapsed_s": run.elapsed,
        "best_valid_psnr": run.best_psnr,
        "best_iteration": run.best_iteration,
        "final_valid_psnr": final,
        "device": str(dev),
        "weights": str(out / "weights.pt"),
    }
