"""The trainer on tiny models and tiny patch sets: learning, resuming, files, failures."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from sruq.core.errors import ConfigError, MissingExtraError
from sruq.data.patches import PatchConfig, PatchDataset, make_patches, write_patch_set
from sruq.models.checkpoint import load_trained, read_weights
from sruq.train import TrainConfig, TrainingDiverged, check_requirements, lr_factor, train_model

BICUBIC = {"steps": [{"op": "downscale", "mode": "matlab_bicubic"}]}
TINY_ESPCN = {"in_channels": 1, "n1": 8, "n2": 4}


def smooth_image(rng: np.random.Generator, size: int, channels: int) -> np.ndarray:
    """A smooth random uint8 image (what SR can learn quickly): blurred noise."""
    noise = rng.random((size // 4, size // 4, channels))
    big = np.kron(noise, np.ones((4, 4, 1)))
    return (255 * big).astype(np.uint8)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def patch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 one-channel LR 8x8 / HR 16x16 patch pairs (x2) from two random images."""
    rng = np.random.default_rng(0)
    images = [smooth_image(rng, 64, 3) for _ in range(2)]
    lr, hr = make_patches(images, 2, BICUBIC, PatchConfig(lr_size=8, per_image=32), 1, seed=0)
    path = tmp_path_factory.mktemp("patches") / "set"
    write_patch_set(path, lr, hr, {"scale": 2})
    return path


@pytest.fixture(scope="module")
def valid_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    from sruq.degrade import matlab_downscale_uint8

    hr = smooth_image(np.random.default_rng(1), 32, 3)
    return [(matlab_downscale_uint8(hr, 2), hr)]


def config(**values: object) -> TrainConfig:
    base: dict[str, object] = {"iterations": 6, "batch_size": 4, "lr": 3e-3, "log_every": 1,
                               "valid_every": 3, "checkpoint_every": 3, "scheduler": "none"}
    return TrainConfig.from_dict({**base, **values})


