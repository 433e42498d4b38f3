"""Sparse-coding super-resolution (Yang, Wright, Huang & Ma, CVPR 2008 / TIP 2010).

Coupled dictionaries ``D_l`` (low-resolution features) and ``D_h`` (high-resolution
patches) share one sparse code.  Everything happens on the luma channel Y
(BT.601, MATLAB ``rgb2ycbcr``); Cb and Cr are upscaled with bicubic.

Patch geometry (our choice: Yang 2008's "3x3 LR patch on a 9x9 upscaled grid" at
x3, generalised): patches are ``patch_size x patch_size`` pixels *on the
upscaled (HR) grid*, default ``3 * scale`` (3x3 LR pixels), taken every ``step``
HR pixels (default ``scale``, one LR pixel, so neighbours overlap by
``patch_size - scale``); the last row/column of patches sits flush with the border.

Training (:meth:`SparseCodingSR.fit`, as Yang's ``sample_patches`` /
``train_coupled_dict``): each HR image is cropped to a multiple of the scale,
downscaled with MATLAB bicubic (:mod:`sruq.core.imresize`) and upscaled back (the
"mid-resolution" image M).  LR features are the first and second derivatives of
M (MATLAB ``conv2`` with ``[-1,0,1]``, ``[1,0,-2,0,1]`` and their transposes;
borders replicated); HR targets are HR patches minus their mean.  Smooth patches
are dropped, each half is normalised to unit norm and weighted by ``1/sqrt(dim)``,
and one dictionary is learnt on the joint vectors with scikit-learn's
:class:`~sklearn.decomposition.MiniBatchDictionaryLearning`.

Inference (Yang's ``ScSR``): the unit-norm feature vector of each textured patch
of M is coded over ``D_l`` with the lasso (:func:`sklearn.decomposition.sparse_encode`),
``D_h @ alpha`` is rescaled to ``1.2 x`` the norm of the mean-removed M patch, the
mean of the M patch is added back, overlaps are averaged, and
``backprojection_iters`` rounds of back-projection with Yang's Gaussian kernel
(``fspecial('gaussian', 5, 1).^2``, normalised) enforce the LR observation.
Smooth patches keep the bicubic M patch.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from sruq.core.filters import filter2d, gaussian_kernel
from sruq.core.imresize import imresize
from sruq.core.io import atomic_path
from sruq.core.tensors import rgb_to_ycbcr, ycbcr_to_rgb
from sruq.models.base import SRModel

FEATURE_FILTERS = ((-1.0, 0.0, 1.0), (1.0, 0.0, -2.0, 0.0, 1.0))
"""1-D derivative filters, each applied along x and along y (4 feature maps)."""

CONTRAST = 1.2
"""Yang's ``lin_scale``: HR patch norm = CONTRAST x norm of the mean-removed M patch."""

SMOOTH_FEATURE_NORM = 0.1
"""Patches whose feature vector is not longer than this are smooth: they keep the bicubic
M patch and are not used for training (Yang prunes the flattest 10 % instead).  On held-out
photos this halves the coding time of images with flat areas at no loss in PSNR."""

CODING_SWEEPS = 20
"""Coordinate-descent sweeps per lasso code (learning and inference): 4x faster than
running to convergence and, on held-out images, as good (the early stop regularises)."""

BACKPROJECTION_KERNEL = gaussian_kernel(sigma=1 / np.sqrt(2), size=5)
"""``fspecial('gaussian', 5, 1).^2`` normalised: a Gaussian with sigma 1/sqrt(2)."""


class DictionaryError(ValueError):
    """A dictionary file is missing, malformed or made for another scale."""


def _luma(image: np.ndarray) -> np.ndarray:
    """``uint8`` ``(H, W, C)`` (C = 1 or 3) -> Y in [0, 1] as float64 ``(H, W)``."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(
            f"training images must be uint8 (H, W, 1|3) arrays, got {arr.dtype} {arr.shape}"
        )
    planes = torch.from_numpy(arr.transpose(2, 0, 1).astype(np.float64) / 255.0)
    return (planes if arr.shape[2] == 1 else rgb_to_ycbcr(planes))[0].numpy()


def _mid_resolution(lr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic upscaling of an LR plane to ``size`` (Yang's M image)."""
    return imresize(torch.from_numpy(lr), size=size).numpy()


