"""Model zoo: shapes, scale support, the MC-dropout split, checkpoints and a little training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sruq.core.imresize import imresize
from sruq.models import (
    ADVERSARIAL_MODELS,
    MODELS,
    Discriminator,
    SRModel,
    build_model,
    has_dropout,
)
from sruq.models.common import ZeroInsertion, transposed_conv
from sruq.models.interpolation import Interpolation
from sruq.models.lapsrn import bilinear_kernel
from sruq.models.rrdbnet import RRDB, ResidualDenseBlock

SMALL: dict[str, dict[str, object]] = {
    "srcnn": {"n1": 8, "n2": 4},
    "esrcnn": {},
    "fsrcnn": {"d": 8, "s": 4, "m": 1},
    "espcn": {"n1": 8, "n2": 4},
    "vdsr": {"depth": 3, "channels": 8},
    "srcnn-variant": {"upsampling": "post", "block": "residual", "depth": 1, "width": 8},
    "srresnet": {"n_blocks": 1, "channels": 8},
    "srgan": {"n_blocks": 1, "channels": 8},
    "srresbnn": {"n_blocks": 1, "channels": 8},
    "edsr-baseline": {"n_blocks": 1, "channels": 8},
    "hetero-srresnet": {"n_blocks": 1, "channels": 8},
    "rrdbnet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
    "esrgan": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
    "lapsrn": {"num_feat": 8, "depth": 1},
}
"""A small instance of every learned model."""

SCALES: dict[str, tuple[int, ...]] = {"lapsrn": (2, 4, 8)}
"""The scales a model supports where not x2, x3, x4 (and x8, not tested everywhere)."""


def scales_of(name: str) -> tuple[int, ...]:
    return SCALES.get(name, (2, 3, 4))


def odd_scale(name: str) -> int:
    """A scale above 2 the model supports (x3 where it can: another step layout than x2)."""
    return 3 if 3 in scales_of(name) else 4


VARIANTS = [
    (upsampling, block)
    for upsampling in ("pre", "post", "progressive", "iterative")
    for block in ("plain", "residual", "inception")
]
UPSAMPLER_VARIANTS = [
    (upsampling, upsampler)
    for upsampling in ("post", "progressive")
    for upsampler in ("transposed", "unpooling", "nearest")
]
"""The non-default ``upsampler`` choices of the SRCNN variant (subpixel is in VARIANTS)."""


def small(name: str, scale: int, **overrides: object) -> SRModel:
    torch.manual_seed(0)
    return build_model(name, scale, **{**SMALL[name], **overrides})


def variant(upsampling: str, block: str, scale: int, **overrides: object) -> SRModel:
    torch.manual_seed(0)
    kwargs = {"upsampling": upsampling, "block": block, "depth": 1, "width": 8, **overrides}
    return build_model("srcnn-variant", scale, **kwargs)


def lr_batch(channels: int = 3) -> torch.Tensor:
    return torch.rand(2, channels, 7, 9, generator=torch.Generator().manual_seed(1))


def all_small_models(dropout: float) -> list[tuple[str, SRModel]]:
    """Every small model and SRCNN variant at x2 with the given dropout rate."""
    models = [(name, small(name, 2, dropout=dropout)) for name in SMALL]
    models += [(f"{u}/{b}", variant(u, b, 2, dropout=dropout)) for u, b in VARIANTS]
    models += [(f"{u}/plain/{k}", variant(u, "plain", 4, dropout=dropout, upsampler=k))
               for u, k in UPSAMPLER_VARIANTS]
    models.append(("lapsrn x4", small("lapsrn", 4, dropout=dropout)))  # two pyramid levels
    return models


def test_every_learned_model_has_a_small_config() -> None:
    learned = {name for name, cls in MODELS.items() if cls.trainable}
    assert not any(cls.trainable for cls in MODELS.values() if issubclass(cls, Interpolation))
    assert learned == set(SMALL)


@pytest.mark.parametrize(
    ("name", "scale"), [(name, scale) for name in sorted(SMALL) for scale in scales_of(name)]
)
def test_output_shape(name: str, scale: int) -> None:
    model = small(name, scale).eval()
    with torch.no_grad():
        out = model(lr_batch())
    assert model.scale == scale
    assert out.shape == (2, 3, 7 * scale, 9 * scale)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("name", sorted(SMALL))
def test_single_channel_input(name: str) -> None:
    model = small(name, 2, in_channels=1).eval()
    with torch.no_grad():
        out = model(lr_batch(channels=1))
    assert model.in_channels == 1
    assert out.shape == (2, 1, 14, 18)


@pytest.mark.parametrize(("upsampling", "block"), VARIANTS)
def test_variant_output_shape(upsampling: str, block: str) -> None:
    scales = (2, 4) if upsampling == "progressive" else (2, 3, 4)
    for scale in scales:
        with torch.no_grad():
            out = variant(upsampling, block, scale).eval()(lr_batch())
        assert out.shape == (2, 3, 7 * scale, 9 * scale)


@pytest.mark.parametrize(("upsampling", "upsampler"), UPSAMPLER_VARIANTS)
def test_upsampler_choice_output_shape(upsampling: str, upsampler: str) -> None:
    scales = (2, 4, 8) if upsampling == "progressive" else (2, 3, 4, 8)
    for scale in scales:
        with torch.no_grad():
            out = variant(upsampling, "plain", scale, upsampler=upsampler).eval()(lr_batch())
        assert out.shape == (2, 3, 7 * scale, 9 * scale)


def test_unpooling_inserts_each_pixel_at_the_top_left_of_its_cell() -> None:
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected = torch.tensor([[[[1.0, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]]])
    assert torch.equal(ZeroInsertion(2)(x), expected)
    # the same as max-unpooling with every index at the top-left of its s x s cell
    y = torch.rand(2, 3, 4, 5)
    for s in (2, 3):
        rows = torch.arange(4).view(4, 1) * s * (5 * s)
        cols = torch.arange(5).view(1, 5) * s
        indices = (rows + cols).expand(2, 3, 4, 5)
        assert torch.equal(ZeroInsertion(s)(y), nn.MaxUnpool2d(s)(y, indices))
    steps = [type(m) for m in variant("post", "plain", 4, upsampler="unpooling").body]
    assert steps.count(ZeroInsertion) == 2


def test_transposed_conv_enlarges_exactly() -> None:
    for factor in (2, 3):
        layer = transposed_conv(3, 5, factor)
        assert layer(torch.rand(1, 3, 7, 9)).shape == (1, 5, 7 * factor, 9 * factor)
    assert transposed_conv(1, 1, 2).kernel_size == (4, 4)  # LapSRN's 4x4, stride 2


def test_default_upsampler_is_the_sub_pixel_one() -> None:
    default = variant("progressive", "plain", 4)
    explicit = variant("progressive", "plain", 4, upsampler="subpixel")
    assert [type(m) for m in default.body].count(nn.PixelShuffle) == 2
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(),
                                                 explicit.state_dict().values(), strict=True))


@pytest.mark.parametrize(
    ("name", "kwargs", "scale", "message"),
    [
        ("srcnn-variant", {"upsampling": "progressive"}, 3, "progressive.*scale 3"),
        ("srcnn-variant", {"upsampling": "post"}, 5, "post upsampling.*scale 5"),
        ("srcnn-variant", {"upsampling": "iterative"}, 5, "iterative.*scale 5"),
        ("srresnet", {}, 5, "srresnet.*scale 5"),
        ("srresbnn", {}, 6, "srresnet.*scale 6"),
        ("edsr-baseline", {}, 5, "edsr-baseline.*scale 5"),
        ("rrdbnet", {}, 5, "rrdbnet supports scale 3 or a power of two, got scale 5"),
        ("esrgan", {}, 6, "rrdbnet.*scale 6"),
        ("lapsrn", {}, 3, r"lapsrn supports powers of two \(2, 4, 8\), got scale 3"),
        ("lapsrn", {}, 6, "lapsrn.*scale 6"),
        ("srcnn", {}, 0, "scale must be a positive integer"),
    ],
)
def test_unsupported_scale_is_a_clear_error(
    name: str, kwargs: dict[str, object], scale: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(name, scale, **kwargs)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("srcnn", {"kernels": "9-2-5"}, "kernels must be one of"),
        ("srcnn-variant", {"upsampling": "sideways"}, "upsampling must be one of"),
        ("srcnn-variant", {"block": "dense"}, "block must be one of"),
        ("srcnn-variant", {"block": "inception", "width": 6}, "width must be a multiple of 4"),
        ("srcnn-variant", {"depth": 0}, "depth must be a positive integer"),
        ("vdsr", {"depth": 1}, "depth must be at least 2"),
        ("esrcnn", {"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ("srresnet", {"n_blocks": 0}, "n_blocks must be a positive integer"),
        ("espcn", {"width": 8}, "bad options for model 'espcn'"),
        ("srcnn-variant", {"upsampling": "post", "upsampler": "bilinear"},
         "upsampler must be one of subpixel, transposed, unpooling, nearest"),
        ("srcnn-variant", {"upsampling": "pre", "upsampler": "unpooling"},
         "upsampler applies to post and progressive upsampling only"),
        ("rrdbnet", {"num_grow_ch": 0}, "num_grow_ch must be a positive integer"),
        ("lapsrn", {"depth": 0}, "depth must be a positive integer"),
    ],
)
def test_bad_options_are_clear_errors(name: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(name, 2, **kwargs)


def as_tuple(state: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize(("name", "model"), all_small_models(dropout=0.3))
def test_mc_split_matches_forward(name: str, model: SRModel) -> None:
    """forward == mc_suffix(mc_prefix(x)): in eval mode, and in train mode with the same RNG
    state; the prefix (batch first) draws no random numbers, the suffix does."""
    x = lr_batch()
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(x), model.mc_suffix(model.mc_prefix(x)))
        model.train()
        torch.manual_seed(5)
        whole = model(x)
        torch.manual_seed(5)
        split = model.mc_suffix(model.mc_prefix(x))
        torch.manual_seed(6)
        other = model(x)
        torch.manual_seed(7)
        prefix_again = model.mc_prefix(x)
    assert torch.equal(whole, split)
    assert not torch.equal(whole, other), "dropout should make train-mode passes differ"
    pairs = zip(as_tuple(model.mc_prefix(x)), as_tuple(prefix_again), strict=True)
    assert all(a.shape[0] == 2 and torch.equal(a, b) for a, b in pairs)


def test_esrcnn_matches_the_seed_architecture() -> None:
    model = build_model("esrcnn", 2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(9, 9), (1, 1), (5, 5)]
    assert [c.out_channels for c in convs] == [64, 32, 3]
    drops = model.dropout_layers()
    assert [type(d) for d in drops] == [nn.Dropout, nn.Dropout]
    assert [d.p for d in drops] == [0.04, 0.04]
    assert model.has_dropout
    x = lr_batch()
    with torch.no_grad():
        expected = F.relu(convs[0](imresize(x, scale=2, kernel="cubic")))
        assert torch.allclose(model.mc_prefix(x), expected, atol=1e-6)


def test_srresbnn_has_one_channel_dropout_before_the_skip() -> None:
    model = small("srresbnn", 4).eval()
    drops = model.dropout_layers()
    assert len(drops) == 1 and isinstance(drops[0], nn.Dropout2d) and drops[0].p == 0.2
    with torch.no_grad():
        trunk, head = model.mc_prefix(lr_batch())
    assert trunk.shape == head.shape == (2, 8, 7, 9)


@pytest.mark.parametrize(
    "name", ["srcnn", "fsrcnn", "espcn", "vdsr", "srresnet", "edsr-baseline", "rrdbnet", "lapsrn"]
)
def test_dropout_defaults_to_off_and_is_found_when_on(name: str) -> None:
    assert not small(name, 2).has_dropout
    model = small(name, 2, dropout=0.1)
    assert model.has_dropout
    assert all(d.p == 0.1 for d in model.dropout_layers())


def test_rrdbnet_has_esrgan_blocks_and_no_batch_norm() -> None:
    model = build_model("rrdbnet", 4, num_feat=8, num_block=2, num_grow_ch=4)
    assert sum(isinstance(m, RRDB) for m in model.modules()) == 2
    dense = [m for m in model.modules() if isinstance(m, ResidualDenseBlock)]
    assert len(dense) == 6
    assert [c.in_channels for c in dense[0].convs] == [8, 12, 16, 20, 24]
    assert [c.out_channels for c in dense[0].convs] == [4, 4, 4, 4, 8]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)} == {0.2}
    ups = [m for m in model.upsampler if isinstance(m, nn.Upsample)]
    assert [(u.scale_factor, u.mode) for u in ups] == [(2.0, "nearest")] * 2
    with torch.no_grad():
        trunk, head = model.mc_prefix(lr_batch())
    assert trunk.shape == head.shape == (2, 8, 7, 9)
    assert build_model("esrgan", 2).init_kwargs == {
        "scale": 2, "in_channels": 3, "num_feat": 64, "num_block": 23, "num_grow_ch": 32,
        "dropout": 0.0, "residual": False,
    }


def test_rrdbnet_residual_adds_bicubic() -> None:
    model = small("rrdbnet", 2, residual=True).eval()
    last = model.tail[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    x = lr_batch()
    with torch.no_grad():
        assert torch.allclose(model(x), imresize(x, scale=2, kernel="cubic"), atol=1e-6)


def test_lapsrn_pyramid_levels_and_bilinear_start() -> None:
    model = small("lapsrn", 8).eval()
    x = lr_batch()
    with torch.no_grad():
        levels = model.pyramid(x)
        assert [t.shape[-2:] for t in levels] == [(14, 18), (28, 36), (56, 72)]
        assert torch.equal(model(x), levels[-1])
    transposed = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(transposed) == 6  # a feature and an image upsampler per level
    assert [(m.kernel_size, m.stride) for m in transposed] == [((4, 4), (2, 2))] * 6
    # with no residual the image branch enlarges bilinearly (inside the border)
    level = small("lapsrn", 2).eval().levels[0]
    taps = torch.tensor([1.0, 3, 3, 1]) / 4
    assert torch.allclose(bilinear_kernel(2), taps[:, None] * taps[None, :])
    with torch.no_grad():
        up = level.upsample_image(x)
        bilinear = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(up[..., 1:-1, 1:-1], bilinear[..., 1:-1, 1:-1], atol=1e-6)


def test_vdsr_with_zero_residual_is_bicubic() -> None:
    model = small("vdsr", 3).eval()
    last = model.body[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    x = lr_batch()
    with torch.no_grad():
        assert torch.allclose(model(x), imresize(x, scale=3, kernel="cubic"), atol=1e-6)


def test_heteroscedastic_model_predicts_mean_and_logvar() -> None:
    model = small("hetero-srresnet", 2).eval()
    assert getattr(model, "heteroscedastic", False) is True
    assert getattr(small("srresnet", 2), "heteroscedastic", False) is False
    x = lr_batch()
    with torch.no_grad():
        mean, logvar = model.predict_mean_logvar(x)
        assert mean.shape == logvar.shape == (2, 3, 14, 18)
        assert torch.equal(model(x), mean)
        assert not torch.equal(mean, logvar)
        state = model.mc_prefix(x)
        assert torch.equal(model.mc_suffix_mean_logvar(state)[1], logvar)


def test_discriminator_scores_any_patch_size() -> None:
    torch.manual_seed(0)
    disc = Discriminator(channels=4, hidden=8)
    assert not isinstance(disc, SRModel)
    assert disc.init_kwargs == {"in_channels": 3, "channels": 4, "hidden": 8}
    for size in (24, 37):
        assert disc(torch.rand(2, 3, size, size)).shape == (2, 1)
    strides = [m.stride for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert strides.count((2, 2)) == 4
    assert ADVERSARIAL_MODELS == {"srgan", "esrgan"}
    assert MODELS["srgan"] is MODELS["srresnet"]
    assert MODELS["esrgan"] is MODELS["rrdbnet"]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_init_kwargs_rebuild_the_model(name: str) -> None:
    model = small(name, odd_scale(name), in_channels=1).eval()
    spec = json.loads(json.dumps(model.init_kwargs))
    assert spec["scale"] == odd_scale(name) and spec["in_channels"] == 1
    rebuilt = build_model(name, **spec).eval()
    rebuilt.load_state_dict(model.state_dict())
    x = lr_batch(channels=1)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_init_kwargs_of_a_variant_and_a_subclass() -> None:
    assert variant("iterative", "inception", 2).init_kwargs == {
        "scale": 2,
        "in_channels": 3,
        "upsampling": "iterative",
        "block": "inception",
        "depth": 1,
        "width": 8,
        "projections": 2,
        "dropout": 0.0,
        "upsampler": "subpixel",
    }
    assert build_model("srresbnn", 4).init_kwargs["dropout"] == 0.2


@pytest.mark.parametrize("name", sorted(SMALL))
def test_weights_round_trip_through_torch_save(name: str, tmp_path: Path) -> None:
    model = small(name, 2).eval()
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    torch.manual_seed(123)  # a differently initialised twin
    twin = build_model(name, **model.init_kwargs).eval()
    twin.load_state_dict(torch.load(path, weights_only=True))
    x = lr_batch()
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("srcnn", {}),
        ("edsr-baseline", {}),
        ("srresbnn", {}),
        ("rrdbnet", {}),
        ("lapsrn", {}),
        ("srcnn-variant", {"upsampler": "transposed"}),
        ("srcnn-variant", {"upsampler": "unpooling"}),
    ],
)
def test_a_few_adam_steps_lower_the_loss(name: str, overrides: dict[str, object]) -> None:
    model = small(name, 2, **overrides)
    coarse = torch.rand(4, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    hr = imresize(coarse, size=(16, 16)).clamp(0, 1)  # smooth, so it can be learned
    lr = imresize(hr, scale=0.5)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.eval()  # deterministic loss: no dropout, BN on running statistics
    with torch.no_grad():
        before = F.mse_loss(model(lr), hr).item()
    model.train()
    torch.manual_seed(0)
    for _ in range(15):
        optimiser.zero_grad()
        F.mse_loss(model(lr), hr).backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        after = F.mse_loss(model(lr), hr).item()
    assert after < 0.5 * before


def test_the_registry_holds_the_baselines_and_classical_methods_of_models() -> None:
    """MODELS names every model of this package: the interpolation baselines and the
    classical methods (not trained) beside the networks; an unknown name is one line."""
    assert {"nearest", "bilinear", "bicubic", "lanczos", "sparse-coding", "fd"} <= set(MODELS)
    assert not any(MODELS[name].trainable for name in ("sparse-coding", "fd"))
    assert all(cls.__module__.startswith("sruq.models.") for cls in MODELS.values())
    with pytest.raises(ValueError, match=r"^unknown model 'magic' \(known: bicubic, ") as err:
        build_model("magic", 2)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_registry_knows_dropout_without_building(name):
    import inspect

    takes_dropout = "dropout" in inspect.signature(MODELS[name].__init__).parameters
    for kwargs in ({}, {"dropout": 0.1}, {"dropout": 0.0}) if takes_dropout else ({},):
        assert has_dropout(name, kwargs) == build_model(name, 2, **kwargs).has_dropout, kwargs
