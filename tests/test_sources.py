"""The uncertainty sources' registry, and the test-time sampling sources: input-noise TTA
and MC-BatchNorm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from sruq.models import MODELS, build_model, has_batch_norm
from sruq.pipeline.methods import KINDS, SPREAD_VARIANTS, UNCERTAIN_KINDS
from sruq.uncertainty.settings import MCSettings
from sruq.uncertainty.sources import (
    SOURCES,
    MCBatchNormSource,
    TTASource,
    UncertaintySource,
    build_source,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def small_srresnet(in_channels: int = 3, dropout: float = 0.0) -> torch.nn.Module:
    """A tiny SRResNet with trained-looking BatchNorm statistics and weights of seed 0."""
    torch.manual_seed(0)
    name = "srresbnn" if dropout else "srresnet"
    model = build_model(name, 2, in_channels=in_channels, n_blocks=1, channels=8,
                        dropout=dropout)
    with torch.no_grad():
        for layer in model.batch_norm_layers():
            layer.running_mean.uniform_(-0.2, 0.2)
            layer.running_var.uniform_(0.5, 2.0)
    return model.eval()


def patches(n: int, channels: int = 3, side: int = 8, seed: int = 1) -> TensorDataset:
    """``n`` random (lr, hr) training pairs, as a PatchDataset gives them."""
    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(n, channels, side, side, generator=g)
    return TensorDataset(lr, torch.zeros(n, channels, 2 * side, 2 * side))


def lr_image(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_tta_std_is_zero_without_noise_and_grows_with_it() -> None:
    model = small_srresnet()
    x = lr_image(1, 3, 6, 7)
    still = TTASource(model, 4, 0.0, seed=3).sample(x)
    assert still.mean.shape == still.std.shape == (1, 3, 12, 14) and still.samples == 4
    assert float(still.std.max()) == 0.0
    assert torch.allclose(still.mean, still.one_pass, atol=1e-6)
    small, large = (float(TTASource(model, 6, s, seed=3).sample(x).std.mean())
                    for s in (0.01, 0.05))
    assert 0 < small < large
    with torch.no_grad():
        assert torch.equal(still.one_pass, model(x))  # the one pass: no noise


def test_tta_is_seeded_and_restores_dropout_mode() -> None:
    model = small_srresnet(dropout=0.5).train()
    x = lr_image(1, 3, 5, 5)
    a, b = (TTASource(model, 3, 0.02, seed=7).forward_with_spread(x) for _ in range(2))
    c = TTASource(model, 3, 0.02, seed=8).forward_with_spread(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    assert model.training and model.dropout.training
    model.eval()
    with torch.no_grad():  # dropout off: std zero without noise despite p = 0.5
        assert float(TTASource(model, 3, 0.0).sample(x).std.max()) == 0.0


def test_mcbn_std_is_zero_with_one_fixed_batch_and_positive_otherwise() -> None:
    model = small_srresnet()
    x = lr_image(1, 3, 6, 6)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    fixed = MCBatchNormSource(model, patches(4), 5, batch=4, seed=0).sample(x)
    assert fixed.mean.shape == fixed.std.shape == (1, 3, 12, 12)
    assert float(fixed.std.max()) == 0.0
    assert not torch.allclose(fixed.mean, fixed.one_pass, atol=1e-3)  # batch, not running stats
    drawn = MCBatchNormSource(model, patches(32), 5, batch=4, seed=0).sample(x)
    assert float(drawn.std.mean()) > 1e-4
    assert torch.equal(drawn.one_pass, fixed.one_pass)
    for key, value in model.state_dict().items():  # running statistics and modes restored
        assert torch.equal(value, state[key]), key
    assert not any(m.training for m in model.modules())
    assert all(layer.momentum == 0.1 for layer in model.batch_norm_layers())


def test_mcbn_normalises_as_training_mode_does_on_its_batch() -> None:
    """With the test image itself as the one training patch, each pass is the model in
    training mode on that image (its batch statistics, biased variance)."""
    model = small_srresnet()
    x = lr_image(2, 3, 8, 8)
    own = TensorDataset(x, torch.zeros(2, 3, 16, 16))
    result = MCBatchNormSource(model, own, 2, batch=2).sample(x)
    reference = small_srresnet().train()
    with torch.no_grad():
        expected = reference(x)
    assert torch.allclose(result.mean, expected, atol=1e-5)
    assert float(result.std.max()) < 1e-6


def test_mcbn_is_seeded_and_checks_its_inputs() -> None:
    model = small_srresnet()
    x = lr_image(1, 3, 5, 5)
    a, b = (MCBatchNormSource(model, patches(16), 3, batch=4, seed=2).sample(x)
            for _ in range(2))
    c = MCBatchNormSource(model, patches(16), 3, batch=4, seed=3).sample(x)
    assert torch.equal(a.mean, b.mean) and torch.equal(a.std, b.std)
    assert not torch.equal(a.std, c.std)
    with pytest.raises(ValueError, match="needs BatchNorm layers"):
        MCBatchNormSource(build_model("espcn", 2, n1=8, n2=4), patches(8), 2, batch=4)
    with pytest.raises(ValueError, match="more than the 8 training patches"):
        MCBatchNormSource(model, patches(8), 2, batch=9)
    with pytest.raises(ValueError, match="patches have 1 channels, the model takes 3"):
        MCBatchNormSource(model, patches(8, channels=1), 2, batch=4)
    for source in (MCBatchNormSource(model, patches(8), 2, batch=4), TTASource(model)):
        assert isinstance(source, UncertaintySource)


def test_y_model_on_a_colour_image_keeps_one_std_channel() -> None:
    model = small_srresnet(in_channels=1)
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    settings = MCSettings(samples=3, tta_noise=0.02)
    tta = TTASource(model, settings.samples, settings.tta_noise, seed=1)
    mcbn = MCBatchNormSource(model, patches(8, channels=1), settings.samples, 4, seed=1)
    for result, box in (tta.predict("colour", lr), mcbn.predict("colour", lr)):
        assert box == (0, 0, 9, 7) and result.samples == 3
        assert result.mean.shape == result.one_pass.shape == (3, 18, 14)
        assert result.std.shape == (1, 18, 14) and float(result.std.mean()) > 0
    grey = rng.integers(0, 256, (6, 6, 1), dtype=np.uint8)  # grey through an RGB model
    result, _ = TTASource(small_srresnet(), 3, 0.02, seed=1).predict("grey", grey)
    assert result.mean.shape == result.std.shape == (1, 12, 12)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_registry_knows_batch_norm_without_building(name: str) -> None:
    assert has_batch_norm(name) == bool(build_model(name, 2).batch_norm_layers()), name


def test_settings_check_the_sampling_options() -> None:
    assert MCSettings().tta_noise == 0.01 and MCSettings().mcbn_batch is None
    for bad in ({"tta_noise": -0.01}, {"tta_noise": float("nan")}, {"tta_noise": True},
                {"mcbn_batch": 0}, {"mcbn_batch": 2.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            MCSettings(**bad)


def test_the_infer_stage_runs_mcbn_and_tta_variants_on_a_folder(tmp_path) -> None:
    """``spread_method`` with a +mcbn variant reads the model's patch set (batch: the
    model's train.batch_size unless mc.mcbn_batch) and writes both folders; +tta too."""
    from sruq.core.io import write_image
    from sruq.data.patchset import write_patch_set
    from sruq.models.checkpoint import save_weights
    from sruq.stages.infer import Method, spread_method

    weights = tmp_path / "weights.pt"
    save_weights(weights, small_srresnet(), "srresnet", 0, None)
    rng = np.random.default_rng(0)
    lr_dir, hr_dir = tmp_path / "lr", tmp_path / "hr"
    for name in ("a", "b"):
        write_image(lr_dir / f"{name}.png", rng.integers(0, 256, (8, 10, 3), dtype=np.uint8))
        write_image(hr_dir / f"{name}.png", rng.integers(0, 256, (16, 20, 3), dtype=np.uint8))
    patch_dir = tmp_path / "patches"
    write_patch_set(patch_dir, rng.integers(0, 256, (6, 3, 8, 8), dtype=np.uint8),
                    rng.integers(0, 256, (6, 3, 16, 16), dtype=np.uint8), {})
    common = dict(device="cpu", hr_dir=hr_dir, mc={"samples": 3}, heatmap={"details": 0},
                  seed=0, patches=patch_dir)
    for method in ("srresnet+mcbn", "srresnet+tta"):
        sr, unc = tmp_path / method / "sr", tmp_path / method / "unc"
        spread_method(Method(method, 2, weights=weights), lr_dir, sr, unc, train_batch=4,
                      **common)
        assert sorted(p.name for p in sr.iterdir()) == ["a.png", "b.png"]
        std = np.load(unc / "a" / "std.npy")
        assert std.shape == (16, 20, 3) and std.max() > 0, method
    with pytest.raises(ValueError, match=r"mc\.mcbn_batch: 8 patches per batch, but .* holds "
                                         r"only 6"):
        spread_method(Method("srresnet+mcbn", 2, weights=weights), lr_dir, tmp_path / "sr",
                      tmp_path / "unc", train_batch=8, **common)
    with pytest.raises(ValueError, match=r"'srresnet\+edge-post' has no spread"):
        spread_method(Method("srresnet+edge-post", 2, weights=weights), lr_dir,
                      tmp_path / "sr", tmp_path / "unc", **common)