def read_log(out: Path) -> list[dict[str, str]]:
    with open(out / "log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def scramble_global_rngs() -> None:
    random.seed(99)
    np.random.seed(99)  # noqa: NPY002 - the global state the trainer must restore
    torch.manual_seed(99)


class KilledAfter(Dataset):
    """A patch set that dies (as a killed process would) once ``limit`` items were read."""

    def __init__(self, base: Dataset, limit: int) -> None:
        self.base, self.limit, self.reads = base, limit, 0

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def fingerprint(self) -> str:
        return self.base.fingerprint()  # type: ignore[attr-defined]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.reads += 1
        if self.reads > self.limit:
            raise KeyboardInterrupt("killed")
        return self.base[index]


class PoisonedAfter(KilledAfter):
    """A patch set whose HR targets become NaN once ``limit`` items were read."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.reads += 1
        lr, hr = self.base[index]
        return (lr, torch.full_like(hr, float("nan"))) if self.reads > self.limit else (lr, hr)


def test_training_lowers_the_loss_and_writes_every_file(
    patch_dir: Path, valid_pairs: list, tmp_path: Path
) -> None:
    cfg = config(iterations=30, log_every=5, valid_every=10, checkpoint_every=10, ema=0.5)
    result = train_model("espcn", TINY_ESPCN, 2, PatchDataset(patch_dir), valid_pairs, cfg,
                         tmp_path, progress=False)
    rows = read_log(tmp_path)
    assert [int(r["iteration"]) for r in rows] == [5, 10, 15, 20, 25, 30]
    assert float(rows[-1]["loss"]) < 0.5 * float(rows[0]["loss"])
    assert {"l1", "valid_psnr", "lr", "img_per_s", "elapsed_s"} <= set(rows[0])
    assert [r["iteration"] for r in rows if r["valid_psnr"]] == ["10", "20", "30"]
    assert result["iterations"] == 30 and result["stopped_by"] == "iterations"
    assert result["best_valid_psnr"] == max(float(r["valid_psnr"]) for r in rows if r["valid_psnr"])
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


def test_weights_round_trip_through_load_trained(
    patch_dir: Path, valid_pairs: list, tmp_path: Path
) -> None:
    train_model("espcn", TINY_ESPCN, 2, PatchDataset(patch_dir), valid_pairs, config(),
                tmp_path, progress=False)
    payload = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert payload["arch"] == "espcn" and payload["scale"] == 2
    assert payload["kwargs"]["n1"] == 8 and payload["iteration"] in (3, 6)
    model = load_trained(tmp_path / "weights.pt")
    x = torch.rand(1, 1, 9, 7)
    from sruq.models import build_model

    again = build_model("espcn", **payload["kwargs"])
    again.load_state_dict(payload["state_dict"])
    with torch.no_grad():
        assert torch.equal(model(x), again.eval()(x))
    assert model.training is False


def test_load_trained_names_a_file_that_is_not_a_weight_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pt: not a sruq weight file"):
        load_trained(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="other.pt: not a sruq weight file"):
        read_weights(other)


def test_killed_run_resumes_as_if_never_stopped(patch_dir: Path, tmp_path: Path) -> None:
    """6 steps in one go == 3 steps, a kill, then a fresh trainer continuing from last.pt."""
    cfg = config(scheduler="cosine", ema=0.9, seed=3)
    model = {"in_channels": 1, "n1": 8, "n2": 4, "dropout": 0.2}  # dropout uses the RNG
    whole, split = tmp_path / "whole", tmp_path / "split"
    train_model("espcn", model, 2, PatchDataset(patch_dir), [], cfg, whole, progress=False)
    with pytest.raises(KeyboardInterrupt):
        killed = KilledAfter(PatchDataset(patch_dir), limit=3 * 4 + 2)  # dies in step 4
        train_model("espcn", model, 2, killed, [], cfg, split, progress=False)
    assert torch.load(split / "last.pt", weights_only=True)["iteration"] == 3
    scramble_global_rngs()
    train_model("espcn", model, 2, PatchDataset(patch_dir), [], cfg, split, progress=False)
    keys = ("iteration", "loss", "l1", "lr")
    logs = {name: [[r[k] for k in keys] for r in read_log(name)] for name in (whole, split)}
    assert len(logs[whole]) == 6
    assert logs[split] == logs[whole]  # step 4, the first after the resume, included
    a = torch.load(whole / "last.pt", weights_only=True)
    b = torch.load(split / "last.pt", weights_only=True)
    for key in ("model", "ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    assert a["sampler_drawn"] == b["sampler_drawn"] == 6 * 4


def test_iteration_budget_is_honoured_and_a_finished_run_is_not_extended(
    patch_dir: Path, tmp_path: Path
) -> None:
    cfg = config(iterations=4, checkpoint_every=100, valid_every=100)
    result = train_model("espcn", TINY_ESPCN, 2, PatchDataset(patch_dir), [], cfg, tmp_path,
                         progress=False)
    assert result["iterations"] == 4
    assert torch.load(tmp_path / "last.pt", weights_only=True)["iteration"] == 4
    again = train_model("espcn", TINY_ESPCN, 2, PatchDataset(patch_dir), [], cfg, tmp_path,
                        progress=False)
    assert again["iterations"] == 4 and len(read_log(tmp_path)) == 4
    timed = config(iterations=50, minutes=1e-9)  # any step outlasts this budget
    result = train_model("espcn", TINY_ESPCN, 2, PatchDataset(patch_dir), [], timed,
                         tmp_path / "timed", progress=False)
    assert result["stopped_by"] == "minutes" and result["iterations"] == 1


def test_a_checkpoint_of_other_settings_or_data_is_not_resumed(
    patch_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rerun after the config or the patch set changed trains afresh instead of
    continuing (or, when finished, returning) the stale weights."""
    patches = tmp_path / "patches"
    shutil.copytree(patch_dir, patches)
    out = tmp_path / "out"

    def train(cfg: TrainConfig) -> dict:
        return train_model("espcn", TINY_ESPCN, 2, PatchDataset(patches), [], cfg, out,
                           progress=False)

    cfg = config(iterations=4, checkpoint_every=100, valid_every=100)
    train(cfg)
    first = read_log(out)
    faster = config(iterations=4, checkpoint_every=100, valid_every=100, lr=5e-3)
    assert train(faster)["iterations"] == 4
    assert "last.pt: written for another model, other training settings" in capsys.readouterr().err
    again = read_log(out)
    assert len(again) == 4 and [r["lr"] for r in again] != [r["lr"] for r in first]
    train(faster)
    assert "afresh" not in capsys.readouterr().err  # same settings: resumed (and done)
    meta = json.loads((patches / "meta.json").read_text())
    (patches / "meta.json").write_text(json.dumps({**meta, "note": "rewritten"}))
    train(faster)
    assert "training afresh" in capsys.readouterr().err
    wider = {**TINY_ESPCN, "n2": TINY_ESPCN.get("n2", 4) + 1}  # the model entry changed
    train_model("espcn", wider, 2, PatchDataset(patches), [], faster, out, progress=False)
    assert "training afresh" in capsys.readouterr().err
    assert torch.load(out / "last.pt", weights_only=True)["kwargs"]["n2"] == wider["n2"]


def test_nan_loss_stops_naming_the_iteration_and_keeps_the_last_good_checkpoint(
    patch_dir: Path, tmp_path: Path
) -> None:
    cfg = config(checkpoint_every=2, iterations=10)
    poisoned = PoisonedAfter(PatchDataset(patch_dir), limit=5 * 4)  # step 6 sees NaN targets
    with pytest.raises(TrainingDiverged, match="loss is nan at iteration 6"):
        train_model("espcn", TINY_ESPCN, 2, poisoned, [], cfg, tmp_path, progress=False)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["iteration"] == 4
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert read_weights(tmp_path / "weights.pt")["iteration"] == 4


def test_huge_learning_rate_diverges_with_a_clear_error(patch_dir: Path, tmp_path: Path) -> None:
    cfg = config(lr=1e30, iterations=20, checkpoint_every=1, loss={"mse": 1.0})
    with pytest.raises(TrainingDiverged, match=r"at iteration \d+: training stopped"):
        train_model("espcn", TINY_ESPCN, 2, PatchDataset(patch_dir), [], cfg, tmp_path,
                    progress=False)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["model"].values())


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"iterations": 0}, "iterations"),
        ({"lr": -1.0}, "lr"),
        ({"scheduler": "linear"}, "scheduler"),
        ({"amp": "int8"}, "amp"),
        ({"ema": 1.0}, "ema"),
        ({"betas": [0.9]}, "betas"),
        ({"iterations": None, "minutes": None}, "iterations"),
        ({"gamma": 0}, "gamma"),
        ({"minutes": float("nan")}, "minutes"),
        ({"loss": {"l3": 1.0}}, "loss"),
        ({"batchsize": 4}, "batchsize"),
        ({"channels_last": "yes"}, "channels_last"),
        ({"batch_size": 4.0}, "batch_size"),  # strict types, as in Python
        ({"seed": True}, "seed"),
        ({"minutes": float("inf")}, "minutes"),
        ({"betas": (0.9, 1.0)}, r"betas\.1"),
        ({"discriminator": {"in_channels": 3}}, r"discriminator\.in_channels"),
        ({"gan_type": "wgan"}, "gan_type"),
    ],
)
def test_bad_train_config_names_the_key(values: dict, key: str) -> None:
    """One line naming the key, as the workflow's config check says it (same schema)."""
    with pytest.raises(ConfigError, match=rf"^config key 'models\.net\.train\.{key}'") as info:
        TrainConfig.from_dict(values, "net")
    assert "\n" not in str(info.value)


