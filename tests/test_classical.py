"""Classical SR methods: sparse coding, FD Wiener, edge enhancement, x8 self-ensemble."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import convolve, laplace
from skimage import data

from sruq.core.filters import gaussian_kernel
from sruq.core.imresize import imresize
from sruq.core.tensors import rgb_to_ycbcr, to_tensor, to_uint8, ycbcr_to_rgb
from sruq.evaluation.metrics import psnr
from sruq.models import SRModel, build_model
from sruq.models.sparse_coding import DictionaryError, SparseCodingSR
from sruq.models.wiener import WienerSR, wiener_deconvolve
from sruq.wrappers.edge import EdgeEnhanced
from sruq.wrappers.self_ensemble import TRANSFORMS, SelfEnsemble, invert, transform

SCALE = 2


def _train_images() -> list[np.ndarray]:
    return [data.astronaut()[100:196, 160:256], data.chelsea()[60:156, 150:246]]


@pytest.fixture(scope="module")
def small_dictionary() -> SparseCodingSR:
    return SparseCodingSR.fit(
        _train_images(), SCALE, n_atoms=32, n_patches=3000, lam=0.1, seed=0, epochs=1
    )


def _low_res(hr: np.ndarray, scale: int = SCALE) -> torch.Tensor:
    """MATLAB bicubic downscale of an 8-bit image, quantised to 8 bits like a saved LR file."""
    lr = imresize(to_tensor(hr), scale=1 / scale).clamp(0, 1)
    return torch.floor(lr * 255 + 0.5) / 255


def _hf_energy(image: torch.Tensor) -> float:
    """Mean squared Laplacian over the whole batch (high-frequency energy)."""
    arr = image.double().numpy()
    return float(np.mean([laplace(plane) ** 2 for plane in arr.reshape(-1, *arr.shape[-2:])]))


class RolledBicubic(SRModel):
    """Bicubic followed by a one-pixel horizontal roll: deliberately not flip-equivariant."""

    trainable = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(imresize(x, scale=self.scale), shifts=1, dims=-1)


# --- sparse coding -------------------------------------------------------------------------


def test_dictionary_beats_bicubic_on_its_training_images(
    small_dictionary: SparseCodingSR,
) -> None:
    for hr in _train_images():
        lr = _low_res(hr)
        bicubic = psnr(to_uint8(imresize(lr, scale=SCALE).clamp(0, 1)), hr, crop=SCALE)
        sparse = psnr(to_uint8(small_dictionary(lr)), hr, crop=SCALE)
        assert sparse > bicubic + 0.3


def test_dictionary_shapes_and_fit_determinism(small_dictionary: SparseCodingSR) -> None:
    p = small_dictionary.patch_size
    assert p == 3 * SCALE
    assert small_dictionary.d_high.shape == (32, p * p)
    assert small_dictionary.d_low.shape == (32, 4 * p * p)
    again = SparseCodingSR.fit(
        _train_images(), SCALE, n_atoms=32, n_patches=3000, lam=0.1, seed=0, epochs=1
    )
    np.testing.assert_array_equal(again.d_high, small_dictionary.d_high)
    np.testing.assert_array_equal(again.d_low, small_dictionary.d_low)


def test_dictionary_save_load_round_trip(small_dictionary: SparseCodingSR, tmp_path) -> None:
    path = tmp_path / "dict.npz"
    small_dictionary.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["dict.npz"]  # no temp file left behind
    loaded = SparseCodingSR.load(path, SCALE)
    np.testing.assert_array_equal(loaded.d_low, small_dictionary.d_low)
    assert (loaded.patch_size, loaded.lam) == (small_dictionary.patch_size, small_dictionary.lam)
    built = build_model("sparse-coding", SCALE, dictionary=str(path))
    lr = _low_res(_train_images()[0])
    assert torch.equal(built(lr), small_dictionary(lr))
    with pytest.raises(DictionaryError, match="scale 2, not 3"):
        SparseCodingSR.load(path, 3)
    with pytest.raises(DictionaryError, match="no such dictionary"):
        SparseCodingSR.load(tmp_path / "missing.npz", SCALE)
    np.savez(tmp_path / "bad.npz", d_high=np.zeros((2, 2)))
    (tmp_path / "text.npz").write_text("not an archive")
    for bad in ("bad.npz", "text.npz"):
        with pytest.raises(DictionaryError, match="not a sparse-coding dictionary"):
            SparseCodingSR.load(tmp_path / bad, SCALE)


def test_sparse_coding_handles_grey_and_tiny_inputs(small_dictionary: SparseCodingSR) -> None:
    for shape in [(1, 1, 20, 17), (2, 3, 1, 1), (1, 3, 2, 5)]:
        x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
        out = small_dictionary(x)
        assert out.shape == (shape[0], shape[1], SCALE * shape[2], SCALE * shape[3])
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_sparse_coding_without_dictionary_or_bad_input_fails_clearly(
    small_dictionary: SparseCodingSR,
) -> None:
    with pytest.raises(ValueError, match="no dictionary"):
        SparseCodingSR(SCALE)(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 1\|3, h, w\)"):
        small_dictionary(torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match="uint8"):
        SparseCodingSR.fit([np.zeros((32, 32, 3))], SCALE, n_atoms=4, n_patches=100)


def test_ycbcr_matches_matlab_and_inverts() -> None:
    rgb = torch.tensor([1.0, 0.5, 0.0]).reshape(3, 1, 1)
    ycc = rgb_to_ycbcr(rgb) * 255
    expected = [16 + 65.481 + 64.2765, 128 - 37.797 - 37.1015, 128 + 112 - 46.893]
    np.testing.assert_allclose(ycc.flatten().numpy(), expected, rtol=1e-6)
    x = torch.rand(2, 3, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x)


# --- frequency-domain deconvolution --------------------------------------------------------


def test_wiener_recovers_a_known_gaussian_blur() -> None:
    image = data.camera()[::2, ::2].astype(np.float64) / 255
    kernel = gaussian_kernel(1.0)
    blurred = convolve(image, kernel, mode="reflect")
    restored = wiener_deconvolve(torch.from_numpy(blurred), kernel, balance=1e-5).numpy()

    def db(x: np.ndarray) -> float:
        return float(10 * np.log10(1 / np.mean((x - image) ** 2)))

    assert db(restored) > 35
    assert db(restored) > db(blurred) + 8


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 1, 2, 3), (2, 3, 48, 64)])
def test_fd_output_is_finite_and_in_range(shape: tuple[int, ...]) -> None:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    model = WienerSR(SCALE, sigma=1.2, balance=1e-3)
    out = model(x)
    assert out.shape == (shape[0], shape[1], SCALE * shape[2], SCALE * shape[3])
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_fd_on_a_real_image_and_without_kernel() -> None:
    lr = _low_res(data.astronaut()[:128, :128])
    sharp = build_model("fd", SCALE, kernel=gaussian_kernel(0.8).tolist(), balance=0.01)
    out = sharp(lr)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert _hf_energy(out) > _hf_energy(imresize(lr, scale=SCALE))
    assert torch.equal(WienerSR(SCALE)(lr), build_model("bicubic", SCALE)(lr))


def test_fd_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="not both"):
        WienerSR(SCALE, kernel=np.ones((3, 3)), sigma=1.0)
    with pytest.raises(ValueError, match="balance"):
        WienerSR(SCALE, sigma=1.0, balance=0)
    with pytest.raises(ValueError, match="blur kernel"):
        WienerSR(SCALE, kernel=np.ones(3))
    with pytest.raises(ValueError, match="sigma"):
        WienerSR(SCALE, sigma=-1.0)


# --- edge enhancement ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["pre", "post"])
@pytest.mark.parametrize("method", ["unsharp", "laplacian"])
def test_edge_enhancement(where: str, method: str) -> None:
    bicubic = build_model("bicubic", SCALE)
    lr = _low_res(data.chelsea()[:96, :128])
    plain = bicubic(lr)
    identity = EdgeEnhanced(bicubic, where=where, method=method, strength=0.0)
    assert torch.equal(identity(lr), plain)
    assert identity.name_suffix == f"+edge-{where}"
    sharp = EdgeEnhanced(bicubic, where=where, method=method, strength=0.8)
    out = sharp(lr)
    assert out.shape == plain.shape
    if where == "post":
        assert out.min() >= 0 and out.max() <= 1
    assert _hf_energy(out) > 1.2 * _hf_energy(plain)
    assert torch.equal(sharp.mc_suffix(sharp.mc_prefix(lr)), out)


def test_edge_enhancement_rejects_bad_options() -> None:
    bicubic = build_model("bicubic", SCALE)
    with pytest.raises(ValueError, match="where"):
        EdgeEnhanced(bicubic, where="middle")
    with pytest.raises(ValueError, match="method"):
        EdgeEnhanced(bicubic, method="sobel")
    with pytest.raises(ValueError, match="strength"):
        EdgeEnhanced(bicubic, strength=-1)


# --- geometric self-ensemble ---------------------------------------------------------------


def test_dihedral_transforms_are_distinct_and_invertible() -> None:
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    images = [transform(x, k, f) for k, f in TRANSFORMS]
    assert len({tuple(im.flatten().tolist()) + tuple(im.shape) for im in images}) == 8
    for (k, f), im in zip(TRANSFORMS, images):
        assert torch.equal(invert(im, k, f), x)


@pytest.mark.parametrize("shape", [(1, 3, 16, 16), (2, 3, 12, 20)])
def test_bicubic_is_dihedrally_equivariant(shape: tuple[int, ...]) -> None:
    bicubic = build_model("bicubic", SCALE)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(2))
    ref = bicubic(x)
    for k, f in TRANSFORMS:
        torch.testing.assert_close(invert(bicubic(transform(x, k, f)), k, f), ref,
                                   atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape", [(1, 3, 16, 16), (2, 1, 12, 20)])
def test_self_ensemble_of_equivariant_model_is_the_model(shape: tuple[int, ...]) -> None:
    bicubic = build_model("bicubic", SCALE)
    ensemble = SelfEnsemble(bicubic)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(3))
    mean, spread = ensemble.forward_with_spread(x)
    torch.testing.assert_close(mean, bicubic(x), atol=1e-5, rtol=0)
    assert spread.shape == mean.shape and float(spread.max()) < 1e-5
    torch.testing.assert_close(ensemble(x), mean)
    assert ensemble.name_suffix == "+x8" and ensemble.scale == SCALE


def test_self_ensemble_spread_of_non_equivariant_model() -> None:
    model = SelfEnsemble(RolledBicubic(SCALE))
    x = torch.rand(1, 3, 10, 14, generator=torch.Generator().manual_seed(4))
    mean, spread = model.forward_with_spread(x)
    assert float(spread.mean()) > 0.01
    torch.testing.assert_close(model.mc_suffix(model.mc_prefix(x)), mean)