def test_one_name_per_source_across_the_registry_the_kinds_and_the_cli() -> None:
    """Each source's registry key is its class's name, its methods' kind and its
    ``--source``; a +variant with a spread is named as its source."""
    from sruq.cli.source import SOURCE_HELP

    assert all(cls.name == name for name, cls in SOURCES.items())
    assert set(SOURCES) == set(UNCERTAIN_KINDS) == set(SOURCE_HELP)
    assert set(UNCERTAIN_KINDS) <= set(KINDS) and set(SPREAD_VARIANTS) <= set(SOURCES)


def test_build_source_checks_what_each_source_needs() -> None:
    settings = MCSettings(samples=3)
    model = small_srresnet()
    assert [type(build_source(n, [model], settings)).__name__ for n in ("mc", "x8", "tta")] \
        == ["MCDropoutSource", "SelfEnsembleSource", "TTASource"]
    assert build_source("mc", [model], settings).passes == 1  # no dropout: one pass
    assert build_source("mc", [small_srresnet(dropout=0.1)], settings).passes == 3
    with pytest.raises(ValueError, match="unknown uncertainty source 'mc-batchnorm'"):
        build_source("mc-batchnorm", [model], settings)
    with pytest.raises(ValueError, match="source 'x8' takes one model, got 2"):
        build_source("x8", [model, model], settings)
    with pytest.raises(ValueError, match="needs the training patches"):
        build_source("mcbn", [model], settings)
    with pytest.raises(ValueError, match="at least 2 ensemble members"):
        build_source("ensemble", [model], settings)
    with pytest.raises(ValueError, match=r"samples must be an integer of at least 2"):
        TTASource(model, 1)


def test_each_image_draws_its_own_samples_whatever_the_order() -> None:
    """A source seeds an image's samples from its seed, its name and the image's name."""
    model = small_srresnet()
    lr = np.random.default_rng(3).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    source = TTASource(model, 3, 0.05, seed=4)
    first, _ = source.predict("a", lr)
    source.predict("b", lr)
    again, _ = source.predict("a", lr)
    other, _ = source.predict("b", lr)
    assert torch.equal(first.std, again.std) and not torch.equal(first.std, other.std)
    assert source.image_seed("a") != TTASource(model, 3, 0.05, seed=5).image_seed("a")
