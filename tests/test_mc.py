"""MC-dropout engine: prefix caching, reproducible masks, tiling, patch mode, other sources."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sruq.models import SRModel, build_model
from sruq.models.base import MCState
from sruq.uncertainty import fused
from sruq.uncertainty.mc import MCResult, Moments, mc_naive, mc_predict
from sruq.uncertainty.sources import (
    DeepEnsembleSource,
    MCDropoutSource,
    SelfEnsembleSource,
    UncertaintySource,
)
from sruq.uncertainty.tiling import Tiling, predict_image, tile_starts
from sruq.wrappers.self_ensemble import SelfEnsemble

pytestmark = pytest.mark.usefixtures("one_thread")


class TinyPre(SRModel):
    """ESRCNN in miniature: bicubic x2 -> conv3 + ReLU | dropout -> conv1 + ReLU -> dropout ->
    conv3.  Receptive-field radius about 3 LR px."""

    def __init__(self, p: float = 0.3, width: int = 8) -> None:
        super().__init__(scale=2)
        self.head = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())
        self.body = nn.Sequential(
            nn.Dropout(p),
            nn.Conv2d(width, width, 1),
            nn.ReLU(),
            nn.Dropout(p),
            nn.Conv2d(width, 3, 3, padding=1),
        )

    def mc_prefix(self, x: torch.Tensor) -> MCState:
        up = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        return self.head(up)

    def mc_suffix(self, state: MCState) -> torch.Tensor:
        assert isinstance(state, torch.Tensor)
        return self.body(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mc_suffix(self.mc_prefix(x))


class TinyRes(SRModel):
    """SRResBNN in miniature: tuple prefix state, BatchNorm, Dropout2d before the skip."""

    heteroscedastic = False

    def __init__(self, p: float = 0.4, out: int = 3) -> None:
        super().__init__(scale=2)
        self.head = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.PReLU())
        self.trunk = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.dropout = nn.Dropout2d(p)
        self.tail = nn.Sequential(nn.Conv2d(8, 4 * out, 3, padding=1), nn.PixelShuffle(2))
        with torch.no_grad():  # running statistics that differ from a batch's own
            self.trunk[1].running_mean.uniform_(-0.5, 0.5)
            self.trunk[1].running_var.uniform_(0.5, 2.0)

    def mc_prefix(self, x: torch.Tensor) -> MCState:
        h = self.head(x)
        return self.trunk(h), h

    def mc_suffix(self, state: MCState) -> torch.Tensor:
        trunk, head = state
        return self.tail(self.dropout(trunk) + head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mc_suffix(self.mc_prefix(x))


class TinyHetero(TinyRes):
    """Heteroscedastic head: the suffix predicts a mean and a log-variance per pixel."""

    heteroscedastic = True

    def __init__(self, p: float = 0.4) -> None:
        super().__init__(p, out=6)

    def mc_suffix_mean_logvar(self, state: MCState) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = super().mc_suffix(state).chunk(2, dim=1)
        return mean, logvar

    def mc_suffix(self, state: MCState) -> torch.Tensor:
        return self.mc_suffix_mean_logvar(state)[0]

    def predict_mean_logvar(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mc_suffix_mean_logvar(self.mc_prefix(x))


class OnlyDropout(SRModel):
    """Identity network with one dropout layer: exposes the masks themselves."""

    def __init__(self, p: float, feature: bool = False) -> None:
        super().__init__(scale=1)
        self.drop = nn.Dropout2d(p) if feature else nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(x)


def lr_image(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def seeded(model: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    for p in model.parameters():
        nn.init.normal_(p, 0, 0.3)
    return model


def assert_same(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-6) -> None:
    assert a.shape == b.shape
    assert torch.allclose(a, b, atol=atol, rtol=0), float((a - b).abs().max())


@pytest.mark.parametrize("max_batch", [1, 3, None])
def test_engine_equals_naive_loop_under_the_same_masks(max_batch: int | None) -> None:
    model = seeded(TinyPre())
    x = lr_image(1, 3, 12, 10)
    engine = mc_predict(model, x, 7, seed=5, max_batch=max_batch)
    naive = mc_naive(model, x, 7, seed=5)
    assert_same(engine.mean, naive.mean)
    assert_same(engine.std, naive.std)
    assert engine.std.mean() > 1e-3
    assert_same(engine.one_pass, model.eval()(x))
    assert engine.samples == 7 and engine.std.dtype == torch.float32


def test_each_sample_equals_its_full_pass() -> None:
    """With T = 2 the mean and std give both samples (mean +- std), so they match one by one."""
    model = seeded(TinyPre(p=0.5))
    x = lr_image(3, 9, 9)
    engine, naive = mc_predict(model, x, 2, seed=1), mc_naive(model, x, 2, seed=1)
    assert_same(engine.mean - engine.std, naive.mean - naive.std)
    assert_same(engine.mean + engine.std, naive.mean + naive.std)
    assert engine.mean.shape == (3, 18, 18)


def test_tuple_state_feature_dropout_batchnorm_and_modes_restored() -> None:
    model = seeded(TinyRes())
    model.train()
    model.head.eval()  # a mixed state must come back exactly
    x = lr_image(2, 3, 8, 8)
    engine = mc_predict(model, x, 6, seed=2, max_batch=4)
    assert [m.training for m in model.modules()] == [
        m is not model.head and not any(m is c for c in model.head.children())
        for m in model.modules()
    ]
    naive = mc_naive(model, x, 6, seed=2)
    assert_same(engine.mean, naive.mean)
    assert_same(engine.std, naive.std)
    with torch.no_grad():
        assert_same(engine.one_pass, model.eval()(x))  # BatchNorm on running statistics


def test_same_seed_same_result_other_seed_other_masks() -> None:
    model = seeded(TinyPre())
    x = lr_image(1, 3, 10, 10)
    rng_state = torch.get_rng_state()
    a, b = mc_predict(model, x, 5, seed=3), mc_predict(model, x, 5, seed=3, max_batch=2)
    assert torch.equal(torch.get_rng_state(), rng_state)  # the global RNG is left alone
    c = mc_predict(model, x, 5, seed=4)
    assert torch.equal(a.std, mc_predict(model, x, 5, seed=3).std)
    assert_same(a.std, b.std)
    assert (a.std - c.std).abs().max() > 1e-3


@pytest.mark.parametrize("model", [TinyPre(p=0.0), build_model("bicubic", 2)])
def test_std_is_zero_without_dropout(model: SRModel) -> None:
    x = lr_image(1, 3, 8, 8)
    result = mc_predict(model, x, 4)
    assert torch.count_nonzero(result.std) == 0
    assert_same(result.mean, result.one_pass)
    with torch.no_grad():
        assert_same(result.mean, model.eval()(x), atol=1e-6)


@pytest.mark.parametrize("feature", [False, True])
def test_masks_have_the_dropout_rate_and_scaling(feature: bool) -> None:
    """Dropout on a constant 1: samples are 0 or 1/q, so mean 1 and variance p/q."""
    p, q = 0.3, 0.7
    result = mc_predict(OnlyDropout(p, feature), torch.ones(1, 64, 16, 16), 200, seed=9)
    assert abs(float(result.mean.mean()) - 1.0) < 0.01
    assert abs(float((result.std**2).mean()) - p / q) < 0.02
    if feature:  # whole channels share one mask
        assert torch.count_nonzero(result.std - result.std[:, :, :1, :1]) == 0
    everything = mc_predict(OnlyDropout(1.0, feature), torch.ones(1, 4, 3, 3), 3)
    assert torch.count_nonzero(everything.mean) == 0  # p = 1 drops everything, as torch does


def test_heteroscedastic_model_gives_aleatoric_std() -> None:
    model = seeded(TinyHetero())
    x = lr_image(1, 3, 8, 8)
    a = mc_predict(model, x, 6, seed=1)
    b = mc_predict(model, x, 6, seed=1, max_batch=1)
    assert a.aleatoric_std is not None and b.aleatoric_std is not None
    assert_same(a.aleatoric_std, b.aleatoric_std, atol=1e-5)
    assert_same(a.total_std**2, a.std**2 + a.aleatoric_std**2, atol=1e-4)
    assert a.std.mean() > 0
    still = seeded(TinyHetero(p=0.0))
    result = mc_predict(still, x, 3)
    with torch.no_grad():
        _, logvar = still.eval().predict_mean_logvar(x)
    assert result.aleatoric_std is not None
    assert_same(result.aleatoric_std, torch.exp(0.5 * logvar), atol=1e-5)
    assert torch.count_nonzero(result.std) == 0


def test_bad_arguments_raise_value_error() -> None:
    model = TinyPre()
    x = lr_image(1, 3, 4, 4)
    with pytest.raises(ValueError, match="samples"):
        mc_predict(model, x, 0)
    with pytest.raises(ValueError, match="seed"):
        mc_predict(model, x, 2, seed=-1)
    with pytest.raises(ValueError, match="shape"):
        mc_predict(model, x[0, 0], 2)
    alpha = OnlyDropout(0.2)
    alpha.drop = nn.AlphaDropout(0.2)
    with pytest.raises(ValueError, match="AlphaDropout"):
        mc_predict(alpha, x, 2)
    with pytest.raises(ValueError, match="mode"):
        predict_image(model, x, 2, mode="tiles")


@pytest.mark.parametrize(("name", "kwargs"), [("esrcnn", {}), ("srresbnn", {"n_blocks": 1})])
def test_zoo_models_engine_equals_naive(name: str, kwargs: dict[str, int]) -> None:
    model = build_model(name, 2, **kwargs)
    x = lr_image(1, 3, 10, 10)
    engine, naive = mc_predict(model, x, 4, seed=0, max_batch=3), mc_naive(model, x, 4, seed=0)
    assert_same(engine.mean, naive.mean, atol=1e-5)
    assert_same(engine.std, naive.std, atol=1e-5)
    assert engine.std.mean() > 0


@pytest.mark.parametrize("length", [1, 16, 17, 40, 45, 100])
def test_tile_starts_cover_with_overlap(length: int) -> None:
    tile, overlap = 16, 6
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + min(tile, length) == length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_tiled_output_equals_whole_image_for_a_conv_net() -> None:
    """Tiles draw the masks of their place in the image: two tile grids give the whole
    image's MC statistics, not just statistics equal in distribution."""
    model = seeded(TinyPre(p=0.3))
    x = lr_image(1, 3, 45, 53)
    whole = mc_predict(model, x, 8, seed=1)
    for tiling in (Tiling(tile=24, overlap=10, crop=4), Tiling(tile=31, overlap=12, crop=4)):
        tiled, box = predict_image(model, x, 8, tiling=tiling, seed=1)
        assert box == (0, 0, 45, 53)
        with torch.no_grad():
            assert_same(tiled.one_pass, model.eval()(x), atol=1e-5)
        assert_same(tiled.mean, whole.mean, atol=1e-5)
        assert_same(tiled.std, whole.std, atol=1e-5)
    assert float(whole.std.mean()) > 1e-3
    other, _ = predict_image(model, x, 8, tiling=Tiling(tile=24, overlap=10, crop=4), seed=2)
    assert (other.std - whole.std).abs().max() > 1e-3
    still = seeded(TinyPre(p=0.0))
    tiled0, _ = predict_image(still, x, 3, tiling=Tiling(tile=20, overlap=8, crop=4))
    with torch.no_grad():
        assert_same(tiled0.mean, still.eval()(x), atol=1e-5)
    assert torch.count_nonzero(tiled0.std) == 0


