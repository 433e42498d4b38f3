"""Super-resolve one image with uncertainty: the per-image core of the workflow and the CLI.

:func:`mc_image` runs MC-dropout inference on an 8-bit image whatever channels the model
expects (a Y-channel model sees the luma of a colour image and its Cb/Cr are upscaled by
bicubic; an RGB model sees a greyscale image as three equal channels).
:func:`write_image_outputs` writes the ESRCNN seed's output set for one image.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sruq.color import rgb_to_ycbcr, ycbcr_to_rgb
from sruq.imresize import imresize
from sruq.io import to_tensor, write_image
from sruq.metrics import metric_plane
from sruq.models.base import SRModel
from sruq.uncertainty import (
    HeatmapScale,
    MCResult,
    Tiling,
    heatmaps,
    predict_image,
    save_colorbar,
    save_details,
    save_heatmap,
    save_outputs,
)
from sruq.uncertainty.mc import DEFAULT_SAMPLES, eval_mode

MODES = ("tiled", "patch", "whole")


@dataclass(frozen=True)
class MCSettings:
    """The ``mc:`` section of the config (documented in the config schema); the
    constructor checks every field, so a bad option fails before any inference."""

    samples: int = DEFAULT_SAMPLES
    mode: str = "tiled"
    tile: int = 256
    overlap: int = 32
    max_batch: int | None = None
    vmin: float = heatmaps.VMIN
    vmax: float = heatmaps.VMAX
    cmap: str = heatmaps.CMAP
    style: str = "cmap"
    norm: str = heatmaps.NORM
    details: int = 5
    detail_patch: int = 64
    sigma_scaled: bool = True

    def __post_init__(self) -> None:
        for name in ("samples", "tile", "detail_patch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("overlap", "details"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.max_batch is not None and (not isinstance(self.max_batch, int)
                                           or self.max_batch < 1):
            raise ValueError(f"max_batch must be a positive integer, got {self.max_batch!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        self.heatmap  # noqa: B018 - checks vmin, vmax, cmap, style and norm

    @classmethod
    def from_config(cls, values: Mapping[str, Any] | None) -> MCSettings:
        values = dict(values or {})
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"mc.{unknown[0]} is not a known setting")
        return cls(**values)

    @property
    def tiling(self) -> Tiling:
        return Tiling(tile=self.tile, overlap=self.overlap)

    @property
    def heatmap(self) -> HeatmapScale:
        """The one colour scale of every heatmap of a run."""
        return HeatmapScale(self.vmin, self.vmax, self.cmap, self.style, self.norm)


Predictor = Callable[[torch.Tensor], tuple[MCResult, tuple[int, int, int, int]]]


def on_channels(predict: Predictor, expected: int, scale: int, lr: np.ndarray,
                device: torch.device) -> tuple[MCResult, tuple[int, int, int, int]]:
    """Run ``predict`` (``(C, h, w)`` -> result, LR box) on a uint8 image's channels.

    The result has the image's channels: a Y-channel model's luma prediction is combined
    with bicubic Cb/Cr (its std stays one channel); an RGB model's output for a greyscale
    image is averaged back to one channel.
    """
    x = to_tensor(lr)[0].to(device)
    channels = x.shape[0]
    if channels == expected:
        return predict(x)
    if channels == 1 and expected == 3:
        result, box = predict(x.repeat(3, 1, 1))
        return result.map(lambda t: t.mean(dim=0, keepdim=True)), box
    if channels == 3 and expected == 1:
        ycc = rgb_to_ycbcr(x)
        result, box = predict(ycc[:1])
        top, left, h, w = box
        cbcr = imresize(ycc[1:, top:top + h, left:left + w], scale=scale).cpu()

        def colour(y: torch.Tensor) -> torch.Tensor:
            return ycbcr_to_rgb(torch.cat([y, cbcr], dim=0))

        return MCResult(mean=colour(result.mean), std=result.std,
                        one_pass=colour(result.one_pass), samples=result.samples,
                        aleatoric_std=result.aleatoric_std), box
    raise ValueError(f"model expects {expected} channels, image has {channels}")


def mc_image(model: SRModel, lr: np.ndarray, settings: MCSettings, seed: int = 0,
             device: torch.device | None = None) -> tuple[MCResult, tuple[int, int, int, int]]:
    """MC-dropout outputs for a uint8 ``(h, w, C)`` image (CPU tensors ``(C, H, W)``).

    Models without dropout run once (std 0).  Returns the result and the LR box covered
    (the whole image unless ``settings.mode`` is ``patch``).
    """
    device = device or torch.device("cpu")
    model = model.to(device)
    samples = settings.samples if model.has_dropout else 1

    def predict(x: torch.Tensor) -> tuple[MCResult, tuple[int, int, int, int]]:
        return predict_image(model, x, samples, mode=settings.mode, tiling=settings.tiling,
                             seed=seed, max_batch=settings.max_batch)

    return on_channels(predict, model.in_channels, model.scale, lr, device)


def self_ensemble_image(model: SRModel, lr: np.ndarray, device: torch.device | None = None,
                        ) -> tuple[MCResult, tuple[int, int, int, int]]:
    """x8 geometric self-ensemble of a uint8 image: mean and spread of the 8 outputs."""
    from sruq.classical import SelfEnsemble

    device = device or torch.device("cpu")
    ensemble = SelfEnsemble(model.to(device).eval())

    @torch.inference_mode()
    def predict(x: torch.Tensor) -> tuple[MCResult, tuple[int, int, int, int]]:
        batch = x.unsqueeze(0)
        mean, std = ensemble.forward_with_spread(batch)
        result = MCResult(mean=mean[0].cpu(), std=std[0].cpu(), one_pass=model(batch)[0].cpu(),
                          samples=8)
        return result, (0, 0, x.shape[-2], x.shape[-1])

    return on_channels(predict, model.in_channels, model.scale, lr, device)


def ensemble_image(models: Sequence[SRModel], lr: np.ndarray,
                   device: torch.device | None = None,
                   ) -> tuple[MCResult, tuple[int, int, int, int]]:
    """Deep ensemble of a uint8 image: mean and spread of the members' deterministic outputs
    (dropout off); ``one_pass`` is the first member's output."""
    from sruq.uncertainty import DeepEnsembleSource

    device = device or torch.device("cpu")
    members = [model.to(device) for model in models]
    ensemble = DeepEnsembleSource(members)  # checks one scale and one input channel count

    @torch.inference_mode()
    def predict(x: torch.Tensor) -> tuple[MCResult, tuple[int, int, int, int]]:
        batch = x.unsqueeze(0)
        mean, std = ensemble.forward_with_spread(batch)
        with eval_mode(members[0]):
            one_pass = members[0](batch)[0].cpu()
        result = MCResult(mean=mean[0].cpu(), std=std[0].cpu(), one_pass=one_pass,
                          samples=len(members))
        return result, (0, 0, x.shape[-2], x.shape[-1])

    return on_channels(predict, members[0].in_channels, members[0].scale, lr, device)