def test_train_config_keeps_its_defaults_and_stores_floats() -> None:
    cfg = TrainConfig.from_dict({"lr": 1, "minutes": 2, "betas": (0.5, 0.9)}, "net")
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.minutes == 2.0
    assert cfg.betas == (0.5, 0.9) and cfg.batch_size == TrainConfig().batch_size
    assert TrainConfig.from_dict(None) == TrainConfig()


def test_cosine_anneals_over_the_budget_that_runs_out_first() -> None:
    by_steps = TrainConfig.from_dict({"iterations": 100, "scheduler": "cosine"})
    assert lr_factor(by_steps, 0, 1e9) == 1.0 and lr_factor(by_steps, 50, 0.0) == pytest.approx(0.5)
    assert lr_factor(by_steps, 100, 0.0) == pytest.approx(0.0)
    by_time = TrainConfig.from_dict({"iterations": 100, "minutes": 1.0, "scheduler": "cosine"})
    assert lr_factor(by_time, 10, 30.0) == pytest.approx(0.5)  # half the minute used
    step = TrainConfig.from_dict({"scheduler": "step", "step_size": 10, "gamma": 0.5})
    assert lr_factor(step, 9, 0.0) == 1.0 and lr_factor(step, 25, 0.0) == 0.25


def test_bad_patch_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^config key 'models\.net\.patches\.rescales\.0'"):
        PatchConfig.from_dict({"rescales": [1.5]}, "net")
    with pytest.raises(ConfigError, match=r"^config key 'models\.net\.patches\.hr_size'"):
        PatchConfig.from_dict({"hr_size": 48, "lr_size": 24}, "net")
    with pytest.raises(ConfigError, match=r"^config key 'models\.net\.patches\.per_imag'"):
        PatchConfig.from_dict({"per_imag": 4}, "net")