def test_patch_mode_crops_centre_and_stitches_in_order() -> None:
    model = seeded(TinyPre(p=0.0))
    x = lr_image(3, 150, 140)
    result, box = predict_image(model, x, 2, mode="patch", patch=64)
    assert box == (11, 6, 128, 128)
    assert result.mean.shape == (3, 256, 256)
    with torch.no_grad():
        right_top = model.eval()(x[None, :, 11:75, 70:134])[0]
    assert_same(result.mean[:, :128, 128:], right_top, atol=1e-5)
    with pytest.raises(ValueError, match="smaller than one 64x64 patch"):
        predict_image(model, x[:, :40], 2, mode="patch")


def test_sources_share_one_interface() -> None:
    models = [seeded(TinyPre(p=0.0), seed=s) for s in range(3)]
    x = lr_image(1, 3, 6, 6)
    mean, std = DeepEnsembleSource(models).forward_with_spread(x)
    with torch.no_grad():
        outs = torch.stack([m(x) for m in models])
    assert_same(mean, outs.mean(0))
    assert_same(std, outs.std(0, correction=0))
    source = MCDropoutSource(seeded(TinyPre()), 4, seed=2)
    mc_mean, mc_std = source.forward_with_spread(x)
    assert_same(mc_std, mc_predict(source.model, x, 4, seed=2).std)
    x8 = SelfEnsembleSource(models[0])
    for got, want in zip(x8.forward_with_spread(x), SelfEnsemble(models[0]).forward_with_spread(x),
                         strict=True):
        assert_same(got, want)
    for s in (source, DeepEnsembleSource(models), x8):
        assert isinstance(s, UncertaintySource)
    with pytest.raises(ValueError, match="at least 2"):
        DeepEnsembleSource(models[:1])


