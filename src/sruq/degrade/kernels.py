"""Blur kernels (Gaussian, generalised Gaussian, plateau, 2-D sinc) and ``blur``.

The kernel shapes follow Real-ESRGAN (Wang et al., 2021): for a covariance
``S = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T`` and ``q = p^T S^-1 p``
at each tap offset ``p = (x, y)``,

* ``gaussian``:             ``exp(-q / 2)``
* ``generalized_gaussian``: ``exp(-q^beta / 2)`` (``beta < 1`` heavy tails, ``> 1`` flat top)
* ``plateau``:              ``1 / (1 + q^beta)``

``x`` runs along columns (left to right) and ``y`` along rows (top to bottom),
so ``theta_deg`` is the angle of the ``sigma_x`` axis measured from the
column axis towards the row axis (clockwise on screen).  Every kernel is
float64 and sums to 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special
from torch.nn import functional as F

from sruq.degrade._common import (
    as_batch,
    check_choice,
    check_cutoff,
    check_kernel_size,
    check_number,
    check_positive,
    unbatch,
)

KERNEL_KINDS = ("gaussian", "generalized_gaussian", "plateau")
"""Kinds accepted by :func:`blur_kernel` (``sinc`` has its own :func:`sinc_kernel`)."""


def _offsets(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Column (x) and row (y) offsets from the kernel centre, each ``(size, size)``."""
    ax = np.arange(size, dtype=np.float64) - size // 2
    xx, yy = np.meshgrid(ax, ax)
    return xx, yy


def blur_kernel(
    kind: str,
    size: int,
    sigma_x: float,
    sigma_y: float | None = None,
    theta_deg: float = 0.0,
    beta: float = 1.0,
) -> np.ndarray:
    """A normalised ``(size, size)`` blur kernel; ``sigma_y=None`` means isotropic."""
    kind = check_choice("kernel", kind, KERNEL_KINDS)
    size = check_kernel_size("size", size)
    sx = check_positive("sigma_x", sigma_x)
    sy = sx if sigma_y is None else check_positive("sigma_y", sigma_y)
    theta = math.radians(check_number("theta_deg", theta_deg))
    beta = check_positive("beta", beta)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    inv_cov = np.linalg.inv(rot @ np.diag([sx * sx, sy * sy]) @ rot.T)
    xx, yy = _offsets(size)
    q = inv_cov[0, 0] * xx * xx + 2 * inv_cov[0, 1] * xx * yy + inv_cov[1, 1] * yy * yy
    if kind == "gaussian":
        kernel = np.exp(-0.5 * q)
    elif kind == "generalized_gaussian":
        kernel = np.exp(-0.5 * np.power(q, beta))
    else:
        kernel = 1.0 / (np.power(q, beta) + 1.0)
    return kernel / kernel.sum()


def sinc_kernel(size: int, omega_c: float) -> np.ndarray:
    """Circularly symmetric ideal low-pass (2-D sinc) kernel, cut-off ``omega_c`` rad/pixel.

    ``h(r) = omega_c J1(omega_c r) / (2 pi r)`` truncated to ``size x size`` and
    normalised; ``omega_c`` lies in ``(0, pi]``.  Used for ringing/overshoot.
    """
    size = check_kernel_size("size", size)
    omega = check_cutoff("omega_c", omega_c)
    xx, yy = _offsets(size)
    r = np.hypot(xx, yy)
    safe_r = np.where(r == 0, 1.0, r)
    ring = omega * special.j1(omega * safe_r) / (2 * math.pi * safe_r)
    kernel = np.where(r == 0, omega**2 / (4 * math.pi), ring)  # the limit at r = 0
    return kernel / kernel.sum()


def _reflect_index(n: int, pad: int) -> torch.Tensor:
    """Source indices of a length-``n`` axis reflect-padded by ``pad`` (edge not repeated).

    Works for any ``pad``, unlike ``F.pad(mode="reflect")`` which needs ``pad < n``.
    """
    idx = np.arange(-pad, n + pad)
    if n == 1:
        return torch.zeros(idx.size, dtype=torch.long)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return torch.from_numpy(np.where(idx >= n, period - idx, idx))


def blur(img: torch.Tensor, kernel: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Convolve every channel of ``(C, H, W)`` or ``(B, C, H, W)`` with one odd 2-D kernel.

    Borders are reflect-padded (as Real-ESRGAN's ``filter2D``); the output has
    the input's shape and dtype.  This is a true convolution (kernel flipped),
    which equals correlation for the symmetric kernels built here.
    """
    x, was_3d = as_batch(img)
    k = torch.as_tensor(kernel, dtype=x.dtype, device=x.device)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be a square 2-D array of odd size, got {tuple(k.shape)}")
    pad = k.shape[0] // 2
    b, c, h, w = x.shape
    rows = _reflect_index(h, pad).to(x.device)
    cols = _reflect_index(w, pad).to(x.device)
    padded = x.index_select(2, rows).index_select(3, cols).reshape(b * c, 1, h + 2 * pad, -1)
    out = F.conv2d(padded, k.flip(0, 1)[None, None])
    return unbatch(out.reshape(b, c, h, w), was_3d)