def test_make_patches_rescales_and_converts_to_y() -> None:
    image = smooth_image(np.random.default_rng(2), 64, 3)
    cfg = PatchConfig(lr_size=8, per_image=5, rescales=(1.0, 0.5, 0.2))
    lr, hr = make_patches([image], 2, BICUBIC, cfg, 1, seed=0)
    assert lr.shape == (10, 1, 8, 8) and hr.shape == (10, 1, 16, 16)  # 0.2 is too small
    assert lr.dtype == np.uint8 and 16 <= hr.min() and hr.max() <= 235  # Y range
    again = make_patches([image], 2, BICUBIC, cfg, 1, seed=0)
    assert np.array_equal(again[0], lr) and np.array_equal(again[1], hr)
    by_hr = PatchConfig.from_dict({"hr_size": 24, "per_image": 2})  # LR 12 at x2, 8 at x3
    assert make_patches([image], 3, BICUBIC, by_hr, 3, seed=0)[0].shape == (2, 3, 8, 8)


def test_perceptual_loss_without_torchvision_fails_before_training() -> None:
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError):
        with pytest.raises(MissingExtraError, match="perceptual loss needs torchvision"):
            check_requirements({"l1": 1.0, "perceptual": 0.1})
    else:
        check_requirements({"l1": 1.0, "perceptual": 0.1})
    check_requirements({"l1": 1.0})
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        check_requirements({"perceptual": {"weight": 1.0, "layer": "relu9_9"}})


def test_srgan_trains_its_discriminator(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    images = [smooth_image(rng, 64, 3)]
    lr, hr = make_patches(images, 2, BICUBIC, PatchConfig(lr_size=8, per_image=8), 3, seed=0)
    write_patch_set(tmp_path / "p", lr, hr, {})
    cfg = config(iterations=3, pretrain_iterations=1, batch_size=2, loss={"mse": 1.0},
                 discriminator={"channels": 4, "hidden": 8})
    train_model("srgan", {"n_blocks": 1, "channels": 8}, 2, PatchDataset(tmp_path / "p"), [],
                cfg, tmp_path / "out", progress=False)
    rows = read_log(tmp_path / "out")
    assert rows[0]["d_loss"] == "" and rows[0]["mse"] != ""  # pretraining: pixel loss only
    assert all(float(r["d_loss"]) > 0 and float(r["adversarial"]) > 0 for r in rows[1:])
    state = torch.load(tmp_path / "out" / "last.pt", weights_only=True)
    assert state["discriminator"] is not None and state["d_optimizer"]["state"]


TINY_RRDB = {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}


def test_relativistic_gan_step_updates_both_networks() -> None:
    from sruq.train.losses import relativistic_generator_loss
    from sruq.train.state import new_run
    from sruq.train.step import make_step

    cfg = config(gan_type="relativistic", loss={"l1": 1.0}, adversarial_weight=5e-3,
                 discriminator={"channels": 4, "hidden": 8})
    device = torch.device("cpu")
    run = new_run("esrgan", TINY_RRDB, 2, cfg, device)
    step = make_step("esrgan", run.model, cfg, device, "models.net.train")
    assert step.loss.extra_inputs == {"fake_logits", "real_logits"}
    gen = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 16, 16, generator=gen)
    lr = torch.nn.functional.avg_pool2d(hr, 2)
    generator = [p.detach().clone() for p in run.model.parameters()]
    disc = [p.detach().clone() for p in run.disc.parameters()]
    values = step(run, lr, hr)
    assert {"loss", "l1", "adversarial", "d_loss"} <= set(values)
    assert values["loss"] == pytest.approx(values["l1"] + 5e-3 * values["adversarial"])
    assert values["d_loss"] > 0 and values["adversarial"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(generator, run.model.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(disc, run.disc.parameters()))
    zeros = torch.zeros(2, 1)  # the relativistic term, not the vanilla one, is in the loss
    assert step.loss.terms["adversarial"](hr, hr, zeros, zeros).item() == pytest.approx(
        relativistic_generator_loss(zeros, zeros).item())


def test_esrgan_trains_with_the_relativistic_gan(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    lr, hr = make_patches([smooth_image(rng, 64, 3)], 2, BICUBIC,
                          PatchConfig(lr_size=8, per_image=8), 3, seed=0)
    write_patch_set(tmp_path / "p", lr, hr, {})
    cfg = config(iterations=3, pretrain_iterations=1, batch_size=2, loss={"l1": 1.0},
                 gan_type="relativistic", discriminator={"channels": 4, "hidden": 8})
    train_model("esrgan", TINY_RRDB, 2, PatchDataset(tmp_path / "p"), [], cfg,
                tmp_path / "out", progress=False)
    rows = read_log(tmp_path / "out")
    assert rows[0]["d_loss"] == "" and rows[0]["mse"] != ""  # pretraining on pretrain_loss
    assert all(float(r["d_loss"]) > 0 and float(r["adversarial"]) > 0 for r in rows[1:])
    state = torch.load(tmp_path / "out" / "last.pt", weights_only=True)
    assert state["discriminator"] is not None and state["d_optimizer"]["state"]


def test_total_variation_term_trains_and_is_logged(patch_dir: Path, tmp_path: Path) -> None:
    cfg = config(iterations=8, loss={"mse": 1.0, "tv": 1e-3})
    train_model("espcn", TINY_ESPCN, 2, PatchDataset(patch_dir), [], cfg, tmp_path,
                progress=False)
    rows = read_log(tmp_path)
    assert all(float(r["tv"]) > 0 for r in rows)
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])


