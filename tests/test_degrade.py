"""Tests of sruq.degrade: kernels, noise, JPEG, resizes, Real-ESRGAN pipeline, presets."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from sruq.core.schema import SCHEMA_PATH
from sruq.degrade import (
    KERNEL_KINDS,
    PRESETS,
    apply_preset,
    blur,
    blur_kernel,
    blur_kernel_of,
    degrade_uint8,
    gaussian_noise,
    jpeg,
    matlab_bicubic_resize,
    matlab_downscale_uint8,
    poisson_noise,
    realesrgan_degrade,
    resize,
    sinc_kernel,
    validate_preset,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = SCHEMA_PATH.parent / "degradation.schema.yaml"


def data_root() -> Path:
    """The shared reference data: $SRUQ_DATA_MIRROR, else ../shared/data next to the repo."""
    env = os.environ.get("SRUQ_DATA_MIRROR")
    for root in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if root.is_dir():
            return root
    pytest.skip("no reference data: set SRUQ_DATA_MIRROR or provide ../shared/data")


def textured_image(height: int = 64, width: int = 80, seed: int = 0) -> torch.Tensor:
    """A (3, H, W) float image in [0, 1] with smooth shading and fine texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / 16.0
    base = 0.5 + 0.25 * np.sin(xx + 0.5 * yy)[None] * np.array([1.0, 0.7, -0.5])[:, None, None]
    texture = 0.1 * rng.standard_normal((3, height, width))
    return torch.from_numpy(np.clip(base + texture, 0, 1).astype(np.float32))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / torch.mean((a - b) ** 2)))


# ---------------------------------------------------------------- kernels

@pytest.mark.parametrize("kind", KERNEL_KINDS)
@pytest.mark.parametrize("size", [7, 13, 21])
def test_kernels_normalised_centred_and_sized(kind: str, size: int) -> None:
    kernel = blur_kernel(kind, size, sigma_x=2.0, sigma_y=1.0, theta_deg=20.0, beta=1.5)
    assert kernel.shape == (size, size)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    assert kernel.min() >= 0
    assert np.unravel_index(kernel.argmax(), kernel.shape) == (size // 2, size // 2)
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-15)


@pytest.mark.parametrize("theta", [0.0, 30.0, 75.0, 120.0])
def test_anisotropic_kernel_long_axis_points_along_theta(theta: float) -> None:
    kernel = blur_kernel("gaussian", 21, sigma_x=4.0, sigma_y=1.0, theta_deg=theta)
    offsets = np.arange(21) - 10
    xx, yy = np.meshgrid(offsets, offsets)  # x: columns, y: rows
    cov = np.array([[np.sum(kernel * xx * xx), np.sum(kernel * xx * yy)],
                    [np.sum(kernel * xx * yy), np.sum(kernel * yy * yy)]])
    _, vectors = np.linalg.eigh(cov)
    long_axis = vectors[:, 1]
    angle = math.degrees(math.atan2(long_axis[1], long_axis[0])) % 180
    assert abs((angle - theta + 90) % 180 - 90) < 1.0


def test_isotropic_kernel_is_rotation_invariant() -> None:
    a = blur_kernel("gaussian", 13, sigma_x=1.6)
    b = blur_kernel("gaussian", 13, sigma_x=1.6, sigma_y=1.6, theta_deg=57.0)
    np.testing.assert_allclose(a, b, atol=1e-15)
    np.testing.assert_allclose(a, a.T, atol=1e-15)


def test_generalised_and_plateau_shapes_differ_from_gaussian() -> None:
    gauss = blur_kernel("gaussian", 21, 2.0)
    heavy = blur_kernel("generalized_gaussian", 21, 2.0, beta=0.5)
    plateau = blur_kernel("plateau", 21, 2.0, beta=1.0)
    assert heavy[10, 0] > gauss[10, 0] * 10  # beta < 1: heavier tails
    assert plateau[10, 0] > gauss[10, 0] * 10  # 1 / (1 + q): polynomial tails
    np.testing.assert_allclose(blur_kernel("generalized_gaussian", 21, 2.0, beta=1.0), gauss)


