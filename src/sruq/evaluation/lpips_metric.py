"""LPIPS (Zhang et al. 2018) through the official ``lpips`` package, an optional extra.

LPIPS needs the ``lpips`` package, torchvision, and the ImageNet weights of its backbone
(AlexNet by default, VGG16 selectable), which torchvision downloads on first use into
the torch hub cache; the small LPIPS calibration weights ship inside ``lpips``.  Without
them :func:`check_lpips` and :class:`LPIPSMetric` raise :class:`MissingExtraError` saying
how to enable the extra; no LPIPS value is ever made up.

Inputs are 8-bit images scaled to [-1, 1] as LPIPS expects; greyscale is replicated to
three channels.  Lower is better (0 for identical images).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from sruq.core.errors import MissingExtraError

NETS = ("alex", "vgg")
INSTALL_HINT = (
    'enable it with pip install "sruq[lpips]" (lpips and torchvision); the ImageNet '
    "backbone weights must be downloadable or already in the torch hub cache "
    "(TORCH_HOME), and the LPIPS weights come with the lpips package"
)


def _check_net(net: str) -> str:
    if net not in NETS:
        raise ValueError(f"LPIPS net must be one of {NETS}, got {net!r}")
    return net


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


@functools.lru_cache(maxsize=4)
def _load(net: str, device: torch.device) -> torch.nn.Module:
    """The LPIPS network (frozen, eval mode) on ``device``, built once per process."""
    import lpips  # optional extra: imported here so the rest of sruq works without it

    model = lpips.LPIPS(net=net, verbose=False).eval()
    model.requires_grad_(False)
    return model.to(device)


def _try_load(net: str) -> tuple[torch.nn.Module | None, str]:
    """``(model, "")`` or ``(None, why not)``; the reason is one line."""
    try:
        import lpips  # noqa: F401
    except (ImportError, RuntimeError) as err:  # RuntimeError: a torchvision for another torch
        return None, f"the lpips package is not importable ({_one_line(err)})"
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError) as err:  # absent, or built for another torch
        return None, f"torchvision is not importable ({_one_line(err)})"
    try:
        return _load(net, torch.device("cpu")), ""
    except (OSError, RuntimeError) as err:  # OSError covers URLError: no network, no cache
        return None, f"the ImageNet {net} weights could not be loaded ({_one_line(err)})"


def lpips_available(net: str = "alex") -> tuple[bool, str]:
    """Whether LPIPS with backbone ``net`` can run here, and if not, why (one line).

    This builds the network (fetching the backbone weights if they are not cached).
    """
    model, reason = _try_load(_check_net(net))
    return model is not None, reason


def check_lpips(net: str = "alex") -> None:
    """Raise :class:`MissingExtraError` (one line: why, and how to enable it) if unavailable."""
    ok, reason = lpips_available(net)
    if not ok:
        raise MissingExtraError(f"LPIPS ({net}) is not available: {reason}; {INSTALL_HINT}")


def _to_input(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """``uint8`` ``(H, W, 1|3)`` -> float ``(1, 3, H, W)`` in [-1, 1]."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"LPIPS needs uint8 images, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(f"LPIPS needs (H, W), (H, W, 1) or (H, W, 3) images, got {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    chw = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    return (chw.float().div(127.5).sub(1.0)).unsqueeze(0).to(device)


class LPIPSMetric:
    """``LPIPSMetric(net)(sr, hr) -> float`` on 8-bit ``(H, W, C)`` images (lower is better)."""

    def __init__(self, net: str = "alex", device: str | torch.device = "cpu") -> None:
        check_lpips(net)
        self.net = net
        self.device = torch.device(device)
        self.model = _load(net, self.device)

    @torch.inference_mode()
    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        if np.shape(sr) != np.shape(hr):
            raise ValueError(f"SR image {np.shape(sr)} and HR image {np.shape(hr)} differ")
        distance = self.model(_to_input(sr, self.device), _to_input(hr, self.device))
        return float(distance.reshape(-1)[0])
