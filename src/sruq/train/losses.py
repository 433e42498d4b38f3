"""Training losses, built from the config by name (``{"l1": 1.0, "texture": 0.01}``).

Every loss term is an ``nn.Module`` called as ``term(pred, target, **extra)`` and returning
a scalar.  Most terms use only ``pred`` and ``target``; a term that needs more lists the
keyword names in its ``extra_inputs``: ``"gaussian_nll"`` needs ``logvar`` (the
heteroscedastic model's log-variance, ``pred`` being its mean) and ``"adversarial"`` needs
``fake_logits`` (the discriminator's logits on ``pred``), and for the relativistic GAN also
``real_logits`` (its logits on the target).  ``"tv"`` uses ``pred`` alone.
:func:`build_loss` combines terms into a :class:`CompositeLoss` returning
``(weighted sum, {name: unweighted value})``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sruq.core.errors import MissingExtraError

PERCEPTUAL_INSTALL_HINT = 'pip install "sruq[lpips]"'


class CharbonnierLoss(nn.Module):
    """``mean(sqrt((pred - target)**2 + eps**2))``: a differentiable L1 (Lai et al. 2017)."""

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f"charbonnier eps must be positive, got {eps!r}")
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((pred - target) ** 2 + self.eps**2).mean()


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` feature maps -> ``(B, C, C)`` Gram matrices divided by ``C * H * W``."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


Features = Callable[[torch.Tensor], torch.Tensor | Sequence[torch.Tensor]]


class TextureLoss(nn.Module):
    """Texture loss (Gatys et al.; EnhanceNet): MSE between Gram matrices of feature maps.

    ``features`` maps an image batch to one feature map or a list of them (e.g. VGG layers);
    without it the Gram matrices are taken on the raw pixels (colour correlations), which
    needs no pretrained network.  With several maps the MSEs are summed.
    """

    def __init__(self, features: Features | None = None) -> None:
        super().__init__()
        self.features = features

    def _maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.features is None:
            return [x]
        out = self.features(x)
        return [out] if isinstance(out, torch.Tensor) else list(out)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pairs = zip(self._maps(pred), self._maps(target), strict=True)
        return torch.stack([F.mse_loss(gram_matrix(p), gram_matrix(t)) for p, t in pairs]).sum()


class TotalVariationLoss(nn.Module):
    """Anisotropic L1 total variation of ``pred`` (a smoothness prior; SRGAN's TV term):
    ``(sum |pred[.., i+1, j] - pred[.., i, j]| + sum |pred[.., i, j+1] - pred[.., i, j]|)``
    divided by the number of entries of ``pred`` (``B * C * H * W``), i.e. the mean over
    pixels of the absolute differences to the pixel below and to the right (0 past the
    border).  The target is not used."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        down = (pred[..., 1:, :] - pred[..., :-1, :]).abs().sum()
        right = (pred[..., :, 1:] - pred[..., :, :-1]).abs().sum()
        return (down + right) / pred.numel()


GAN_TYPES = ("vanilla", "relativistic")
"""Adversarial objectives: SRGAN's standard GAN, ESRGAN's relativistic average GAN."""


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """BCE with logits against all-real (1) or all-fake (0) labels."""
    labels = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, labels)


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator side: BCE with logits pushing the discriminator to call the fakes real."""
    return _bce(fake_logits, True)


def discriminator_adversarial_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """Discriminator side: BCE with logits, real -> 1 plus fake -> 0 (sum of the two means).

    Pass ``fake_logits`` computed on detached generator output.
    """
    return _bce(real_logits, True) + _bce(fake_logits, False)


def relativistic_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """ESRGAN's RaGAN, discriminator side, on raw logits ``C(x)``: with
    ``D_Ra(a, b) = sigmoid(C(a) - mean C(b))`` it is
    ``-(mean log D_Ra(x_r, x_f) + mean log(1 - D_Ra(x_f, x_r))) / 2``, i.e. the mean of
    BCE(``real - mean(fake)``, 1) and BCE(``fake - mean(real)``, 0).  Halved as in ESRGAN's
    code (the paper writes the sum), for which its weight 5e-3 was tuned.  Gradients flow
    through both sets of logits; pass ``fake_logits`` of detached generator output.
    """
    return (_bce(real_logits - fake_logits.mean(), True)
            + _bce(fake_logits - real_logits.mean(), False)) / 2


def relativistic_generator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """ESRGAN's RaGAN, generator side: the discriminator loss with the labels swapped,
    ``-(mean log(1 - D_Ra(x_r, x_f)) + mean log D_Ra(x_f, x_r)) / 2``, so the generator
    gains from both the real and the fake logits.  Pass ``real_logits`` detached."""
    return (_bce(real_logits - fake_logits.mean(), False)
            + _bce(fake_logits - real_logits.mean(), True)) / 2


DISCRIMINATOR_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "vanilla": discriminator_adversarial_loss,
    "relativistic": relativistic_discriminator_loss,
}
"""The discriminator's loss ``(real_logits, fake_logits) -> scalar`` of each GAN type."""