def test_ensemble_image_spreads_over_members_on_a_colour_image() -> None:
    def ensemble_image(members, lr):
        return DeepEnsembleSource(members).predict("image", lr)

    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    torch.manual_seed(0)
    members = [build_model("espcn", 2, in_channels=1, n1=8, n2=4) for _ in range(2)]
    result, box = ensemble_image(members, lr)
    assert box == (0, 0, 12, 10) and result.samples == 2
    assert result.mean.shape == (3, 24, 20) and result.std.shape == (1, 24, 20)  # luma spread
    assert float(result.std.mean()) > 0
    same, _ = ensemble_image([members[0], members[0]], lr)
    assert float(same.std.abs().max()) == 0.0
    assert_same(same.mean, same.one_pass)
    with pytest.raises(ValueError, match="different input channels"):
        ensemble_image([members[0], build_model("espcn", 2, n1=8, n2=4)], lr)


class Chain(SRModel):
    """A bicubic x2, a 3x3 convolution and ReLU as the prefix, then ``body`` on its output."""

    def __init__(self, body: nn.Sequential, width: int = 8) -> None:
        super().__init__(scale=2)
        self.head = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())
        self.body = body

    def mc_prefix(self, x: torch.Tensor) -> MCState:
        return self.head(F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False))

    def mc_suffix(self, state: MCState) -> torch.Tensor:
        assert isinstance(state, torch.Tensor)
        return self.body(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mc_suffix(self.mc_prefix(x))


class Seq(nn.Sequential):
    """An ``nn.Sequential`` subclass: its forward may differ, so nothing is fused in it."""


def fused_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The fused path's runs (one per chunk and fused pair), each as the number of dropped
    elements outside the ascending pieces (the pair's and its tail dropouts')."""
    calls: list[int] = []
    original = fused.dropout_conv

    def counted(product: fused.SharedProduct, dropped: list[torch.Tensor], samples: int,
                buffer: torch.Tensor | None = None, tail: fused.Tail = ()) -> torch.Tensor:
        rests = [step.dropped[1] for step in tail if isinstance(step, fused.TailDropout)]
        calls.append(sum(len(rest) for rest in [dropped[1], *rests]))
        return original(product, dropped, samples, buffer, tail)

    monkeypatch.setattr(fused, "dropout_conv", counted)
    return calls


def assert_fused_unfused_naive(model: SRModel, x: torch.Tensor, samples: int, **kwargs: int
                               ) -> MCResult:
    fused_result = mc_predict(model, x, samples, seed=3, **kwargs)
    unfused = mc_predict(model, x, samples, seed=3, fuse=False, **kwargs)
    naive = mc_naive(model, x, samples, seed=3)
    atol = 1e-6 * max(1.0, float(naive.one_pass.abs().max()))  # float32 rounding
    for got in (fused_result, unfused):
        assert_same(got.mean, naive.mean, atol)
        assert_same(got.std, naive.std, atol)
        assert_same(got.one_pass, naive.one_pass, atol)
    assert float(naive.std.mean()) > 1e-3
    return fused_result


@pytest.mark.parametrize(("residual", "band"), [(False, fused.BAND_PIXELS), (True, 50)])
def test_fused_esrcnn_equals_unfused_and_naive(residual: bool, band: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """ESRCNN's dropout on the prefix state and its 1x1 convolution run as one shared
    product plus a sparse correction per sample (and the ReLU and dropout after it in
    place): the statistics of the hook path and of one full pass per sample, also in
    bands that cross rows and images."""
    monkeypatch.setattr(fused, "BAND_PIXELS", band)
    torch.manual_seed(0)
    model = build_model("esrcnn", 2, residual=residual)
    assert fused.fusable_pairs(model, model.dropout_layers()) == {model.body: {0}}
    calls = fused_calls(monkeypatch)
    assert_fused_unfused_naive(model, lr_image(1, 3, 14, 17), 5, max_batch=2)
    assert len(calls) == 3  # one per chunk
    assert_fused_unfused_naive(model, lr_image(2, 3, 9, 11), 4, max_batch=3)  # two images


@pytest.mark.parametrize("band", [3, fused.BAND_PIXELS])
@pytest.mark.parametrize("max_batch", [1, 3, None])
@pytest.mark.parametrize(("width", "body"), [
    (8, lambda: [nn.Dropout(0.3), nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Dropout(0.3),
                 nn.Conv2d(8, 3, 3, padding=1)]),
    (8, lambda: [nn.Dropout(0.3), nn.Conv2d(8, 6, 1, bias=False), nn.Dropout(0.2), nn.ReLU(),
                 nn.Dropout(0.4), nn.Dropout(0.0), nn.ReLU(), nn.Conv2d(6, 3, 1)]),
    (8, lambda: [nn.Dropout(0.3), nn.Conv2d(8, 3, 1)]),
    (6, lambda: [nn.Dropout(0.3), nn.Conv2d(6, 5, 1), nn.ReLU(), nn.Conv2d(5, 3, 3, padding=1)]),
], ids=["esrcnn-like", "two-dropouts-after", "pair-only", "six-channels"])
def test_fused_path_equals_unfused_and_naive(width: int, body, max_batch: int | None,
                                             band: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pair fused for any chunking (the same masks) and any band size (3 pixels: bands
    across rows, units and samples), with ReLUs and dropouts after it in place (the first
    dropout's scale folded into the shared product, the next one's not), or nothing after
    it; a channel count that is not a power of two; dropped elements outside the ascending
    pieces (units that needed a second draw) among them."""
    calls = fused_calls(monkeypatch)
    monkeypatch.setattr(fused, "BAND_PIXELS", band)
    model = seeded(Chain(nn.Sequential(*body()), width))
    kwargs = {} if max_batch is None else {"max_batch": max_batch}
    assert_fused_unfused_naive(model, lr_image(1, 3, 12, 10), 7, **kwargs)
    assert len(calls) == -(-7 // (max_batch or 7))
    assert sum(calls) > 0


@pytest.mark.parametrize("case", ["3x3 after", "hooked conv", "not the state", "subclass",
                                  "feature dropout"])
def test_fused_path_keeps_out_where_it_must_not_apply(case: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a plain sequential's dropout on the prefix state followed by a plain 1x1
    convolution with no hooks is fused; everywhere else the hook path gives the same
    statistics as the naive loop."""
    calls = fused_calls(monkeypatch)
    pair = [nn.Dropout(0.3), nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1)]
    model: SRModel
    if case == "3x3 after":
        model = Chain(nn.Sequential(nn.Dropout(0.3), nn.Conv2d(8, 3, 3, padding=1)))
    elif case == "not the state":
        model = Chain(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), *pair))
    elif case == "subclass":
        model = Chain(Seq(*pair))
    elif case == "feature dropout":
        model = TinyRes()
    else:
        model = Chain(nn.Sequential(*pair))
        seen: list[int] = []
        model.body[1].register_forward_hook(lambda m, a, out: seen.append(out.shape[0]))
    assert_fused_unfused_naive(seeded(model), lr_image(1, 3, 8, 9), 6, max_batch=4)
    assert calls == []
    if case == "hooked conv":
        assert seen == [1, 4, 2] * 2 + [1] * 7  # engine fused and unfused, naive


def test_moments_of_a_channels_last_batch() -> None:
    """The streamed moments sum in memory order; the statistics are those of the values."""
    batch = lr_image(6, 2, 3, 9, 7)
    strided = batch.view(12, 3, 9, 7).contiguous(memory_format=torch.channels_last)
    for samples in (batch, strided.view(6, 2, 3, 9, 7)):
        moments = Moments()
        moments.add(samples[:4])
        moments.add(samples[4:])
        assert_same(moments.mean32(), batch.mean(0))
        assert_same(moments.std32(), batch.std(0, correction=0))
        assert moments.mean32().is_contiguous()