def test_heteroscedastic_model_trains_with_nll(patch_dir: Path, tmp_path: Path) -> None:
    model = {"in_channels": 1, "n_blocks": 1, "channels": 8}
    cfg = config(iterations=8)
    train_model("hetero-srresnet", model, 2, PatchDataset(patch_dir), [], cfg, tmp_path,
                progress=False)
    rows = read_log(tmp_path)
    assert "gaussian_nll" in rows[0] and float(rows[-1]["loss"]) < float(rows[0]["loss"])
    with pytest.raises(ValueError, match="gaussian_nll"):
        train_model("hetero-srresnet", model, 2, PatchDataset(patch_dir), [],
                    config(loss={"l1": 1.0}), tmp_path / "l1", progress=False)


def test_bf16_autocast_and_channels_last_train_on_the_cpu(patch_dir: Path, tmp_path: Path) -> None:
    cfg = config(iterations=3, amp="bf16", channels_last=True)
    train_model("espcn", TINY_ESPCN, 2, PatchDataset(patch_dir), [], cfg, tmp_path,
                progress=False, device="cpu")
    rows = read_log(tmp_path)
    assert len(rows) == 3 and all(np.isfinite(float(r["loss"])) for r in rows)
    state = read_weights(tmp_path / "weights.pt")["state_dict"]
    assert all(v.dtype == torch.float32 for v in state.values())  # fp32 master weights


def test_training_errors_name_the_config_entry_not_the_architecture(patch_dir: Path,
                                                                    tmp_path: Path) -> None:
    cfg = config(loss={"gaussian_nll": 1.0})  # only heteroscedastic models take it
    with pytest.raises(ValueError, match=r"models\.espcn-mc\.train\.loss"):
        train_model("espcn", {"in_channels": 1, "n1": 8, "n2": 4, "dropout": 0.05}, 2,
                    PatchDataset(patch_dir), [], cfg, tmp_path, progress=False,
                    label="espcn-mc")


def test_ema_starts_at_the_model_averages_parameters_and_copies_buffers() -> None:
    from sruq.models import build_model
    from sruq.train.state import ema_model

    model = build_model("srresnet", 2, n_blocks=1, channels=4)  # batch norm: buffers
    ema = ema_model(model, 0.75)
    assert all(torch.equal(a, b) for a, b in zip(ema.module.state_dict().values(),
                                                 model.state_dict().values(), strict=True))
    before = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model.train()(torch.rand(2, 3, 8, 8))  # moves the batch-norm running statistics
    ema.update_parameters(model)
    for averaged, old, new in zip(ema.module.parameters(), before, model.parameters(),
                                  strict=True):
        assert torch.equal(averaged, old.lerp(new, 0.25))
    assert all(torch.equal(a, b) for a, b in zip(ema.module.buffers(), model.buffers(),
                                                 strict=True))  # copied, not averaged
    assert not ema.module.training