@pytest.mark.parametrize("omega_c", [math.pi / 3, math.pi / 2, 2 * math.pi / 3])
@pytest.mark.parametrize("size", [7, 21])
def test_sinc_kernel_cuts_off_above_omega_c(omega_c: float, size: int) -> None:
    kernel = sinc_kernel(size, omega_c)
    assert kernel.shape == (size, size)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    power = np.abs(np.fft.fft2(kernel, (128, 128))) ** 2
    freq = np.fft.fftfreq(128) * 2 * np.pi
    radius = np.hypot(*np.meshgrid(freq, freq))
    below = power[radius < 0.8 * omega_c].mean()
    above = power[radius > 1.2 * omega_c].mean()
    assert above < 0.01 * below


def test_blur_impulse_response_is_kernel_and_constant_stays_constant() -> None:
    kernel = blur_kernel("gaussian", 9, sigma_x=2.0, sigma_y=0.7, theta_deg=35.0)
    impulse = torch.zeros(1, 31, 31, dtype=torch.float64)
    impulse[0, 15, 15] = 1.0
    response = blur(impulse, kernel)[0, 11:20, 11:20].numpy()
    np.testing.assert_allclose(response, kernel, atol=1e-15)
    flat = torch.full((2, 3, 12, 10), 0.3)
    torch.testing.assert_close(blur(flat, sinc_kernel(21, 1.0)), flat)  # kernel > image


def test_blur_batch_equals_per_image() -> None:
    batch = torch.stack([textured_image(seed=1), textured_image(seed=2)])
    kernel = blur_kernel("plateau", 11, 1.5, 0.8, 10.0, beta=1.5)
    out = blur(batch, kernel)
    torch.testing.assert_close(out[1], blur(batch[1], kernel))


# ---------------------------------------------------------------- noise

@pytest.mark.parametrize("sigma", [5.0, 10.0, 25.0])
def test_gaussian_noise_std_matches_sigma(sigma: float) -> None:
    img = torch.full((3, 128, 128), 0.5)
    out = gaussian_noise(img, sigma, gray=False, rng=np.random.default_rng(0))
    measured = float((out - img).std() * 255)
    assert measured == pytest.approx(sigma, rel=0.1)
    assert not torch.equal(out[0], out[1])


def test_gray_gaussian_noise_is_identical_across_channels() -> None:
    img = torch.full((2, 3, 64, 64), 0.5)
    noise = gaussian_noise(img, 10.0, gray=True, rng=np.random.default_rng(1)) - img
    assert float(noise.abs().max()) > 0
    torch.testing.assert_close(noise[:, 0], noise[:, 1])
    torch.testing.assert_close(noise[:, 0], noise[:, 2])
    assert not torch.equal(noise[0], noise[1])  # but differs between images of a batch


def test_poisson_noise_grows_with_scale_and_brightness_and_gray_is_shared() -> None:
    img = textured_image()
    rng = np.random.default_rng(2)
    weak = poisson_noise(img, 0.5, gray=False, rng=rng) - img
    strong = poisson_noise(img, 2.0, gray=False, rng=rng) - img
    assert float(strong.std()) > 2 * float(weak.std()) > 0
    dark = torch.full((1, 64, 64), 0.05)
    dark[:, :, 32:] = 0.9
    shot = poisson_noise(dark, 1.0, gray=False, rng=rng) - dark
    assert float(shot[..., 32:].std()) > 2 * float(shot[..., :32].std())
    gray = poisson_noise(torch.full((3, 32, 32), 0.5), 1.0, gray=True, rng=rng) - 0.5
    torch.testing.assert_close(gray[0], gray[2])


# ---------------------------------------------------------------- JPEG

def test_jpeg_changes_image_and_psnr_drops_with_quality() -> None:
    img = textured_image()
    reference = torch.round(img * 255) / 255
    scores = [psnr(jpeg(img, q), reference) for q in (95, 70, 40, 10)]
    assert all(a > b for a, b in zip(scores, scores[1:]))
    assert scores[0] < 60  # even q=95 is lossy
    out = jpeg(img, 50)
    assert out.shape == img.shape and out.dtype == img.dtype
    assert torch.equal(torch.round(out * 255) / 255, out)  # 8-bit quantised
    grey = jpeg(img[:1], 30)
    assert grey.shape == (1, 64, 80) and not torch.equal(grey, img[:1])


