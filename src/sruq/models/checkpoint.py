"""The trained-weight file format: what ``weights.pt`` holds and how to load it back.

A weight file is a plain dict saved with :func:`torch.save` that loads with
``torch.load(..., weights_only=True)`` (no pickled code)::

    {"format": "sruq-weights-1", "arch": "espcn", "kwargs": model.init_kwargs,
     "scale": 3, "state_dict": {...}, "iteration": 5000, "valid_psnr": 31.2 or None}

``kwargs`` holds every constructor argument (the scale included), so
``build_model(arch, **kwargs)`` rebuilds the network before the state dict is loaded.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from sruq.core.io import atomic_path
from sruq.models import SRModel, build_model

WEIGHTS_FORMAT = "sruq-weights-1"
WEIGHTS_KEYS = ("arch", "kwargs", "scale", "state_dict")


def save_weights(
    path: str | Path,
    model: SRModel,
    arch: str,
    iteration: int,
    valid_psnr: float | None,
) -> None:
    """Write ``model``'s weights (on the CPU) as a sruq weight file, atomically."""
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    payload = {
        "format": WEIGHTS_FORMAT,
        "arch": arch,
        "kwargs": dict(model.init_kwargs),
        "scale": model.scale,
        "state_dict": state,
        "iteration": int(iteration),
        "valid_psnr": None if valid_psnr is None else float(valid_psnr),
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)  # a file object: the archive name does not vary with tmp


def read_weights(path: str | Path) -> dict[str, Any]:
    """The dict of a sruq weight file (on the CPU); ``ValueError`` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such weight file")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the line below says it
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unpickling failure means: not ours
        # torch's own message may advise weights_only=False, which would run code from an
        # untrusted file: say what the file is not instead
        raise ValueError(f"{path}: not a sruq weight file (not a torch checkpoint that loads "
                         "without running code)") from None
    if not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path}: not a sruq weight file (no 'format': {WEIGHTS_FORMAT!r})")
    missing = [key for key in WEIGHTS_KEYS if key not in payload]
    if missing:
        raise ValueError(f"{path}: sruq weight file lacks {missing[0]!r}")
    if not isinstance(payload["state_dict"], dict):
        raise ValueError(f"{path}: sruq weight file has no state dict")
    kwargs = payload["kwargs"]
    if not isinstance(kwargs, dict):
        raise ValueError(f"{path}: sruq weight file's 'kwargs' is not a mapping")
    if "scale" in kwargs and kwargs["scale"] != payload["scale"]:
        raise ValueError(f"{path}: the stored scale x{payload['scale']} disagrees with its "
                         f"kwargs' scale x{kwargs['scale']} (a damaged or hand-edited file)")
    for key, value in payload["state_dict"].items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() \
                and not bool(torch.isfinite(value).all()):
            raise ValueError(f"{path}: weight {key!r} holds NaN or infinite values")
    return payload


def load_trained(path: str | Path, device: str | torch.device = "cpu") -> SRModel:
    """Rebuild the network of a weight file and load its weights; eval mode, on ``device``."""
    payload = read_weights(path)
    kwargs = {"scale": payload["scale"], **payload["kwargs"]}
    try:
        model = build_model(payload["arch"], **kwargs)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: cannot build model {payload['arch']!r} ({err})") from None
    misfit = state_dict_misfit(model.state_dict(), payload["state_dict"])
    if misfit:
        raise ValueError(f"{path}: weights do not fit model {payload['arch']!r}: {misfit}")
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()


def state_dict_misfit(expected: dict[str, Any], given: dict[str, Any]) -> str | None:
    """The first way ``given`` does not fit a model whose state dict is ``expected``, in
    one phrase (a mismatching tensor and both shapes, a missing or unexpected tensor);
    ``None`` when it fits."""
    for key, value in expected.items():
        if key not in given:
            return f"tensor {key!r} is missing from the file"
        other = given[key]
        shape = tuple(getattr(other, "shape", ()))
        if not isinstance(other, torch.Tensor) or shape != tuple(value.shape):
            return (f"tensor {key!r} has shape {shape} in the file, the model's is "
                    f"{tuple(value.shape)}")
    extra = [key for key in given if key not in expected]
    if extra:
        return f"the file has tensor {extra[0]!r}, which the model does not"
    return None
