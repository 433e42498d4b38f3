"""Loss terms on tiny tensors with known values, and the weighted composite from a spec."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sruq.train.losses import (
    DISCRIMINATOR_LOSSES,
    LOSSES,
    CharbonnierLoss,
    GaussianNLLLoss,
    MissingExtraError,
    PerceptualLoss,
    TextureLoss,
    TotalVariationLoss,
    build_loss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    gram_matrix,
    relativistic_discriminator_loss,
    relativistic_generator_loss,
)


def torchvision_imports() -> bool:
    """Whether ``import torchvision`` works (a build for another torch raises RuntimeError)."""
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError):
        return False
    return True


HAS_TORCHVISION = torchvision_imports()


def pair() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 5, 6, generator=gen), torch.rand(2, 3, 5, 6, generator=gen)


def test_mse_and_l1_known_values() -> None:
    pred, target = torch.zeros(1, 1, 1, 2), torch.tensor([[[[1.0, -3.0]]]])
    loss = build_loss({"mse": 1.0, "l1": 1.0})
    total, parts = loss(pred, target)
    assert parts["mse"].item() == pytest.approx(5.0)
    assert parts["l1"].item() == pytest.approx(2.0)
    assert total.item() == pytest.approx(7.0)


def test_charbonnier_is_eps_at_zero_and_close_to_l1_far_away() -> None:
    x = torch.rand(2, 3, 4, 4)
    assert CharbonnierLoss()(x, x).item() == pytest.approx(1e-3, rel=1e-6)
    diff = torch.tensor([[[[0.0, 0.5]]]])
    expected = (1e-3 + math.sqrt(0.25 + 1e-6)) / 2
    assert CharbonnierLoss()(diff, torch.zeros_like(diff)).item() == pytest.approx(expected)
    assert CharbonnierLoss(eps=0.1)(x, x).item() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="eps must be positive"):
        CharbonnierLoss(eps=0.0)


def test_gaussian_nll_matches_torch_up_to_the_constant() -> None:
    pred, target = pair()
    logvar = torch.randn(pred.shape, generator=torch.Generator().manual_seed(3))
    ours = GaussianNLLLoss()(pred, target, logvar=logvar)
    ref = F.gaussian_nll_loss(pred, target, logvar.exp())
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    full = GaussianNLLLoss(full=True)(pred, target, logvar=logvar)
    assert (full - ours).item() == pytest.approx(0.5 * math.log(2 * math.pi), rel=1e-5)


def test_gaussian_nll_is_lowest_at_the_true_variance() -> None:
    pred, target = torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.3)
    values = {
        s: GaussianNLLLoss()(pred, target, torch.full_like(pred, s)).item()
        for s in (math.log(0.09) - 1, math.log(0.09), math.log(0.09) + 1)
    }
    assert min(values, key=values.get) == pytest.approx(math.log(0.09))


def test_gram_matrix_known_value() -> None:
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])  # (1, 2, 1, 2)
    expected = torch.tensor([[[5.0, 3.0], [3.0, 9.0]]]) / 4
    assert torch.allclose(gram_matrix(features), expected)


def test_texture_loss_on_pixels_and_on_given_features() -> None:
    pred, target = pair()
    texture = TextureLoss()
    assert texture(target, target).item() == 0.0
    expected = F.mse_loss(gram_matrix(pred), gram_matrix(target))
    assert texture(pred, target).item() == pytest.approx(expected.item())
    # a spatial shift keeps the Gram matrix (texture), unlike a pixel loss
    rolled = torch.roll(target, shifts=2, dims=3)
    assert texture(rolled, target).item() == pytest.approx(0.0, abs=1e-7)
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3)
    two_maps = TextureLoss(lambda x: [conv(x), torch.relu(conv(x))])
    pred.requires_grad_(True)
    value = two_maps(pred, target)
    value.backward()
    assert value.item() > 0 and pred.grad is not None and pred.grad.abs().sum() > 0


def test_adversarial_losses_both_sides() -> None:
    zeros = torch.zeros(4, 1)
    assert generator_adversarial_loss(zeros).item() == pytest.approx(math.log(2))
    assert discriminator_adversarial_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    confident = discriminator_adversarial_loss(torch.full((4, 1), 20.0), torch.full((4, 1), -20.0))
    assert confident.item() < 1e-8
    pred, target = pair()
    loss = build_loss({"adversarial": 1e-3})
    assert loss.extra_inputs == {"fake_logits"}
    total, parts = loss(pred, target, fake_logits=zeros)
    assert total.item() == pytest.approx(1e-3 * math.log(2))


def softplus(z: float) -> float:
    """``log(1 + e^z)``: BCE with logits of ``-z`` against 1, of ``z`` against 0."""
    return math.log1p(math.exp(z))


def test_relativistic_losses_match_hand_computed_values() -> None:
    real, fake = torch.tensor([[3.0], [1.0]]), torch.tensor([[0.0], [-1.0]])
    # mean real logit 2, mean fake logit -0.5: real - mean(fake) = 3.5, 1.5 and
    # fake - mean(real) = -2, -3; D wants the first high and the second low, G the opposite
    d = ((softplus(-3.5) + softplus(-1.5)) / 2 + (softplus(-2) + softplus(-3)) / 2) / 2
    g = ((softplus(3.5) + softplus(1.5)) / 2 + (softplus(2) + softplus(3)) / 2) / 2
    assert relativistic_discriminator_loss(real, fake).item() == pytest.approx(d, rel=1e-6)
    assert relativistic_generator_loss(real, fake).item() == pytest.approx(g, rel=1e-6)
    zeros = torch.zeros(4, 1)
    assert relativistic_generator_loss(zeros, zeros).item() == pytest.approx(math.log(2))
    assert DISCRIMINATOR_LOSSES == {"vanilla": discriminator_adversarial_loss,
                                    "relativistic": relativistic_discriminator_loss}
    # both nets learn from both sets of logits
    real.requires_grad_(True)
    fake.requires_grad_(True)
    relativistic_generator_loss(real, fake).backward()
    assert real.grad is not None and real.grad.abs().sum() > 0 and fake.grad.abs().sum() > 0


def test_adversarial_term_of_each_gan_type() -> None:
    pred, target = pair()
    real, fake = torch.tensor([[3.0], [1.0]]), torch.tensor([[0.0], [-1.0]])
    vanilla = build_loss({"adversarial": {"weight": 2.0, "gan_type": "vanilla"}})
    assert vanilla.extra_inputs == {"fake_logits"}
    total, _ = vanilla(pred, target, fake_logits=fake)
    assert total.item() == pytest.approx(2 * generator_adversarial_loss(fake).item())
    ragan = build_loss({"adversarial": {"weight": 2.0, "gan_type": "relativistic"}})
    assert ragan.extra_inputs == {"fake_logits", "real_logits"}
    total, _ = ragan(pred, target, fake_logits=fake, real_logits=real)
    assert total.item() == pytest.approx(2 * relativistic_generator_loss(real, fake).item())
    with pytest.raises(ValueError, match="needs the keyword input 'real_logits'"):
        ragan(pred, target, fake_logits=fake)
    with pytest.raises(ValueError, match="gan_type must be one of vanilla, relativistic"):
        build_loss({"adversarial": {"weight": 1.0, "gan_type": "wgan"}})


def test_total_variation_known_value_ignores_the_target() -> None:
    x = torch.tensor([[[[0.0, 1, 3], [2, 2, 0], [1, 4, 4]]]])
    # down: |2-0|+|2-1|+|0-3| + |1-2|+|4-2|+|4-0| = 13; right: 1+2 + 0+2 + 3+0 = 8
    assert TotalVariationLoss()(x, torch.rand(1, 1, 3, 3)).item() == pytest.approx(21 / 9)
    assert TotalVariationLoss()(torch.full((2, 3, 4, 5), 0.7), x).item() == 0.0
    total, parts = build_loss({"mse": 1.0, "tv": 2e-8})(x, x)
    assert parts["tv"].item() == pytest.approx(21 / 9)
    assert total.item() == pytest.approx(2e-8 * 21 / 9)


def test_build_loss_weighted_sum_and_parts() -> None:
    pred, target = pair()
    loss = build_loss({"l1": 1.0, "texture": 0.01, "charbonnier": {"weight": 2, "eps": 1e-6}})
    total, parts = loss(pred, target)
    assert set(parts) == {"l1", "texture", "charbonnier"}
    assert parts["l1"].item() == pytest.approx(F.l1_loss(pred, target).item())
    assert parts["charbonnier"].item() == pytest.approx(F.l1_loss(pred, target).item(), rel=1e-4)
    expected = parts["l1"] + 0.01 * parts["texture"] + 2 * parts["charbonnier"]
    assert total.item() == pytest.approx(expected.item())
    assert loss.extra_inputs == frozenset()


def test_build_loss_gaussian_nll_needs_logvar() -> None:
    pred, target = pair()
    loss = build_loss({"gaussian_nll": 1.0, "l1": 0.5})
    assert loss.extra_inputs == {"logvar"}
    logvar = torch.zeros_like(pred)
    total, parts = loss(pred, target, logvar=logvar)
    assert parts["gaussian_nll"].item() == pytest.approx(0.5 * F.mse_loss(pred, target).item())
    with pytest.raises(ValueError, match="loss 'gaussian_nll' needs the keyword input 'logvar'"):
        loss(pred, target)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"l3": 1.0}, "unknown loss 'l3'"),
        ({"l1": -0.5}, "loss 'l1' needs a finite non-negative weight, got -0.5"),
        ({"mse": float("nan")}, "loss 'mse' needs a finite non-negative weight"),
        ({"mse": "1"}, "loss 'mse' needs a finite non-negative weight"),
        ({"charbonnier": {"eps": 1e-3}}, "loss 'charbonnier' needs a finite non-negative weight"),
        ({"charbonnier": {"weight": 1, "epsilon": 1}}, "bad options for loss 'charbonnier'"),
        ({}, "loss spec must be a non-empty mapping"),
    ],
)
def test_build_loss_rejects_bad_specs(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_loss(spec)


def test_registry_names() -> None:
    assert set(LOSSES) == {
        "mse",
        "l1",
        "charbonnier",
        "texture",
        "adversarial",
        "perceptual",
        "gaussian_nll",
        "tv",
    }


def test_perceptual_rejects_an_unknown_layer_before_anything_else() -> None:
    with pytest.raises(ValueError, match="unknown VGG19 layer 'relu9_9'"):
        PerceptualLoss(layer="relu9_9")


@pytest.mark.skipif(HAS_TORCHVISION, reason="checks the message shown without torchvision")
def test_perceptual_without_torchvision_says_what_to_install() -> None:
    assert issubclass(MissingExtraError, RuntimeError)
    with pytest.raises(MissingExtraError) as info:
        build_loss({"l1": 1.0, "perceptual": 0.006})
    message = str(info.value)
    assert "\n" not in message
    assert "torchvision" in message and 'pip install "sruq[lpips]"' in message


@pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision is not importable here")
def test_perceptual_with_local_weights(tmp_path: Path) -> None:
    from torchvision.models import vgg19

    torch.manual_seed(0)
    features = vgg19(weights=None).features[:4]  # conv1_1 .. relu1_2
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    loss = PerceptualLoss(layer="relu1_2", weights_path=path)
    pred, target = pair()
    assert loss(target, target).item() == 0.0
    assert loss(pred, target).item() > 0
    assert loss(pred[:, :1], target[:, :1]).item() > 0
    assert not any(p.requires_grad for p in loss.parameters())