class AdversarialLoss(nn.Module):
    """Generator-side adversarial term for a :class:`CompositeLoss`.

    ``gan_type`` ``"vanilla"`` (SRGAN, default) needs ``fake_logits``;
    ``"relativistic"`` (ESRGAN's RaGAN) needs ``fake_logits`` and ``real_logits``.  The
    discriminator is trained with the matching :data:`DISCRIMINATOR_LOSSES` entry.
    """

    extra_inputs: tuple[str, ...]

    def __init__(self, gan_type: str = "vanilla") -> None:
        super().__init__()
        if gan_type not in GAN_TYPES:
            raise ValueError(f"gan_type must be one of {', '.join(GAN_TYPES)}, got {gan_type!r}")
        self.gan_type = gan_type
        relativistic = gan_type == "relativistic"
        self.extra_inputs = ("fake_logits", "real_logits") if relativistic else ("fake_logits",)

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        fake_logits: torch.Tensor,
        real_logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.gan_type == "relativistic":
            assert real_logits is not None
            return relativistic_generator_loss(real_logits, fake_logits)
        return generator_adversarial_loss(fake_logits)


class GaussianNLLLoss(nn.Module):
    """Heteroscedastic regression loss of Kendall & Gal (2017) on a mean and log-variance.

    ``mean(0.5 * exp(-s) * (target - pred)**2 + 0.5 * s)`` with ``s = logvar``: the Gaussian
    negative log-likelihood without its constant ``0.5 * log(2 pi)`` (added when ``full``).
    Predicting ``s`` rather than the variance keeps it positive and the loss stable.
    """

    extra_inputs = ("logvar",)

    def __init__(self, full: bool = False) -> None:
        super().__init__()
        self.full = full

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, logvar: torch.Tensor
    ) -> torch.Tensor:
        nll = 0.5 * (torch.exp(-logvar) * (target - pred) ** 2 + logvar).mean()
        return nll + 0.5 * math.log(2 * math.pi) if self.full else nll


