"""The training settings of one model (``train:``) and the checks of its loss.

The types and ranges of the keys are the ``#/$defs/train`` rules of the workflow's
config schema, checked with :func:`sruq.pipeline.config.validate_part`; what a schema cannot
say (a budget must be set, a loss spec must build, what a model's loss may hold) is
checked here.  The defaults are those of :class:`TrainConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sruq.core.schema import key_error, validate_part
from sruq.models import ADVERSARIAL_MODELS
from sruq.train.losses import build_loss, check_perceptual

_FLOAT_KEYS = ("minutes", "lr", "gamma", "ema", "grad_clip", "d_lr", "adversarial_weight")
"""Number keys stored as ``float`` (a config may write ``lr: 1`` or ``minutes: 30``)."""


@dataclass(frozen=True)
class TrainConfig:
    """Training settings of one model (the ``train:`` mapping of a model entry).

    The run stops after ``iterations`` steps or ``minutes`` of wall-clock time, whichever
    comes first (at least one must be set).  ``amp`` is mixed precision on CUDA (``bf16``
    or ``fp16`` with loss scaling); ``bf16`` also applies on the CPU (worth it where the
    CPU has native bf16, e.g. AVX512-BF16: about 2x faster there, slower elsewhere).
    ``channels_last`` applies on CUDA and CPU (not MPS).  ``loss`` is a
    :func:`sruq.train.losses.build_loss` spec (default ``{"l1": 1.0}``, and
    ``{"gaussian_nll": 1.0}`` for heteroscedastic models).  The ``d_lr``,
    ``adversarial_weight``, ``pretrain_iterations``, ``pretrain_loss``, ``discriminator``
    and ``gan_type`` keys are for adversarial models (``srgan``, ``esrgan``) only: the
    generator is first trained ``pretrain_iterations`` steps on ``pretrain_loss`` alone,
    then on ``loss`` plus ``adversarial_weight`` times the adversarial term against a
    :class:`sruq.models.Discriminator` built with the ``discriminator`` options; the
    term and the discriminator's loss are those of ``gan_type`` (``vanilla``: SRGAN's
    standard GAN; ``relativistic``: ESRGAN's relativistic average GAN, see
    :func:`sruq.train.losses.relativistic_generator_loss`).
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
    gan_type: str = "vanilla"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, model: str = "model") -> TrainConfig:
        """Check a config mapping; a bad key raises :class:`sruq.pipeline.config.ConfigError`
        (a ``ValueError``) naming ``models.<model>.train.<key>``."""
        prefix = f"models.{model}.train"
        values = {} if values is None else values
        validate_part(values, "train", prefix)
        d = {**cls().__dict__, **values}
        if d["iterations"] is None and d["minutes"] is None:
            raise key_error(f"{prefix}.iterations", "iterations or minutes must be set "
                            "(a budget): both are null")
        for key in _FLOAT_KEYS:
            d[key] = None if d[key] is None else float(d[key])
        d["betas"] = tuple(float(b) for b in d["betas"])
        for key in ("loss", "pretrain_loss"):
            if d[key] is not None:
                d[key] = dict(d[key])
                _check_loss(f"{prefix}.{key}", d[key])
        d["discriminator"] = dict(d["discriminator"])
        return cls(**d)


def _check_loss(key: str, spec: Mapping[str, Any]) -> None:
    """Check a loss spec like :func:`build_loss`, naming the config key in the message.

    A perceptual term is checked with :func:`check_requirements` (its layer and weights
    file, not the torchvision import: the workflow plans a run, dry or not, without it and
    checks the import before the first job) and not built (that would load VGG19): the
    caller builds the real loss when training starts.
    """
    try:
        check_requirements(spec, imports=False)
        cheap = {name: value for name, value in spec.items() if name != "perceptual"}
        if cheap:
            build_loss(cheap)
    except ValueError as err:
        raise key_error(key, str(err)) from None


def check_requirements(loss_spec: Mapping[str, Any] | None, *, imports: bool = True) -> None:
    """Raise :class:`MissingExtraError` (one line) if the loss needs what is not installed.

    Only the perceptual loss has requirements: torchvision (not checked when ``imports``
    is false), and its ``weights_path`` when given.  The workflow calls this before its
    first job (not in a dry run) and the trainer before any training.
    """
    if not loss_spec or "perceptual" not in loss_spec:
        return
    options = loss_spec["perceptual"]
    options = dict(options) if isinstance(options, Mapping) else {}
    check_perceptual(options.get("layer", "relu5_4"), options.get("weights_path"),
                     imports=imports)


def loss_spec(arch: str, heteroscedastic: bool, cfg: TrainConfig, prefix: str
              ) -> dict[str, float]:
    """The generator's loss terms for ``arch`` (without the adversarial term), checked
    without building anything, so the config check runs it at start-up: a
    heteroscedastic model trains with ``gaussian_nll`` and only it can; an adversarial
    model's ``adversarial`` weight is ``adversarial_weight``, not a loss term.  ``prefix``
    is the config key of the ``train:`` mapping the errors name."""
    spec = dict(cfg.loss or ({"gaussian_nll": 1.0} if heteroscedastic else {"l1": 1.0}))
    if arch in ADVERSARIAL_MODELS and "adversarial" in spec:
        raise key_error(f"{prefix}.loss", "leave 'adversarial' out, its weight is "
                        f"{prefix}.adversarial_weight")
    if heteroscedastic != ("gaussian_nll" in spec):
        raise key_error(f"{prefix}.loss", "heteroscedastic models train with gaussian_nll "
                        f"and only they can, got {spec}")
    return spec
