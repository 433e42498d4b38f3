"""One optimisation step: :class:`SupervisedStep` trains the generator on a loss,
:class:`AdversarialStep` (SRGAN, ESRGAN) also trains a discriminator and adds its term.

The split follows BasicSR's ``SRModel`` / ``SRGANModel``: the adversarial step overrides
only what differs (the learning rates it sets, the discriminator update before the
generator's, the loss of the pretraining phase).  :func:`make_step` picks the class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from sruq.models import ADVERSARIAL_MODELS, SRModel
from sruq.train.config import TrainConfig, loss_spec
from sruq.train.losses import DISCRIMINATOR_LOSSES, build_loss
from sruq.train.state import Run, lr_factor, set_lr


class TrainingDiverged(RuntimeError):
    """The loss (or a weight) became NaN or infinite; the files on disk are the last good ones."""


def diverged(what: str, value: float, iteration: int) -> TrainingDiverged:
    """The error for ``what`` (a loss, a weight) being ``value`` at ``iteration``."""
    return TrainingDiverged(
        f"{what} is {value} at iteration {iteration}: training stopped; weights.pt and "
        "last.pt are those of the last good checkpoint (lower lr or set grad_clip)"
    )


def _finite(value: torch.Tensor, what: str, iteration: int) -> float:
    """``value`` as a float; :class:`TrainingDiverged` naming the iteration if not finite."""
    number = float(value.detach())
    if not math.isfinite(number):
        raise diverged(what, number, iteration)
    return number


def _autocast(device: torch.device, amp: str) -> AbstractContextManager[Any]:
    """Mixed precision: bf16/fp16 on CUDA, bf16 on the CPU, nothing elsewhere."""
    if device.type == "cuda" and amp != "none":
        return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)
    if device.type == "cpu" and amp == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


class SupervisedStep:
    """One optimisation step of the generator on its loss (``cfg.loss``)."""

    def __init__(self, arch: str, model: SRModel, cfg: TrainConfig, device: torch.device,
                 prefix: str) -> None:
        self.cfg, self.device = cfg, device
        self._build_losses(loss_spec(arch, model.heteroscedastic, cfg, prefix))

    def _build_losses(self, spec: dict[str, Any]) -> None:
        """Build the generator's loss from the checked :func:`loss_spec` terms."""
        self.loss = build_loss(spec).to(self.device)

    def _autocast(self) -> AbstractContextManager[Any]:
        return _autocast(self.device, self.cfg.amp)

    def _set_lrs(self, run: Run, factor: float) -> None:
        set_lr(run.optimizer, self.cfg.lr * factor)

    def _predict(self, model: SRModel, lr: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        if model.heteroscedastic:
            mean, logvar = model.predict_mean_logvar(lr)  # type: ignore[attr-defined]
            return mean, {"logvar": logvar}
        return model(lr), {}

    def _before_generator(self, run: Run, iteration: int, pred: torch.Tensor,
                          hr: torch.Tensor, extra: dict[str, Any]) -> dict[str, float]:
        """What runs between the prediction and the generator's loss; adds to ``extra``
        (the loss's keyword inputs) and returns values to log."""
        return {}

    def _generator_loss(self, iteration: int) -> nn.Module:
        return self.loss

    def _backward(self, run: Run, loss: torch.Tensor) -> None:
        if run.scaler is not None:
            run.scaler.scale(loss).backward()
        else:
            loss.backward()

    def _update(self, run: Run, optimizer: torch.optim.Optimizer,
                params: Iterable[nn.Parameter]) -> None:
        if self.cfg.grad_clip > 0:
            if run.scaler is not None:
                run.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        if run.scaler is not None:
            run.scaler.step(optimizer)
        else:
            optimizer.step()

    def __call__(self, run: Run, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        """Train on one batch; returns the total loss and its parts (unweighted)."""
        iteration = run.iteration + 1
        self._set_lrs(run, lr_factor(self.cfg, run.iteration, run.elapsed))
        with self._autocast():
            pred, extra = self._predict(run.model, lr)
        logged = self._before_generator(run, iteration, pred, hr, extra)
        loss_fn = self._generator_loss(iteration)
        with self._autocast():
            total, parts = loss_fn(pred.float(), hr, **{k: v.float() for k, v in extra.items()})
        values = {"loss": _finite(total, "loss", iteration), **logged}
        values.update({name: float(value.detach()) for name, value in parts.items()})
        run.optimizer.zero_grad(set_to_none=True)
        self._backward(run, total)
        self._update(run, run.optimizer, run.model.parameters())
        if run.scaler is not None:
            run.scaler.update()
        if run.ema is not None:
            run.ema.update_parameters(run.model)
        run.iteration = iteration
        return values


class AdversarialStep(SupervisedStep):
    """SRGAN's and ESRGAN's step: ``cfg.pretrain_iterations`` steps on ``cfg.pretrain_loss``
    alone, then a discriminator update followed by the generator's on ``cfg.loss`` plus
    ``cfg.adversarial_weight`` times the adversarial term, both of ``cfg.gan_type``."""

    def _build_losses(self, spec: dict[str, Any]) -> None:
        self.pretrain_loss = build_loss(self.cfg.pretrain_loss).to(self.device)
        adversarial = {"weight": self.cfg.adversarial_weight, "gan_type": self.cfg.gan_type}
        super()._build_losses({**spec, "adversarial": adversarial})

    def _set_lrs(self, run: Run, factor: float) -> None:
        super()._set_lrs(run, factor)
        assert run.d_optimizer is not None
        set_lr(run.d_optimizer, self.cfg.d_lr * factor)

    def _gan_phase(self, iteration: int) -> bool:
        return iteration > self.cfg.pretrain_iterations

    def _before_generator(self, run: Run, iteration: int, pred: torch.Tensor,
                          hr: torch.Tensor, extra: dict[str, Any]) -> dict[str, float]:
        """The discriminator's step on real ``hr`` and detached fake ``pred``, then its
        logits of ``pred`` (and for the relativistic GAN its detached logits of ``hr``) for
        the generator's adversarial term (none while pretraining)."""
        if not self._gan_phase(iteration):
            return {}
        assert run.disc is not None and run.d_optimizer is not None
        d_loss_fn = DISCRIMINATOR_LOSSES[self.cfg.gan_type]
        with self._autocast():
            d_loss = d_loss_fn(run.disc(hr), run.disc(pred.detach()))
        logged = {"d_loss": _finite(d_loss, "discriminator loss", iteration)}
        run.d_optimizer.zero_grad(set_to_none=True)
        self._backward(run, d_loss)
        self._update(run, run.d_optimizer, run.disc.parameters())
        with self._autocast():
            extra["fake_logits"] = run.disc(pred)
            if "real_logits" in self.loss.extra_inputs:  # the relativistic GAN
                with torch.no_grad():
                    extra["real_logits"] = run.disc(hr)
        return logged

    def _generator_loss(self, iteration: int) -> nn.Module:
        return self.loss if self._gan_phase(iteration) else self.pretrain_loss


def make_step(arch: str, model: SRModel, cfg: TrainConfig, device: torch.device,
              prefix: str) -> SupervisedStep:
    """The step class for ``arch``: adversarial for :data:`ADVERSARIAL_MODELS`.  ``prefix``
    is the config key of the ``train:`` mapping that loss errors name."""
    cls = AdversarialStep if arch in ADVERSARIAL_MODELS else SupervisedStep
    return cls(arch, model, cfg, device, prefix)