VGG19_LAYERS: tuple[str, ...] = tuple(
    name
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1)
    for name in (
        *(f"{kind}{block}_{i}" for i in range(1, convs + 1) for kind in ("conv", "relu")),
        f"pool{block}",
    )
)
"""Names of the layers of torchvision's ``vgg19().features``, in order."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_perceptual(layer: str, weights_path: str | Path | None, *,
                     imports: bool = True) -> None:
    """Check a perceptual-loss setting without loading VGG19: a known layer, an existing
    weights file, and (unless ``imports`` is false: planning a run needs no torchvision)
    an importable torchvision, else one-line :class:`MissingExtraError`."""
    if layer not in VGG19_LAYERS:
        raise ValueError(f"unknown VGG19 layer {layer!r} (known: {', '.join(VGG19_LAYERS)})")
    if weights_path is not None and not Path(weights_path).is_file():
        raise ValueError(f"weights_path {str(weights_path)!r} is not a file")
    if not imports:
        return
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError) as err:  # absent, or built for another torch
        raise MissingExtraError(
            f"perceptual loss needs torchvision, which is not importable ({err}); "
            f"install it with {PERCEPTUAL_INSTALL_HINT} (or pip install torchvision)"
        ) from None


def _vgg19_features(layer: str, weights_path: str | Path | None) -> nn.Sequential:
    """VGG19 ``features`` up to ``layer`` with ImageNet weights, or :class:`MissingExtraError`."""
    check_perceptual(layer, weights_path)
    from torchvision.models import VGG19_Weights, vgg19

    end = VGG19_LAYERS.index(layer) + 1
    if weights_path is None:
        try:
            return vgg19(weights=VGG19_Weights.IMAGENET1K_V1).features[:end]
        except OSError as err:
            raise MissingExtraError(
                f"perceptual loss needs the VGG19 ImageNet weights, which could not be "
                f"downloaded ({err}): give weights_path, a saved torchvision vgg19 state dict"
            ) from None
    features = vgg19(weights=None).features[:end]
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    wanted = {f"features.{key}": key for key in features.state_dict()}
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise ValueError(f"weights_path {str(weights_path)!r} lacks VGG19 weights {missing[0]!r}")
    features.load_state_dict({key: state[full] for full, key in wanted.items()})
    return features


class PerceptualLoss(nn.Module):
    """MSE between VGG19 feature maps of prediction and target (SRGAN's content loss).

    Inputs in [0, 1] are normalised with the ImageNet statistics; a one-channel (Y) input is
    repeated to three channels.  ``layer`` defaults to ``"relu5_4"`` (SRGAN's VGG54).  The
    weights are torchvision's ImageNet VGG19, downloaded on first use, or read from
    ``weights_path`` (a torchvision ``vgg19`` state dict, for machines without internet).
    Without torchvision, construction raises :class:`MissingExtraError`.
    """

    def __init__(self, layer: str = "relu5_4", weights_path: str | Path | None = None) -> None:
        super().__init__()
        self.features = _vgg19_features(layer, weights_path).eval()
        self.features.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Keep the frozen VGG in eval mode whatever the trainer asks."""
        super().train(mode)
        self.features.eval()
        return self

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.features((x - self.mean) / self.std)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self._embed(pred), self._embed(target))


LOSSES: dict[str, Callable[..., nn.Module]] = {
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "charbonnier": CharbonnierLoss,
    "texture": TextureLoss,
    "adversarial": AdversarialLoss,
    "perceptual": PerceptualLoss,
    "gaussian_nll": GaussianNLLLoss,
    "tv": TotalVariationLoss,
}
"""Config names of the loss terms and their constructors."""


class CompositeLoss(nn.Module):
    """Weighted sum of named loss terms: ``forward(pred, target, **extra) -> (total, parts)``.

    ``parts`` maps each name to its unweighted value.  ``extra_inputs`` is the set of keyword
    inputs the terms need (``logvar``, ``fake_logits``, ``real_logits``), so a trainer knows
    what to pass.
    """

    def __init__(self, terms: Mapping[str, nn.Module], weights: Mapping[str, float]) -> None:
        super().__init__()
        self.terms = nn.ModuleDict(terms)
        self.weights = dict(weights)

    @property
    def extra_inputs(self) -> frozenset[str]:
        return frozenset(
            k for term in self.terms.values() for k in getattr(term, "extra_inputs", ())
        )

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, **extra: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        for name, term in self.terms.items():
            needed = getattr(term, "extra_inputs", ())
            absent = [key for key in needed if key not in extra]
            if absent:
                raise ValueError(f"loss {name!r} needs the keyword input {absent[0]!r}")
            parts[name] = term(pred, target, **{key: extra[key] for key in needed})
        total = sum(
            (self.weights[name] * value for name, value in parts.items()), pred.new_zeros(())
        )
        return total, parts


def _term_options(name: str, value: Any) -> tuple[float, dict[str, Any]]:
    """Weight and constructor options of one spec entry: a number, or a mapping with
    ``weight`` and options (``{"weight": 0.006, "layer": "relu2_2"}``)."""
    options = dict(value) if isinstance(value, Mapping) else {"weight": value}
    weight = options.pop("weight", None)
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not (weight >= 0 and math.isfinite(weight))
    ):
        raise ValueError(f"loss {name!r} needs a finite non-negative weight, got {weight!r}")
    return float(weight), options


def build_loss(spec: Mapping[str, Any]) -> CompositeLoss:
    """Build the weighted loss of a config spec such as ``{"l1": 1.0, "texture": 0.01}``.

    Each value is a weight >= 0, or a mapping with ``weight`` and the term's options (e.g.
    ``{"charbonnier": {"weight": 1.0, "eps": 1e-6}}``).  Unknown names, bad weights and bad
    options raise ``ValueError`` naming the key; ``"perceptual"`` without torchvision raises
    :class:`MissingExtraError`.
    """
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(f"loss spec must be a non-empty mapping of names to weights, got {spec!r}")
    terms: dict[str, nn.Module] = {}
    weights: dict[str, float] = {}
    for name, value in spec.items():
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r} (known: {', '.join(sorted(LOSSES))})")
        weights[name], options = _term_options(name, value)
        try:
            terms[name] = LOSSES[name](**options)
        except TypeError as err:
            raise ValueError(f"bad options for loss {name!r}: {err}") from None
    return CompositeLoss(terms, weights)
