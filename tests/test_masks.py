"""Counter-based dropout masks: the hash, the Bernoulli process, and invariance to chunking,
tile grid and device."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sruq.models import SRModel
from sruq.uncertainty import masks
from sruq.uncertainty.mc import mc_naive, mc_predict

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device here: the CPU tests run the same tensor code",
)


class Upsampled(SRModel):
    """Nearest x2, then one dropout layer: its output *is* the mask (scaled), at twice the
    input resolution, so tile origins must be mapped onto the activation."""

    def __init__(self, p: float, feature: bool = False) -> None:
        super().__init__(scale=2)
        self.drop = nn.Dropout2d(p) if feature else nn.Dropout(p)
        self.tap = nn.Identity()  # sees the masked output

    def mc_prefix(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def mc_suffix(self, state: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.tap(self.drop(state))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mc_suffix(self.mc_prefix(x))


def recorded_samples(model: Upsampled, run: Callable[[], object]) -> torch.Tensor:
    """Every sampled output of ``run()``, stacked per sample (the dropout-free pass left out)."""
    outputs: list[torch.Tensor] = []

    def keep(module: nn.Module, args: object, out: torch.Tensor) -> None:
        outputs.append(out.clone())

    handle = model.tap.register_forward_hook(keep)
    try:
        run()
    finally:
        handle.remove()
    return torch.cat(outputs[1:])  # outputs[0]: the one pass without dropout


def test_tensor_hash_is_the_unsigned_64_bit_reference() -> None:
    rng = np.random.default_rng(0)
    values = [int(v) for v in rng.integers(-(2**63), 2**63 - 1, 1000, dtype=np.int64)]
    values += [0, 1, -1, 2**63 - 1, -(2**63)]
    got = masks.mix(torch.tensor(values, dtype=torch.int64)).tolist()
    want = [masks.mix_int(v) for v in values]
    assert [g & masks.MASK64 for g in got] == want
    assert masks.key_int(1, 2) != masks.key_int(2, 1)


def dropped_elements(keys: torch.Tensor, shape: tuple[int, int, int, int],
                     origin: tuple[int, int], p: float) -> torch.Tensor:
    """The sorted flat indices of :func:`masks.element_drops`, without the spare index."""
    flat = torch.cat(masks.element_drops(keys, shape, origin, p))
    return flat[flat < int(np.prod(shape))].sort().values


@pytest.mark.parametrize("origin", [(0, 0), (3, 70)])
def test_element_drops_are_a_bernoulli_process(
    origin: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    p, shape = 0.04, (2, 40, 150, 64)
    keys = masks.sample_keys(7, 0, 0, 2, CPU)
    size = int(np.prod(shape))
    flat = dropped_elements(keys, shape, origin, p)
    assert flat.unique().numel() == flat.numel()
    monkeypatch.setattr(masks, "GROUP", 1000)  # other batches of units: the same drops
    assert torch.equal(dropped_elements(keys, shape, origin, p), flat)
    drop = torch.zeros(size, dtype=torch.bool)
    drop[flat] = True
    n = drop.numel()
    assert abs(int(drop.sum()) - n * p) < 4 * (n * p * (1 - p)) ** 0.5
    pairs = (drop[1:] & drop[:-1]).float().mean()  # neighbours independent: p**2
    assert abs(float(pairs) - p * p) < 4 * (p * p / n) ** 0.5
    per_sample = drop.view(2, -1).float().mean(1)
    assert (drop.view(2, -1)[0] ^ drop.view(2, -1)[1]).float().mean() > p  # samples differ
    assert torch.all((per_sample - p).abs() < 0.002)
    everything = torch.cat(masks.element_drops(keys, (1, 2, 3, 4), origin, 1.0))
    assert everything.tolist() == list(range(24))


@pytest.mark.parametrize(("shape", "origin", "p"), [
    ((3, 40, 150, 64), (0, 0), 0.04), ((2, 17, 130, 3), (3, 70), 0.2), ((2, 5, 9, 4), (1, 2), 0.9)])
def test_ordered_drops_are_the_same_elements(
    shape: tuple[int, int, int, int], origin: tuple[int, int], p: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``ordered=True`` (what the fused path's sparse product needs): the same elements, in
    an ascending piece and a rest, for any batching of the units."""
    keys = masks.sample_keys(5, 1, 0, shape[0], CPU)
    want = dropped_elements(keys, shape, origin, p)
    for group in (masks.GROUP, 300):
        monkeypatch.setattr(masks, "GROUP", group)
        ascending, rest = masks.element_drops(keys, shape, origin, p, ordered=True)
        assert bool((ascending[1:] > ascending[:-1]).all())
        assert torch.equal(torch.cat([ascending, rest]).sort().values, want)
    assert len(rest) < len(ascending) // 50  # the first draw covers almost every unit
    everything = masks.element_drops(keys, (1, 2, 3, 4), origin, 1.0, ordered=True)
    assert everything[0].tolist() == list(range(24)) and len(everything[1]) == 0


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_select_ranges_keeps_each_rows_slice_in_order(dtype: torch.dtype) -> None:
    """The ordered draw's selection: each ascending row's ``lo <= pos < hi``, row after
    row, the same as a boolean selection, with empty slices first, between and last."""
    pos = torch.cumsum(torch.randint(1, 9, (7, 12), generator=torch.Generator().manual_seed(2)),
                       1).to(dtype)
    hi = torch.tensor([0, 40, 3, 1000, 25, 30, 1], dtype=dtype)
    lo = torch.tensor([0, 10, 0, 0, 25, 5, 0], dtype=dtype)
    for lower in (None, lo):
        inside = pos < hi[:, None]
        if lower is not None:
            inside &= pos >= lower[:, None]
        want = torch.masked_select(pos, inside)
        out = torch.full((100,), -1, dtype=dtype)
        got = masks._select_ranges(pos, lower, hi, out)
        assert got.dtype == dtype and torch.equal(got, want) and got.data_ptr() == out.data_ptr()
        assert bool((out[len(want):] == -1).all())  # nothing written past the selection
        assert torch.equal(masks._select_ranges(pos, lower, hi), want)


