"""Run any SR model on 8-bit images: the per-image core of the workflow and the CLI.

:func:`upscale_image` runs a model once; :func:`mc_image` runs MC-dropout inference,
:func:`self_ensemble_image` the x8 geometric self-ensemble and :func:`ensemble_image` a
deep ensemble, each whatever channels the model expects (:mod:`sruq.channels`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from sruq.channels import Box, ChannelAdapter
from sruq.io import atomic_dir, list_images, read_image, write_image
from sruq.models.base import SRModel
from sruq.progress import progress_bar
from sruq.tensors import to_tensor, to_uint8
from sruq.uncertainty.mc import MCResult, eval_mode
from sruq.uncertainty.settings import MCSettings
from sruq.uncertainty.tiling import predict_image

Predictor = Callable[[torch.Tensor], tuple[MCResult, Box]]


def available_devices() -> list[str]:
    """The device names this machine's torch can run on (``auto`` first)."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        names += ["cuda"] + [f"cuda:{i}" for i in range(count)]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        names.append("mps")
    return names


def check_device(requested: str) -> None:
    """``ValueError`` (one line, listing the devices there are) unless ``requested`` is a
    device this machine can run on: ``auto``, ``cpu``, ``cuda[:N]`` with CUDA and N GPUs,
    ``mps`` on Apple silicon."""
    if requested not in available_devices():
        raise ValueError(f"{requested!r} is not a device here (devices: "
                         f"{', '.join(available_devices())})")


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` -> CUDA, then Apple MPS, then CPU; otherwise the named device (checked by
    :func:`check_device`)."""
    if requested != "auto":
        check_device(requested)
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def run_on_channels(model: SRModel, x: torch.Tensor) -> torch.Tensor:
    """Apply ``model`` to ``x`` (``(B, C, h, w)``, C = 1 or 3) whatever channels it expects."""
    adapter = ChannelAdapter(x, model.in_channels)
    return adapter.output(model(adapter.input))


@torch.inference_mode()
def upscale_image(model: SRModel, lr: np.ndarray, device: torch.device | None = None) -> np.ndarray:
    """Super-resolve one ``uint8`` ``(h, w, C)`` image with ``model`` (eval mode)."""
    device = device or torch.device("cpu")
    x = to_tensor(lr).to(device)
    return to_uint8(run_on_channels(model.eval(), x))


def upscale_folder(
    model: SRModel, lr_dir: Path, out_dir: Path, device: torch.device | None = None,
    progress: bool = True,
) -> None:
    """Super-resolve every image of ``lr_dir`` into ``out_dir`` (PNG, written atomically)."""
    files = list_images(lr_dir)
    with atomic_dir(out_dir) as tmp:
        for path in progress_bar(files, desc=f"upscale {lr_dir}", disable=not progress, unit="img"):
            write_image(tmp / f"{path.stem}.png", upscale_image(model, read_image(path), device))


def on_channels(predict: Predictor, expected: int, lr: np.ndarray,
                device: torch.device) -> tuple[MCResult, Box]:
    """Run ``predict`` (``(C, h, w)`` -> result, LR box) on a uint8 image's channels; the
    result has the image's channels (:class:`sruq.channels.ChannelAdapter`)."""
    adapter = ChannelAdapter(to_tensor(lr)[0].to(device), expected)
    result, box = predict(adapter.input)
    aleatoric = result.aleatoric_std
    return MCResult(mean=adapter.output(result.mean, box), std=adapter.spread(result.std),
                    one_pass=adapter.output(result.one_pass, box), samples=result.samples,
                    aleatoric_std=None if aleatoric is None else adapter.spread(aleatoric)), box


def mc_image(model: SRModel, lr: np.ndarray, settings: MCSettings, seed: int = 0,
             device: torch.device | None = None) -> tuple[MCResult, Box]:
    """MC-dropout outputs for a uint8 ``(h, w, C)`` image (CPU tensors ``(C, H, W)``).

    Models without dropout run once (std 0).  Returns the result and the LR box covered
    (the whole image unless ``settings.mode`` is ``patch``).
    """
    device = device or torch.device("cpu")
    model = model.to(device)
    samples = settings.samples if model.has_dropout else 1

    def predict(x: torch.Tensor) -> tuple[MCResult, Box]:
        return predict_image(model, x, samples, mode=settings.mode, tiling=settings.tiling,
                             seed=seed, max_batch=settings.max_batch)

    return on_channels(predict, model.in_channels, lr, device)


def self_ensemble_image(model: SRModel, lr: np.ndarray, device: torch.device | None = None,
                        ) -> tuple[MCResult, Box]:
    """x8 geometric self-ensemble of a uint8 image: mean and spread of the 8 outputs."""
    from sruq.classical import SelfEnsemble

    device = device or torch.device("cpu")
    ensemble = SelfEnsemble(model.to(device).eval())

    @torch.inference_mode()
    def predict(x: torch.Tensor) -> tuple[MCResult, Box]:
        batch = x.unsqueeze(0)
        mean, std = ensemble.forward_with_spread(batch)
        result = MCResult(mean=mean[0].cpu(), std=std[0].cpu(), one_pass=model(batch)[0].cpu(),
                          samples=8)
        return result, (0, 0, x.shape[-2], x.shape[-1])

    return on_channels(predict, model.in_channels, lr, device)


def ensemble_image(models: Sequence[SRModel], lr: np.ndarray,
                   device: torch.device | None = None,
                   ) -> tuple[MCResult, Box]:
    """Deep ensemble of a uint8 image: mean and spread of the members' deterministic outputs
    (dropout off); ``one_pass`` is the first member's output."""
    from sruq.uncertainty.sources import DeepEnsembleSource

    device = device or torch.device("cpu")
    members = [model.to(device) for model in models]
    ensemble = DeepEnsembleSource(members)  # checks one scale and one input channel count

    @torch.inference_mode()
    def predict(x: torch.Tensor) -> tuple[MCResult, Box]:
        batch = x.unsqueeze(0)
        mean, std = ensemble.forward_with_spread(batch)
        with eval_mode(members[0]):
            one_pass = members[0](batch)[0].cpu()
        result = MCResult(mean=mean[0].cpu(), std=std[0].cpu(), one_pass=one_pass,
                          samples=len(members))
        return result, (0, 0, x.shape[-2], x.shape[-1])

    return on_channels(predict, members[0].in_channels, lr, device)


def _sampled_image(sample: Callable[[torch.Tensor], MCResult], expected: int, lr: np.ndarray,
                   device: torch.device) -> tuple[MCResult, Box]:
    """A whole-image source (``sample``: LR batch -> :class:`MCResult`) on a uint8 image."""

    def predict(x: torch.Tensor) -> tuple[MCResult, Box]:
        return sample(x.unsqueeze(0)).map(lambda t: t[0]), (0, 0, x.shape[-2], x.shape[-1])

    return on_channels(predict, expected, lr, device)


def tta_image(model: SRModel, lr: np.ndarray, settings: MCSettings, seed: int = 0,
              device: torch.device | None = None) -> tuple[MCResult, Box]:
    """Input-noise TTA of a uint8 image (:class:`~sruq.uncertainty.sources.InputNoiseSource`):
    ``settings.samples`` passes with Gaussian noise of std ``settings.tta_noise`` on the
    model's input, on the whole image."""
    from sruq.uncertainty.sources import InputNoiseSource

    device = device or torch.device("cpu")
    source = InputNoiseSource(model.to(device), settings.samples, settings.tta_noise, seed=seed)
    return _sampled_image(source.sample, model.in_channels, lr, device)


def mcbn_image(model: SRModel, patches: Sequence[tuple[torch.Tensor, torch.Tensor]],
               lr: np.ndarray, settings: MCSettings, batch: int, seed: int = 0,
               device: torch.device | None = None) -> tuple[MCResult, Box]:
    """MC-BatchNorm of a uint8 image (:class:`~sruq.uncertainty.sources.MCBatchNormSource`):
    ``settings.samples`` passes, each with the BatchNorm statistics of ``batch`` random
    training ``patches``, on the whole image."""
    from sruq.uncertainty.sources import MCBatchNormSource

    device = device or torch.device("cpu")
    source = MCBatchNormSource(model.to(device), patches, settings.samples, batch, seed=seed)
    return _sampled_image(source.sample, model.in_channels, lr, device)


def prediction(result: MCResult) -> torch.Tensor:
    """The SR image a method reports: the MC mean with dropout, else the one pass."""
    return result.mean if result.samples > 1 else result.one_pass


def check_finite(result: MCResult, what: str) -> None:
    """``ValueError`` naming ``what`` when the mean, one pass or std holds NaN or inf."""
    for name in ("mean", "one_pass", "std"):
        if not bool(torch.isfinite(getattr(result, name)).all()):
            raise ValueError(f"{what}: the {name.replace('_', ' ')} holds NaN or infinite "
                             "values (are the weights trained?)")
