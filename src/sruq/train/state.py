"""Everything a training run changes, and how it is saved to ``last.pt`` and resumed.

:class:`Run` holds the model, its optimiser, the EMA copy, the discriminator of an
adversarial model with its optimiser, the loss scaler, the sampler position, the
elapsed time, the log and the RNG states; :func:`checkpoint` and :func:`resume` write and
read it.  The learning-rate schedule (:func:`lr_factor`) is a function of the saved
iteration and time, so it needs no state of its own.
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import Dataset

from sruq.models import ADVERSARIAL_MODELS, Discriminator, SRModel, build_model
from sruq.train.config import TrainConfig

CHECKPOINT_FORMAT = "sruq-checkpoint-1"


def uses_channels_last(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether the model and its batches are channels-last (CUDA and CPU only)."""
    return cfg.channels_last and device.type in ("cuda", "cpu")


def ema_model(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of ``model``'s parameters, starting at its weights.

    After every step ``update_parameters(model)`` moves each averaged parameter towards the
    model's by ``1 - decay`` (``lerp``).  Buffers (batch-norm statistics) are copied from
    the model, not averaged (``use_buffers=False``).  The averaged network is ``.module``
    (in eval mode, without gradients); its state dict is what ``last.pt`` keeps.
    """
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)
    ema.module.eval().requires_grad_(False)
    ema.update_parameters(model)  # the first update copies: the average starts at the model
    return ema


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


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group of ``optimizer``."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def _state_dict(obj: Any) -> Any:
    return None if obj is None else obj.state_dict()


def _load_state(obj: Any, state: Any) -> None:
    if obj is not None:
        obj.load_state_dict(state)


@dataclass
class Run:
    """Everything that changes while training, saved in ``last.pt``."""

    model: SRModel
    optimizer: torch.optim.Optimizer
    ema: AveragedModel | None
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
        return self.ema.module if self.ema is not None else self.model  # type: ignore[return-value]


def new_run(arch: str, model_kwargs: Mapping[str, Any], scale: int, cfg: TrainConfig,
            device: torch.device) -> Run:
    """A fresh run: every RNG seeded with ``cfg.seed``, then the model (and for an
    adversarial ``arch`` the discriminator) built, with Adam optimisers, the EMA copy and,
    for fp16 on CUDA, a loss scaler."""
    _seed_everything(cfg.seed)
    model = build_model(arch, scale, **model_kwargs)
    if not model.trainable:
        raise ValueError(f"model {arch!r} has nothing to train")
    model = model.to(device)
    if uses_channels_last(cfg, device):
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    disc = d_optimizer = None
    if arch in ADVERSARIAL_MODELS:
        disc = Discriminator(in_channels=model.in_channels, **cfg.discriminator).to(device)
        d_optimizer = torch.optim.Adam(disc.parameters(), lr=cfg.d_lr, betas=cfg.betas)
    return Run(
        model=model.train(),
        optimizer=optimizer,
        ema=ema_model(model, cfg.ema) if cfg.ema > 0 else None,
        disc=disc,
        d_optimizer=d_optimizer,
        scaler=torch.amp.GradScaler("cuda") if device.type == "cuda" and cfg.amp == "fp16"
        else None,
    )


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


def checkpoint(run: Run, arch: str, settings: str) -> dict[str, Any]:
    """The contents of ``last.pt`` (tensors, numbers, strings: loads with
    ``weights_only=True``)."""
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
        "ema": None if run.ema is None else run.ema.module.state_dict(),
        "discriminator": _state_dict(run.disc),
        "d_optimizer": _state_dict(run.d_optimizer),
        "scaler": _state_dict(run.scaler),
        "log": run.log,
        "interval": run.interval,
        "rng": _rng_state(),
    }


def resume(run: Run, path: Path, settings: str) -> None:
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
        run.ema.module.load_state_dict(state["ema"] or state["model"])
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
