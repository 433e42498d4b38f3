"""MATLAB-compatible imresize: properties and errors (golden vectors: test_degrade.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sruq.core.imresize import imresize, imresize_np, resize_matrix


@pytest.mark.parametrize("kernel", ["cubic", "linear", "box", "lanczos2", "lanczos3"])
def test_rows_sum_to_one(kernel):
    for n, m in ((100, 25), (25, 100), (37, 111)):
        mat = resize_matrix(n, m, m / n, kernel)
        assert mat.shape == (m, n)
        np.testing.assert_allclose(mat.sum(axis=1), 1.0, atol=1e-12)


def test_constant_image_stays_constant():
    x = torch.full((2, 3, 30, 40), 0.3, dtype=torch.float64)
    for scale in (0.25, 1 / 3, 2, 3):
        np.testing.assert_allclose(imresize(x, scale).numpy(), 0.3, atol=1e-12)


def test_output_size_and_batch_dims():
    x = torch.rand(2, 3, 30, 45)
    assert imresize(x, 1 / 3).shape == (2, 3, 10, 15)
    assert imresize(x, 4).shape == (2, 3, 120, 180)
    assert imresize(x, size=(7, 11)).shape == (2, 3, 7, 11)
    np.testing.assert_allclose(imresize(x[1], 2).numpy(), imresize(x, 2)[1].numpy(), atol=1e-6)


def test_upscale_reproduces_input_at_sample_points_nearest():
    x = torch.arange(12, dtype=torch.float64).reshape(1, 3, 4)
    up = imresize(x, 2, kernel="nearest")
    np.testing.assert_array_equal(up[0, ::2, ::2].numpy(), x[0].numpy())


def test_numpy_wrapper_matches_tensor_version():
    rng = np.random.default_rng(0)
    img = rng.random((20, 24, 3))
    out = imresize_np(img, 0.5)
    ref = imresize(torch.from_numpy(img.transpose(2, 0, 1)), 0.5).numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(out, ref)
    assert imresize_np(img[:, :, 0], 0.5).shape == (10, 12)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="kernel 'bogus'"):
        imresize(torch.rand(1, 8, 8), 2, kernel="bogus")
    with pytest.raises(ValueError, match="positive scale"):
        imresize(torch.rand(1, 8, 8), -2)
    with pytest.raises(ValueError, match="floating-point"):
        imresize(torch.zeros(1, 8, 8, dtype=torch.uint8), 2)
    with pytest.raises(ValueError, match="border"):
        imresize(torch.rand(1, 8, 8), 2, border="wrap")