@pytest.mark.parametrize(("shape", "origin", "p"), [
    ((3, 40, 150, 64), (0, 0), 0.04), ((2, 17, 130, 3), (3, 70), 0.2),
    ((1, 3, 5, 7), (0, 1), 1e-6)])
@pytest.mark.parametrize("ordered", [False, True])
def test_the_index_dtype_does_not_change_the_masks(
    shape: tuple[int, int, int, int], origin: tuple[int, int], p: float, ordered: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Blocks whose positions fit in int32 are drawn in int32 (cheaper on the CPU): the
    same elements, in the same pieces and order, as the int64 draw."""
    keys = masks.sample_keys(9, 3, 2, shape[0], CPU)
    narrow = masks.element_drops(keys, shape, origin, p, ordered)
    assert {t.dtype for t in narrow} == {torch.int32}
    monkeypatch.setattr(masks, "index_dtype", lambda *args: torch.int64)
    wide = masks.element_drops(keys, shape, origin, p, ordered)
    assert {t.dtype for t in wide} == {torch.int64}
    assert len(narrow) == len(wide)
    for got, want in zip(narrow, wide, strict=True):
        assert torch.equal(got.long(), want)


def test_index_dtype_is_int64_where_a_position_could_pass_int32() -> None:
    assert masks.index_dtype(10**6, 0.04, 64 * 64) == torch.int32
    assert masks.index_dtype(2**31 - 50_000, 0.04, 64 * 64) == torch.int64  # 182 gaps of 562 past
    assert masks.index_dtype(2**31 - 200_000, 0.04, 64 * 64) == torch.int32
    assert masks.index_dtype(10**6, 1e-9, 64) == torch.int64  # gaps of up to 2.2e10
    for p in (0.9, 0.04, 1e-6):  # the gap of the smallest uniform (U 2**32 = 0.5) is the longest
        inv = 1 / math.log1p(-p)
        assert int(math.log(0.5) * inv + 1 - 32 * math.log(2) * inv) <= masks._longest_gap(p)


def test_feature_drops_have_the_rate() -> None:
    keys = masks.sample_keys(3, 1, 0, 50, CPU)
    dropped = masks.feature_drops(keys, 4, 500, 0.2)
    assert dropped.shape == (200, 500)
    assert abs(float(dropped.float().mean()) - 0.2) < 4 * (0.2 * 0.8 / dropped.numel()) ** 0.5


@pytest.mark.parametrize("feature", [False, True])
def test_masks_do_not_depend_on_the_chunking(feature: bool) -> None:
    model = Upsampled(0.3, feature)
    x = torch.ones(2, 5, 7, 9)
    samples = 7
    runs = [
        recorded_samples(model, lambda k=k: mc_predict(model, x, samples, seed=4, max_batch=k))
        for k in (1, 3, samples)
    ]
    naive = recorded_samples(model, lambda: mc_naive(model, x, samples, seed=4))
    for run in runs:
        assert torch.equal(run, runs[0])
    assert torch.equal(naive, runs[0])
    assert runs[0].shape == (samples * 2, 5, 14, 18)
    values = runs[0].unique()
    assert len(values) == 2 and values[0] == 0 and abs(float(values[1]) - 1 / 0.7) < 1e-6
    first, second = runs[0][0::2], runs[0][1::2]  # two images of a sample: other masks
    assert not torch.equal(first, second)
    other = recorded_samples(model, lambda: mc_predict(model, x, samples, seed=5))
    assert not torch.equal(other, runs[0])


@pytest.mark.parametrize("origin", [(0, 0), (1, 0), (5, 3), (0, 130)])
def test_a_window_gets_the_masks_of_its_place_in_the_image(origin: tuple[int, int]) -> None:
    model = Upsampled(0.25)
    image = torch.ones(1, 6, 12, 150)
    whole = recorded_samples(model, lambda: mc_predict(model, image, 3, seed=2))
    y, x0 = origin
    h, w = 5, 17
    window = image[..., y : y + h, x0 : x0 + w]
    part = recorded_samples(model, lambda: mc_predict(model, window, 3, seed=2, origin=origin))
    assert torch.equal(part, whole[..., 2 * y : 2 * (y + h), 2 * x0 : 2 * (x0 + w)])


def test_bad_origin_raises_value_error() -> None:
    model = Upsampled(0.2)
    with pytest.raises(ValueError, match="origin"):
        mc_predict(model, torch.ones(1, 1, 4, 4), 2, origin=(-1, 0))

    class Halved(Upsampled):
        def mc_prefix(self, x: torch.Tensor) -> torch.Tensor:
            return x[..., ::2, ::2]

    with pytest.raises(ValueError, match="whole-pixel place"):
        mc_predict(Halved(0.2), torch.ones(1, 1, 4, 4), 2, origin=(1, 0))


@needs_cuda
@pytest.mark.parametrize("feature", [False, True])
def test_cuda_masks_equal_the_cpu_masks(feature: bool) -> None:
    cuda = torch.device("cuda")
    keys = masks.sample_keys(11, 2, 5, 3, CPU)
    assert torch.equal(masks.sample_keys(11, 2, 5, 3, cuda).cpu(), keys)
    if feature:
        got = masks.feature_drops(keys.to(cuda), 2, 64, 0.2).cpu()
        assert torch.equal(got, masks.feature_drops(keys, 2, 64, 0.2))
    else:
        shape, origin = (6, 33, 70, 32), (4, 129)
        gpu = dropped_elements(keys.to(cuda), shape, origin, 0.04).cpu()
        assert torch.equal(gpu, dropped_elements(keys, shape, origin, 0.04))
    model = Upsampled(0.3, feature)
    x = torch.ones(1, 4, 9, 11)
    on_cpu = recorded_samples(model, lambda: mc_predict(model, x, 5, seed=3, max_batch=2))
    on_gpu = recorded_samples(
        model.to(cuda), lambda: mc_predict(model, x.to(cuda), 5, seed=3, max_batch=2)
    )
    assert torch.equal(on_gpu.cpu(), on_cpu)