def prediction(result: MCResult) -> torch.Tensor:
    """The SR image a method reports: the MC mean with dropout, else the one pass."""
    return result.mean if result.samples > 1 else result.one_pass


OUTPUT_NAMES = ("lr_input.png", "one_pass.png", "mc_mean.png", "std.npy", "error.npy",
                "aleatoric_std.npy", "heatmap.png", "colorbar.png", "details")
"""Everything :func:`write_image_outputs` may write into an output folder."""


@contextmanager
def output_folder(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out`` for one output set; on success its files replace
    the earlier sruq outputs in ``out`` (every name of :data:`OUTPUT_NAMES`: a stale
    ``details/`` goes too) and other files in ``out`` stay.  On any failure, an interrupt
    included, the temporary folder is removed and ``out`` is left as it was."""
    out = Path(out)
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".sruq-tmp", dir=out.parent))
    try:
        yield tmp
        if not out.exists():
            os.replace(tmp, out)
            return
        for name in OUTPUT_NAMES:
            old, new = out / name, tmp / name
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            elif old.exists() or old.is_symlink():
                old.unlink()
            if new.exists():
                os.replace(new, old)
        tmp.rmdir()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:  # parents made for this call, innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def check_finite(result: MCResult, what: str) -> None:
    """``ValueError`` naming ``what`` when the mean, one pass or std holds NaN or inf."""
    for name in ("mean", "one_pass", "std"):
        if not bool(torch.isfinite(getattr(result, name)).all()):
            raise ValueError(f"{what}: the {name.replace('_', ' ')} holds NaN or infinite "
                             "values (are the weights trained?)")


def write_image_outputs(
    out_dir: Path, lr: np.ndarray, result: MCResult, box: tuple[int, int, int, int],
    scale: int, settings: MCSettings, hr: np.ndarray | None = None,
    sigma_scale: float = 1.0,
) -> None:
    """Write the ESRCNN seed's output set for one image into ``out_dir``.

    Files: ``lr_input.png`` (the LR region used), ``one_pass.png``, ``mc_mean.png``,
    ``std.npy`` (float32 ``(H, W, C)``, as sampled), ``error.npy`` (``mc_mean - hr``, float,
    signed, with HR), ``heatmap.png`` of ``sigma_scale * std`` on the run's fixed scale,
    ``colorbar.png`` and ``details/{most,least}_certain/`` (patches ranked by mean std).
    """
    out_dir = Path(out_dir)
    top, left, h, w = box
    lr_crop = lr[top:top + h, left:left + w]
    write_image(out_dir / "lr_input.png", lr_crop)
    hr_t = None
    if hr is not None:
        hr_crop = hr[top * scale:(top + h) * scale, left * scale:(left + w) * scale]
        hr_t = to_tensor(hr_crop)[0]
        if hr_t.shape[0] != result.mean.shape[0]:
            raise ValueError(f"HR has {hr_t.shape[0]} channels, the prediction "
                             f"{result.mean.shape[0]}")
    save_outputs(out_dir, result, hr_t)
    shown = result.std * sigma_scale
    label = "per-pixel std" if sigma_scale == 1.0 else f"per-pixel std x {sigma_scale:.3g}"
    save_heatmap(out_dir / "heatmap.png", shown, settings.heatmap)
    save_colorbar(out_dir / "colorbar.png", settings.heatmap, label)
    patch = max(scale, settings.detail_patch - settings.detail_patch % scale)
    if settings.details and min(result.std.shape[-2:]) >= patch:
        save_details(out_dir / "details", to_tensor(lr_crop)[0], result.mean, shown, scale,
                     patch=patch, count=settings.details, heatmap=settings.heatmap)


def uncertainty_planes(error_npy: Path, std_npy: Path, crop: int, channel: str = "y",
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``(error, std)`` of one image's written outputs on the metric channel, border
    cropped, same shape (a one-channel std is compared with the luma of an RGB error)."""
    error = metric_plane(np.load(error_npy, allow_pickle=False), crop, channel)
    std = metric_plane(np.load(std_npy, allow_pickle=False), crop, channel)
    if std.shape != error.shape:
        std = np.broadcast_to(std[..., None] if std.ndim < error.ndim else std, error.shape)
    return error, std


def read_uncertainty_folder(unc_dir: Path, crop: int, channel: str = "y",
                            ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(image name, error, std)`` for every image of an uncertainty folder that has an
    ``error.npy`` (the reader of the MC outputs for metrics, calibration and figures)."""
    folders = sorted(p for p in Path(unc_dir).iterdir() if (p / "error.npy").is_file())
    return [(f.name, *uncertainty_planes(f / "error.npy", f / "std.npy", crop, channel))
            for f in folders]