def _features(mid: np.ndarray) -> np.ndarray:
    """``(H, W)`` -> ``(4, H, W)`` derivative maps (MATLAB ``conv2``; replicated borders)."""
    # scipy.ndimage where it is used, as scikit-learn below: every inference job imports
    # the model registry (a quarter of a second of start-up each otherwise)
    from scipy.ndimage import convolve1d

    maps = [
        convolve1d(mid, np.asarray(f), axis=axis, mode="nearest")
        for f in FEATURE_FILTERS
        for axis in (1, 0)
    ]
    return np.stack(maps)


def _grid(length: int, patch_size: int, step: int) -> np.ndarray:
    """Patch start positions covering ``[0, length)`` with the last patch flush."""
    starts = np.arange(0, length - patch_size + 1, step)
    if starts[-1] != length - patch_size:
        starts = np.append(starts, length - patch_size)
    return starts


def _windows(planes: np.ndarray, ys: np.ndarray, xs: np.ndarray, patch_size: int) -> np.ndarray:
    """Patches at ``(ys[i], xs[i])`` of ``(K, H, W)`` planes -> ``(N, K * patch_size**2)``."""
    win = sliding_window_view(planes, (patch_size, patch_size), axis=(1, 2))
    patches = win[:, ys, xs]  # (K, N, p, p)
    return patches.transpose(1, 0, 2, 3).reshape(len(ys), -1)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm (all-zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def training_pairs(
    hr_images: Sequence[np.ndarray],
    scale: int,
    patch_size: int,
    n_patches: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``n_patches`` (HR patch - mean, LR feature) pairs, spread over images by area.

    Smooth pairs (see :data:`SMOOTH_FEATURE_NORM`) are dropped from the sample.
    """
    planes = []
    for image in hr_images:
        y = _luma(image)
        h, w = (y.shape[0] // scale) * scale, (y.shape[1] // scale) * scale
        if min(h, w) < patch_size:
            continue
        lr = imresize(torch.from_numpy(y[:h, :w]), scale=1 / scale).numpy()
        planes.append((y[:h, :w], _features(_mid_resolution(lr, (h, w)))))
    if not planes:
        raise ValueError(f"no training image is at least {patch_size} pixels on each side")
    areas = np.array([(hr.shape[0] - patch_size + 1) * (hr.shape[1] - patch_size + 1)
                      for hr, _ in planes], dtype=np.float64)
    counts = rng.multinomial(n_patches, areas / areas.sum())
    highs, lows = [], []
    for (hr, feats), count in zip(planes, counts):
        ys = rng.integers(0, hr.shape[0] - patch_size + 1, size=count)
        xs = rng.integers(0, hr.shape[1] - patch_size + 1, size=count)
        high = _windows(hr[None], ys, xs, patch_size)
        highs.append(high - high.mean(axis=1, keepdims=True))
        lows.append(_windows(feats, ys, xs, patch_size))
    high, low = np.concatenate(highs), np.concatenate(lows)
    textured = np.linalg.norm(low, axis=1) > SMOOTH_FEATURE_NORM
    return high[textured], low[textured]


def learn_dictionaries(
    high: np.ndarray, low: np.ndarray, n_atoms: int, lam: float, seed: int, epochs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Joint dictionary learning (Yang's ``train_coupled_dict``) -> ``(D_h, D_l)``, rows = atoms."""
    if len(high) < n_atoms:
        raise ValueError(
            f"only {len(high)} textured training patches for n_atoms={n_atoms}: "
            "give more images or n_patches"
        )
    # scikit-learn is imported where it is used: every inference job imports the model
    # registry, which names this class, and would otherwise pay for it at start-up
    from sklearn.decomposition import MiniBatchDictionaryLearning
    from sklearn.exceptions import ConvergenceWarning

    joint = np.hstack(
        [_unit_rows(high) / np.sqrt(high.shape[1]), _unit_rows(low) / np.sqrt(low.shape[1])]
    )
    learner = MiniBatchDictionaryLearning(
        n_components=n_atoms,
        alpha=lam,
        max_iter=epochs,
        fit_algorithm="cd",
        transform_max_iter=CODING_SWEEPS,
        batch_size=256,
        tol=0.0,  # run all epochs: the early-stopping heuristics quit after a fraction of one
        max_no_improvement=None,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        atoms = learner.fit(_unit_rows(joint)).components_
    d_high, d_low = atoms[:, : high.shape[1]], atoms[:, high.shape[1] :]
    return _unit_rows(d_high), _unit_rows(d_low)


def backproject(hr: torch.Tensor, lr: torch.Tensor, iterations: int) -> torch.Tensor:
    """Yang's back-projection: push ``hr`` towards ``bicubic_down(hr) == lr``."""
    for _ in range(iterations):
        residual = lr - imresize(hr, size=tuple(lr.shape[-2:]))
        hr = hr + filter2d(imresize(residual, size=tuple(hr.shape[-2:])), BACKPROJECTION_KERNEL)
    return hr


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"sparse-coding {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class SparseCodingSR(SRModel):
    """Yang et al.'s sparse-coding SR on Y, bicubic on CbCr (see the module docstring).

    Build it from a dictionary file (``dictionary=path``, as written by :meth:`save`)
    or learn one with :meth:`fit`.  ``step`` is the patch stride on the HR grid
    (default ``scale``), ``backprojection_iters`` the number of back-projection
    rounds (Yang's demo uses 20).  Outputs are clipped to [0, 1].
    """

    trainable = False

    def __init__(
        self,
        scale: int,
        dictionary: str | Path | None = None,
        in_channels: int = 3,
        step: int | None = None,
        backprojection_iters: int = 20,
    ) -> None:
        super().__init__(scale, in_channels)
        if in_channels not in (1, 3):
            raise ValueError(f"sparse-coding in_channels must be 1 or 3, got {in_channels!r}")
        self.step = self.scale if step is None else _check_int("step", step, 1)
        self.backprojection_iters = _check_int("backprojection_iters", backprojection_iters, 0)
        self.d_high: np.ndarray | None = None
        self.d_low: np.ndarray | None = None
        self.patch_size = 0
        self.lam = 0.0
        if dictionary is not None:
            self._set_dictionary(*_read_dictionary(Path(dictionary), self.scale))

    def _set_dictionary(
        self, d_high: np.ndarray, d_low: np.ndarray, patch_size: int, lam: float
    ) -> None:
        self.d_high, self.d_low = d_high, d_low
        self.patch_size, self.lam = patch_size, lam
        self._gram = d_low @ d_low.T

    @classmethod
    def fit(
        cls,
        hr_images: Sequence[np.ndarray],
        scale: int,
        n_atoms: int = 512,
        patch_size: int | None = None,
        n_patches: int = 100_000,
        lam: float = 0.1,
        seed: int = 0,
        epochs: int = 1,
        **kwargs: int,
    ) -> SparseCodingSR:
        """Learn coupled dictionaries from ``uint8`` ``(H, W, C)`` HR images (C = 1 or 3).

        ``patch_size`` is in HR-grid pixels (default ``3 * scale``); ``n_patches``
        pairs are sampled with ``numpy.random.default_rng(seed)`` (smooth ones then
        dropped); ``lam`` is the lasso weight for learning and coding; ``epochs`` is
        the number of passes of the mini-batch learner over the patches.  ``kwargs``
        go to the constructor (``step``, ``backprojection_iters``, ``in_channels``).
        """
        model = cls(scale, **kwargs)
        patch_size = _check_int("patch_size", 3 * model.scale if patch_size is None
                                else patch_size, 2)
        n_atoms = _check_int("n_atoms", n_atoms, 1)
        n_patches = _check_int("n_patches", n_patches, 1)
        epochs = _check_int("epochs", epochs, 1)
        if not lam > 0:
            raise ValueError(f"sparse-coding lam must be positive, got {lam!r}")
        if len(hr_images) == 0:
            raise ValueError("sparse-coding fit needs at least one training image")
        rng = np.random.default_rng(seed)
        high, low = training_pairs(hr_images, model.scale, patch_size, n_patches, rng)
        d_high, d_low = learn_dictionaries(high, low, n_atoms, lam, seed, epochs)
        model._set_dictionary(d_high, d_low, patch_size, float(lam))
        return model

    def save(self, path: str | Path) -> None:
        """Write the dictionaries and their settings to an ``.npz`` file (atomically)."""
        if self.d_high is None or self.d_low is None:
            raise ValueError("sparse-coding model has no dictionary to save")
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                d_high=self.d_high,
                d_low=self.d_low,
                scale=np.int64(self.scale),
                patch_size=np.int64(self.patch_size),
                lam=np.float64(self.lam),
            )

    @classmethod
    def load(cls, path: str | Path, scale: int, **kwargs: int) -> SparseCodingSR:
        """Model for ``scale`` with the dictionary in ``path`` (see :meth:`save`)."""
        return cls(scale, dictionary=path, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"sparse-coding needs (B, 1|3, h, w) input, got {tuple(x.shape)}")
        planes = x.detach().to("cpu", torch.float64)
        if x.shape[1] == 3:
            planes = rgb_to_ycbcr(planes)
        up = imresize(planes, scale=self.scale)
        up[:, 0] = torch.stack([self.upscale_luma(plane) for plane in planes[:, 0]])
        if x.shape[1] == 3:
            up = ycbcr_to_rgb(up)
        return up.clamp(0, 1).to(device=x.device, dtype=x.dtype)

    def upscale_luma(self, lr: torch.Tensor) -> torch.Tensor:
        """Super-resolve one float64 ``(h, w)`` Y plane in [0, 1] (not clipped)."""
        if self.d_high is None or self.d_low is None:
            raise ValueError(
                "sparse-coding model has no dictionary: pass dictionary=<file.npz> or use fit()"
            )
        size = (lr.shape[0] * self.scale, lr.shape[1] * self.scale)
        hr = torch.from_numpy(self._reconstruct(_mid_resolution(lr.numpy(), size)))
        return backproject(hr, lr, self.backprojection_iters)

    def _code(self, feats: np.ndarray) -> np.ndarray:
        """Lasso codes of unit-norm feature rows over ``D_l``."""
        from sklearn.decomposition import sparse_encode  # see learn_dictionaries
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return sparse_encode(
                feats,
                self.d_low,
                gram=self._gram,
                algorithm="lasso_cd",
                alpha=self.lam,
                max_iter=CODING_SWEEPS,
            )

    def _reconstruct(self, mid: np.ndarray) -> np.ndarray:
        """Patch-wise sparse reconstruction of the HR plane from the M image."""
        p = self.patch_size
        h, w = mid.shape
        padded = np.pad(mid, ((0, max(p - h, 0)), (0, max(p - w, 0))), mode="edge")
        gy, gx = _grid(padded.shape[0], p, self.step), _grid(padded.shape[1], p, self.step)
        ys, xs = (g.ravel() for g in np.meshgrid(gy, gx, indexing="ij"))
        patches = _windows(padded[None], ys, xs, p)  # smooth patches keep these M patches
        feats = _windows(_features(padded), ys, xs, p)
        f_norm = np.linalg.norm(feats, axis=1, keepdims=True)
        textured = f_norm[:, 0] > SMOOTH_FEATURE_NORM
        if textured.any():
            mpatch = patches[textured]
            mean = mpatch.mean(axis=1, keepdims=True)
            m_norm = np.linalg.norm(mpatch - mean, axis=1, keepdims=True)
            high = self._code(feats[textured] / f_norm[textured]) @ self.d_high
            h_norm = np.linalg.norm(high, axis=1, keepdims=True)
            scale = CONTRAST * m_norm / np.where(h_norm > 0, h_norm, 1.0)
            patches[textured] = high * scale + mean
        image = _overlap_average(patches.reshape(len(gy), len(gx), p, p), gy, gx, padded.shape)
        return image[:h, :w]


def _overlap_average(
    patches: np.ndarray, gy: np.ndarray, gx: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Average ``(ny, nx, p, p)`` patches placed at grid ``gy x gx`` into an image."""
    p = patches.shape[-1]
    total = np.zeros(shape)
    count = np.zeros(shape)
    for dy in range(p):
        for dx in range(p):
            index = np.ix_(gy + dy, gx + dx)
            total[index] += patches[:, :, dy, dx]
            count[index] += 1
    return total / count


def _read_dictionary(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Load and validate a dictionary ``.npz`` written by :meth:`SparseCodingSR.save`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            d_high, d_low = data["d_high"], data["d_low"]
            file_scale, patch_size = int(data["scale"]), int(data["patch_size"])
            lam = float(data["lam"])
    except FileNotFoundError:
        raise DictionaryError(f"{path}: no such dictionary file") from None
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DictionaryError(f"{path}: not a sparse-coding dictionary ({err})") from None
    if file_scale != scale:
        raise DictionaryError(f"{path}: dictionary is for scale {file_scale}, not {scale}")
    if (
        d_high.ndim != 2
        or d_low.ndim != 2
        or d_high.shape != (d_low.shape[0], patch_size**2)
        or d_low.shape[1] != 4 * patch_size**2
    ):
        raise DictionaryError(
            f"{path}: dictionary shapes {d_high.shape}, {d_low.shape} do not fit "
            f"patch_size {patch_size}"
        )
    return d_high, d_low, patch_size, lam