# ---------------------------------------------------------------- resizes and MATLAB

def test_matlab_downscale_reproduces_golden_vectors() -> None:
    root = data_root() / "matlab_bicubic" / "Set5"
    checked = 0
    for scale in (2, 3, 4):
        for index in range(1, 6):
            stem = root / f"x{scale}" / f"img_{index:03d}_SRF_{scale}"
            hr = np.asarray(Image.open(f"{stem}_HR.png"))
            lr = np.asarray(Image.open(f"{stem}_LR.png"))
            np.testing.assert_array_equal(matlab_downscale_uint8(hr, scale), lr)
            preset_lr, _ = degrade_uint8(hr, PRESETS["bicubic"], scale, np.random.default_rng(0))
            np.testing.assert_array_equal(preset_lr, lr)
            checked += 1
    assert checked == 15


def test_matlab_float_resize_equals_uint8_path_and_keeps_layout() -> None:
    hr = (textured_image(48, 60).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    expected = matlab_downscale_uint8(hr, 3)
    chw = torch.from_numpy(hr.transpose(2, 0, 1).astype(np.float32) / 255)
    out = matlab_bicubic_resize(chw, (16, 20))
    np.testing.assert_array_equal((out * 255).round().byte().permute(1, 2, 0).numpy(), expected)
    assert matlab_downscale_uint8(hr[..., 0], 3).shape == (16, 20)


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic"])
def test_torch_resize_modes(mode: str) -> None:
    batch = torch.stack([textured_image(), textured_image(seed=3)])
    out = resize(batch, (21, 37), mode)
    assert out.shape == (2, 3, 21, 37)
    flat = resize(torch.full((3, 20, 20), 0.4), (7, 9), mode)
    torch.testing.assert_close(flat, torch.full((3, 7, 9), 0.4))


# ---------------------------------------------------------------- Real-ESRGAN pipeline

@pytest.mark.parametrize("scale", [2, 3, 4])
def test_realesrgan_output_size(scale: int) -> None:
    hr = textured_image(96, 120)
    for seed in range(3):
        lr, record = realesrgan_degrade(hr, scale, np.random.default_rng(seed))
        assert lr.shape == (3, 96 // scale, 120 // scale)
        assert float(lr.min()) >= 0 and float(lr.max()) <= 1
        assert torch.equal(torch.round(lr * 255) / 255, lr)
        json.dumps(record)


def test_realesrgan_same_seed_identical_different_seed_different() -> None:
    hr = (textured_image(64, 64).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    preset = PRESETS["realesrgan"]
    runs = [degrade_uint8(hr, preset, 4, np.random.default_rng(seed)) for seed in (7, 7, 8)]
    assert runs[0][0].tobytes() == runs[1][0].tobytes()
    assert runs[0][1] == runs[1][1]
    assert runs[0][0].tobytes() != runs[2][0].tobytes()
    assert runs[0][1] != runs[2][1]


def test_realesrgan_record_covers_every_random_choice() -> None:
    hr = textured_image(64, 64)
    orders, noises, blurs = set(), set(), set()
    for seed in range(30):
        _, record = apply_preset(hr, PRESETS["realesrgan"], 4, np.random.default_rng(seed))
        assert set(record["stage1"]) == {"blur", "resize", "noise", "jpeg"}
        assert 30 <= record["stage2"]["jpeg"]["quality"] <= 95
        assert 0.15 <= record["stage1"]["resize"]["factor"] <= 1.5
        orders.add(record["final"]["order"])
        noises.add(record["stage1"]["noise"]["kind"])
        blurs.add(record["stage2"]["blur"] is None)
    assert orders == {"resize_sinc_jpeg", "jpeg_resize_sinc"}
    assert noises == {"gaussian", "poisson"}
    assert blurs == {True, False}


def test_realesrgan_overrides_are_used_and_checked() -> None:
    preset = {"pipeline": "realesrgan",
              "options": {"jpeg_range": [90, 90], "jpeg_range2": [91, 91]}}
    _, record = apply_preset(textured_image(32, 32), preset, 2, np.random.default_rng(0))
    assert record["stage1"]["jpeg"]["quality"] == 90
    assert record["stage2"]["jpeg"]["quality"] == 91
    with pytest.raises(ValueError, match=r"degradations\.r\.options\.kernel_prob must sum to 1"):
        validate_preset("r", {"pipeline": "realesrgan", "options": {"kernel_prob": [1, 1, 0, 0,
                                                                                    0, 0]}})
    with pytest.raises(ValueError, match=r"degradations\.r\.options\.noise_levels: unknown"):
        validate_preset("r", {"pipeline": "realesrgan", "options": {"noise_levels": [1, 2]}})


# ---------------------------------------------------------------- presets

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_builtin_presets_validate_apply_and_record(name: str) -> None:
    validate_preset(name, PRESETS[name])
    hr = textured_image(48, 64)
    lr, record = apply_preset(hr, PRESETS[name], 4, np.random.default_rng(0))
    assert lr.shape == (3, 12, 16)
    assert json.loads(json.dumps(record)) == record
    assert record["lr_size"] == [12, 16]


def test_steps_preset_samples_ranges_and_records_them() -> None:
    preset = {"steps": [
        {"op": "blur", "kernel": "generalized_gaussian", "size": [7, 11], "sigma_x": [0.5, 2.0],
         "sigma_y": 1.0, "theta_deg": [-90, 90], "beta": 2.0},
        {"op": "resize", "factor": [0.6, 0.9], "mode": "random"},
        {"op": "downscale", "mode": "area"},
        {"op": "noise", "kind": "poisson", "scale": [0.5, 1.0], "gray_prob": 0.5, "prob": 0.5},
        {"op": "jpeg", "quality": [40, 60]},
    ]}
    validate_preset("custom", preset)
    for seed in range(5):
        lr, record = apply_preset(textured_image(48, 48), preset, 2, np.random.default_rng(seed))
        assert lr.shape == (3, 24, 24)
        blur_step, resize_step, _, noise_step, jpeg_step = record["steps"]
        assert blur_step["size"] in (7, 9, 11) and 0.5 <= blur_step["sigma_x"] <= 2.0
        assert 0.6 <= resize_step["factor"] <= 0.9 and resize_step["mode"] in (
            "area", "bilinear", "bicubic")
        assert isinstance(jpeg_step["quality"], int) and 40 <= jpeg_step["quality"] <= 60
        assert noise_step["applied"] in (True, False)


def test_greyscale_uint8_image_keeps_its_layout() -> None:
    hr = (np.random.default_rng(0).random((40, 36)) * 255).astype(np.uint8)
    for name in ("bicubic", "jpeg", "realesrgan"):
        lr, _ = degrade_uint8(hr, PRESETS[name], 4, np.random.default_rng(0))
        assert lr.shape == (10, 9) and lr.dtype == np.uint8


def test_blur_kernel_of() -> None:
    kernel = blur_kernel_of(PRESETS["gauss-blur-bicubic"])
    assert kernel is not None
    np.testing.assert_allclose(kernel, blur_kernel("gaussian", 13, 1.6))
    assert blur_kernel_of(PRESETS["bicubic"]) is None
    assert blur_kernel_of(PRESETS["realesrgan"]) is None
    random_sigma = {"steps": [{"op": "blur", "sigma": [1, 2], "size": 9}, {"op": "downscale"}]}
    assert blur_kernel_of(random_sigma) is None


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: blur_kernel("gaussian", 9, -1.0), r"sigma_x must be > 0, got -1\.0"),
        (lambda: blur_kernel("gaussian", 8, 1.0), r"size must be an odd integer in \[7, 21\]"),
        (lambda: blur_kernel("gaussian", 23, 1.0), r"size must be an odd integer"),
        (lambda: blur_kernel("box", 9, 1.0), r"kernel must be one of"),
        (lambda: sinc_kernel(9, 4.0), r"omega_c must be in \(0, pi\]"),
        (lambda: jpeg(torch.zeros(3, 8, 8), 0), r"quality must be an integer .* got 0"),
        (lambda: jpeg(torch.zeros(3, 8, 8), 101), r"quality .* got 101"),
        (lambda: jpeg(torch.zeros(3, 8, 8), 50.5), r"quality .* got 50\.5"),
        (lambda: gaussian_noise(torch.zeros(3, 8, 8), -2, False, np.random.default_rng()),
         r"sigma must be >= 0, got -2"),
        (lambda: resize(torch.zeros(3, 8, 8), (4, 4), "nearest"), r"mode must be one of"),
        (lambda: matlab_downscale_uint8(np.zeros((8, 8), np.uint8), 0), r"scale must be a pos"),
    ],
)
def test_invalid_parameters_raise_clear_errors(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    ("preset", "match"),
    [
        ({"steps": [{"op": "blur", "sigma": -1, "size": 9}, {"op": "downscale"}]},
         r"^degradations\.p\.steps\[0\]\.sigma must be > 0, got -1$"),
        ({"steps": [{"op": "blur", "sigma": 1, "size": 10}, {"op": "downscale"}]},
         r"degradations\.p\.steps\[0\]\.size must be an odd integer .* got 10"),
        ({"steps": [{"op": "downscale"}, {"op": "jpeg", "quality": 0}]},
         r"degradations\.p\.steps\[1\]\.quality must be an integer JPEG quality .* got 0"),
        ({"steps": [{"op": "downscale"}, {"op": "jpeg", "quality": [80, 20]}]},
         r"steps\[1\]\.quality must have low <= high"),
        ({"steps": [{"op": "downscale"}, {"op": "sharpen"}]}, r"steps\[1\]\.op must be one of"),
        ({"steps": [{"op": "downscale"}, {"op": "noise", "kind": "gaussian", "sigma": 5,
                                          "prob": 1.5}]},
         r"steps\[1\]\.prob must be a probability in \[0, 1\], got 1\.5"),
        ({"steps": [{"op": "downscale", "colour": 1}]}, r"steps\[0\]\.colour: unknown key"),
        ({"steps": [{"op": "jpeg", "quality": 50}]}, r"exactly one 'downscale' step"),
        ({"steps": [{"op": "blur", "kernel": "plateau", "sigma": 1, "size": 9},
                    {"op": "downscale"}]}, r"steps\[0\]\.beta: missing"),
        ({"pipeline": "bsrgan"}, r"degradations\.p\.pipeline must be one of"),
        ({"steps": [{"op": "downscale"}], "pipeline": "realesrgan"}, r"exactly one of"),
        ({"scale": 4, "steps": []}, r"degradations\.p\.scale: unknown key"),
    ],
)
def test_invalid_presets_name_the_key(preset: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_preset("p", preset)


def test_apply_preset_rejects_sizes_that_are_not_multiples_of_scale() -> None:
    with pytest.raises(ValueError, match="not a multiple of scale 4"):
        apply_preset(textured_image(30, 32), PRESETS["bicubic"], 4, np.random.default_rng(0))


def test_schema_accepts_builtin_presets_and_rejects_unknown_keys() -> None:
    schema = yaml.safe_load(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for preset in PRESETS.values():
        validator.validate(preset)
    custom = {"steps": [{"op": "blur", "kernel": "sinc", "omega_c": [1.0, 2.0], "size": 11},
                        {"op": "downscale", "mode": "bilinear"},
                        {"op": "noise", "kind": "gaussian", "sigma": [1, 5], "gray_prob": 0.3}]}
    validator.validate(custom)
    validate_preset("custom", custom)
    bad = [
        {"steps": [{"op": "downscale", "colour": 1}]},
        {"steps": [{"op": "jpeg", "quality": 0}, {"op": "downscale"}]},
        {"pipeline": "realesrgan", "options": {"noise_levels": [1, 2]}},
        {"steps": [{"op": "downscale"}], "extra": True},
    ]
    for preset in bad:
        assert not validator.is_valid(preset), preset
        with pytest.raises(ValueError):
            validate_preset("bad", preset)
