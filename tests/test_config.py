"""Config validation: the default config passes; bad keys and values fail naming the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from sruq.core.errors import ConfigError
from sruq.core.schema import SCHEMA_PATH, validate
from sruq.degrade import PRESETS
from sruq.models import MODELS
from sruq.pipeline.config import check_bootstrap_reference, check_references

from conftest import REPO


@pytest.fixture
def config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_every_shipped_config_is_valid():
    for path in sorted((REPO / "config").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        validate(cfg)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.update(sead=1), "'sead' is not a known setting"),
        (lambda c: c["metrics"].update(chanel="y"), "'metrics.chanel' is not a known setting"),
        (lambda c: c.update(scales=[5]), "'scales.0'"),
        (lambda c: c["datasets"]["builtin-test"].update(role="tset"), "builtin-test.role"),
        (lambda c: c["datasets"]["builtin-test"].pop("images"), "'images' is a required"),
        (lambda c: c.update(seed=-1), "'seed'"),
        (lambda c: c["models"]["esrcnn"]["train"].update(lr=0), r"'models\.esrcnn\.train\.lr'"),
        (lambda c: c["models"]["esrcnn"]["train"].update(batch_size=8.0),
         r"'models\.esrcnn\.train\.batch_size': 8\.0 is not of type 'integer'"),
        (lambda c: c["models"]["esrcnn"]["train"].update(minutes=float("nan")),
         r"'models\.esrcnn\.train\.minutes': nan is not a finite number"),
        (lambda c: c["models"]["esrcnn"]["train"].update(sheduler="step"),
         r"'models\.esrcnn\.train\.sheduler' is not a known setting"),
        (lambda c: c["models"]["esrcnn"]["patches"].update(rescales=[0]),
         r"'models\.esrcnn\.patches\.rescales\.0'"),
        (lambda c: c["metrics"].update(coverage=1.0), r"'metrics\.coverage'"),
        (lambda c: c["metrics"].update(bootstrap_samples=10), r"'metrics\.bootstrap_samples'"),
    ],
)
def test_bad_config_names_the_key(config, mutate, message):
    bad = copy.deepcopy(config)
    mutate(bad)
    with pytest.raises(ConfigError, match=message) as info:
        validate(bad)
    assert "\n" not in str(info.value)


def test_references_are_checked(config):
    check_references(config, PRESETS, MODELS)
    bad = copy.deepcopy(config)
    bad["degradations"] = ["bicubic", "no-such-preset"]
    with pytest.raises(ConfigError, match="degradations.1.*no-such-preset"):
        check_references(bad, PRESETS, MODELS)
    bad = copy.deepcopy(config)
    bad["baselines"] = ["bicubic", "magic"]
    with pytest.raises(ConfigError, match="baselines.1.*magic"):
        check_references(bad, PRESETS, MODELS)
    bad = copy.deepcopy(config)
    bad["datasets"]["builtin-test"]["role"] = "train"
    with pytest.raises(ConfigError, match="no dataset has role 'test'"):
        check_references(bad, PRESETS, MODELS)


def test_user_preset_is_validated(config):
    bad = copy.deepcopy(config)
    bad["presets"] = {"mine": {"steps": [{"op": "blur", "kernel": "gaussian", "sigma": -1,
                                          "size": 13}, {"op": "downscale"}]}}
    bad["degradations"] = ["mine"]
    with pytest.raises(ConfigError, match=r"'presets\.mine\.steps\.0\.sigma'.*minimum"):
        validate(bad)
    # what the schema cannot express (exactly one downscale step) is checked by the presets
    bad["presets"]["mine"]["steps"] = [{"op": "blur", "kernel": "gaussian", "sigma": 1,
                                        "size": 13}]
    validate(bad)
    with pytest.raises(ConfigError, match=r"presets\.mine.*downscale") as info:
        check_references(bad, {**PRESETS, **bad["presets"]}, MODELS)
    assert "\n" not in str(info.value)


def test_ensembles_are_checked(config):
    good = copy.deepcopy(config)
    good["ensembles"] = {"pair": ["esrcnn", "srresbnn"]}
    validate(good)
    check_references(good, PRESETS, MODELS)
    cases = [
        ({"pair": ["esrcnn"]}, r"'ensembles\.pair'.*(too short|non-empty|minItems)"),
        ({"pair": ["esrcnn", "magic"]}, r"ensembles\.pair\.1.*'magic' is not a model"),
        ({"edsr": ["esrcnn", "srresbnn"]}, r"ensembles\.edsr.*already a method"),
    ]
    for ensembles, message in cases:
        bad = copy.deepcopy(config)
        bad["ensembles"] = ensembles
        with pytest.raises(ConfigError, match=message) as info:
            validate(bad)
            check_references(bad, PRESETS, MODELS)
        assert "\n" not in str(info.value)
    lonely = copy.deepcopy(config)
    lonely["models"]["esrcnn"]["member_only"] = True
    validate(lonely)
    with pytest.raises(ConfigError, match=r"'models\.esrcnn\.member_only': 'esrcnn' is no "
                                          r"member of a deep ensemble"):
        check_references(lonely, PRESETS, MODELS)
    bad = copy.deepcopy(config)
    bad["models"]["rgb"] = {**bad["models"]["esrcnn"], "kwargs": {"in_channels": 3}}
    bad["ensembles"] = {"mixed": ["esrcnn", "rgb"]}
    with pytest.raises(ConfigError, match="ensembles.mixed.*different input channels"):
        check_references(bad, PRESETS, MODELS)


def test_tta_and_mcbn_variants_are_checked(config):
    good = copy.deepcopy(config)
    good["variants"] = ["esrcnn+tta", "bicubic+tta", "srresbnn+mcbn"]
    good["mc"] = {"tta_noise": 0.02, "mcbn_batch": 8}
    validate(good)
    check_references(good, PRESETS, MODELS)
    cases = [
        (["edsr+mcbn"], r"'variants\.0': MC-BatchNorm needs BatchNorm layers, and 'edsr' "
                        r"\(edsr-baseline\) has none \(architectures with BatchNorm: "
                        r"hetero-srresnet, srgan, srresbnn, srresnet\)"),
        (["esrcnn+tta", "bicubic+mcbn"], r"'variants\.1': 'bicubic\+mcbn' needs a trained "
                                         r"model with BatchNorm"),
    ]
    for variants, message in cases:
        bad = copy.deepcopy(config)
        bad["variants"] = variants
        validate(bad)
        with pytest.raises(ConfigError, match=message) as info:
            check_references(bad, PRESETS, MODELS)
        assert "\n" not in str(info.value)
    for mc, key in (({"tta_noise": -0.1}, "mc.tta_noise"), ({"mcbn_batch": 0}, "mc.mcbn_batch")):
        bad = copy.deepcopy(config)
        bad["mc"] = mc
        with pytest.raises(ConfigError, match=rf"'{key}'"):
            validate(bad)
    bad = copy.deepcopy(config)
    bad["variants"] = ["esrcnn+mcdropout"]
    with pytest.raises(ConfigError, match=r"'variants\.0'"):
        validate(bad)


def test_model_scales_must_be_scales_of_the_run(config):
    good = copy.deepcopy(config)
    good["scales"] = [2, 4]
    good["models"]["esrcnn"]["scales"] = [2]
    validate(good)
    check_references(good, PRESETS, MODELS)
    bad = copy.deepcopy(good)
    bad["models"]["esrcnn"]["scales"] = [2, 3]
    validate(bad)
    with pytest.raises(ConfigError, match=r"models\.esrcnn\.scales\.1.*scale 3 is not one of"):
        check_references(bad, PRESETS, MODELS)
    bad["models"]["esrcnn"]["scales"] = [5]
    with pytest.raises(ConfigError, match=r"models\.esrcnn\.scales\.0"):
        validate(bad)


def test_loss_requirements_are_checked_at_start_up(config):
    bad = copy.deepcopy(config)
    bad["models"]["aleatoric"] = {"arch": "hetero-srresnet",
                                  "kwargs": {"n_blocks": 1, "channels": 4},
                                  "train": {"loss": {"l1": 1.0}}}
    with pytest.raises(ConfigError, match=r"'models\.aleatoric\.train\.loss': heteroscedastic"):
        check_references(bad, PRESETS, MODELS)
    bad = copy.deepcopy(config)
    bad["models"]["gan"] = {"arch": "srgan", "kwargs": {"n_blocks": 1, "channels": 4},
                            "train": {"loss": {"l1": 1.0, "adversarial": 0.1}}}
    with pytest.raises(ConfigError, match=r"'models\.gan\.train\.loss': leave 'adversarial' out"):
        check_references(bad, PRESETS, MODELS)


NEW_MODELS = {
    "esrgan": {"arch": "esrgan", "kwargs": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
               "train": {"gan_type": "relativistic", "adversarial_weight": 5.0e-3,
                         "pretrain_iterations": 2, "pretrain_loss": {"l1": 1.0},
                         "loss": {"l1": 1.0e-2}, "discriminator": {"channels": 4}}},
    "rrdb-psnr": {"arch": "rrdbnet", "kwargs": {"num_feat": 8, "num_block": 1, "dropout": 0.1}},
    "lapsrn": {"arch": "lapsrn", "kwargs": {"num_feat": 8, "depth": 2}, "scales": [2],
               "train": {"loss": {"charbonnier": {"weight": 1.0, "eps": 1.0e-3}}}},
    "unpool": {"arch": "srcnn-variant", "kwargs": {"upsampling": "post",
                                                   "upsampler": "unpooling", "width": 8}},
    "tv": {"arch": "espcn", "train": {"loss": {"mse": 1.0, "tv": 2.0e-8}}},
}
"""Model entries of the architectures and options of issue #17 (the recipes' keys)."""


def test_new_architectures_and_options_pass_the_config_check(config):
    good = copy.deepcopy(config)
    good["models"].update(copy.deepcopy(NEW_MODELS))
    validate(good)
    check_references(good, PRESETS, MODELS)
    bad = copy.deepcopy(good)
    bad["models"]["esrgan"]["train"]["gan_type"] = "wgan"
    with pytest.raises(ConfigError, match=r"'models\.esrgan\.train\.gan_type'"):
        validate(bad)
    bad = copy.deepcopy(good)
    bad["models"]["unpool"]["kwargs"]["upsampling"] = "pre"
    with pytest.raises(ConfigError, match=r"'models\.unpool\.kwargs\.upsampler': upsampler "
                                          "applies to post and progressive"):
        check_references(bad, PRESETS, MODELS)


@pytest.mark.parametrize(("part", "bad"), [("train", {"ema": 1.5}), ("train", {"lr": "fast"}),
                                          ("patches", {"hr_size": 0}),
                                          ("patches", {"augmnt": True})])
def test_python_callers_get_the_workflow_check(config, part, bad):
    """TrainConfig/PatchConfig.from_dict check with the schema's rules: the same message."""
    from sruq.data.patches import PatchConfig
    from sruq.train import TrainConfig

    whole = copy.deepcopy(config)
    whole["models"]["esrcnn"][part] = bad
    with pytest.raises(ConfigError) as by_schema:
        validate(whole)
    from_dict = {"train": TrainConfig, "patches": PatchConfig}[part].from_dict
    with pytest.raises(ConfigError) as by_python:
        from_dict(bad, "esrcnn")
    assert str(by_python.value) == str(by_schema.value)
    assert str(by_python.value).startswith(f"config key 'models.esrcnn.{part}.")


def test_bootstrap_reference_must_be_a_method_of_the_run():
    check_bootstrap_reference(None, ["esrcnn"])  # default: bicubic where it runs
    check_bootstrap_reference("esrcnn@bicubic", ["bicubic", "esrcnn"])
    with pytest.raises(ConfigError, match=r"'metrics\.bootstrap_reference': 'bicubc' is not"):
        check_bootstrap_reference("bicubc", ["bicubic", "esrcnn"])


def test_budget_scales_step_counts_and_patches(config):
    from sruq.pipeline.config import scale_budget

    models = {
        "given": {"arch": "espcn", "patches": {"lr_size": 16, "per_image": 64},
                  "train": {"iterations": 2000, "minutes": 30, "valid_every": 500,
                            "log_every": 10}},
        "defaults": {"arch": "espcn"},  # TrainConfig / PatchConfig defaults, scaled
        "clock": {"arch": "espcn", "train": {"iterations": None, "minutes": 10}},
        "gan": {"arch": "srgan", "train": {"iterations": 2000, "pretrain_iterations": 1000,
                                           "scheduler": "step", "step_size": 1500}},
    }
    scaled = scale_budget(models, 0.05)
    # every step count, given or default, x 0.05 (log_every 0.5 -> 1); pretraining 0 stays 0
    assert scaled["given"]["train"] == {"iterations": 100, "minutes": 1.5, "valid_every": 25,
                                        "log_every": 1, "step_size": 50, "checkpoint_every": 50}
    assert scaled["given"]["patches"] == {"lr_size": 16, "per_image": 3}
    assert scaled["defaults"]["train"]["iterations"] == 50  # 1000 x 0.05
    assert scaled["defaults"]["patches"] == {"per_image": 3}  # 64 x 0.05, rounded
    assert scaled["clock"]["train"]["iterations"] is None
    assert scaled["clock"]["train"]["minutes"] == pytest.approx(0.5)
    assert scaled["gan"]["train"]["pretrain_iterations"] == 50
    assert scaled["gan"]["train"]["step_size"] == 75
    assert scale_budget(models, 1e-6)["given"]["train"]["iterations"] == 1  # at least 1
    assert models["given"]["train"]["iterations"] == 2000  # the input is left as it was
    assert scale_budget(models, 1) == models  # budget 1: nothing written
    for bad in (0, 1.5, True, "0.1"):
        with pytest.raises(ConfigError, match="config key 'budget'"):
            scale_budget(models, bad)


def test_budget_is_in_the_schema(config):
    for good in (1, 0.05):
        validate({**config, "budget": good})
    for bad in (0, 1.01, "0.1"):
        with pytest.raises(ConfigError, match="config key 'budget'"):
            validate({**config, "budget": bad})


def test_prepare_config_drops_null_entries_and_applies_the_budget(config):
    from sruq.pipeline.config import prepare_config

    config["models"]["srresbnn"] = None  # what a later --configfile merged in
    config["variants"] = [v for v in config["variants"] if not v.startswith("srresbnn+")]
    config["datasets"]["builtin-valid"] = None
    config["budget"] = 0.5
    validate(config)  # null entries pass the schema
    assert prepare_config(config) is config
    assert list(config["models"]) == ["esrcnn", "edsr"]
    assert "builtin-valid" not in config["datasets"]
    assert config["models"]["esrcnn"]["train"]["iterations"] == 1000
    assert config["models"]["esrcnn"]["patches"]["per_image"] == 512
    check_references(config, PRESETS, MODELS)


def test_yaml_merge_keys_are_no_duplicates(tmp_path):
    from sruq.pipeline.config import check_duplicate_keys

    path = tmp_path / "anchors.yaml"
    path.write_text("base: &b {lr: 1, iterations: 2}\nother: {<<: *b, lr: 3}\n")
    check_duplicate_keys(path)
    path.write_text("other: {<<: {lr: 1}, lr: 3, lr: 4}\n")
    with pytest.raises(ConfigError, match="'lr' is given twice"):
        check_duplicate_keys(path)


def test_perceptual_loss_plans_without_torchvision(config):
    """The config check (at parse time, dry runs too) checks the layer but not the import;
    check_extras (before the first job) checks the import and names the key."""
    from sruq.core.errors import MissingExtraError
    from sruq.pipeline.config import check_extras

    config["models"]["esrcnn"]["train"]["loss"] = {"mse": 1.0, "perceptual": 0.01}
    check_references(config, PRESETS, MODELS)
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError):
        with pytest.raises(MissingExtraError, match=r"'models\.esrcnn\.train\.loss'.*torchvision"):
            check_extras(config["models"])
    else:
        check_extras(config["models"])
    config["models"]["esrcnn"]["train"]["loss"] = {"perceptual": {"weight": 1, "layer": "x"}}
    with pytest.raises(ConfigError, match="unknown VGG19 layer"):
        check_references(config, PRESETS, MODELS)


def test_heatmap_keys_under_mc_still_work_with_one_deprecation_line(config, capsys):
    from sruq.pipeline.config import heatmap_settings, prepare_config

    old = copy.deepcopy(config)
    old["mc"] = {"samples": 4, "vmin": 0.0, "norm": "linear", "details": 2}
    validate(old)  # the schema still reads them
    prepare_config(old)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"sruq: config key 'mc.{key}' is deprecated: it is read as "
                     f"'heatmap.{key}' (move it there)" for key in ("vmin", "norm", "details")]
    assert old["mc"] == {"samples": 4}
    new = copy.deepcopy(config)
    new["mc"] = {"samples": 4}
    new["heatmap"] = {"vmin": 0.0, "norm": "linear", "details": 2}
    validate(new)
    prepare_config(new)
    assert capsys.readouterr().err == ""
    assert heatmap_settings(old["heatmap"]) == heatmap_settings(new["heatmap"])
    both = copy.deepcopy(new)
    both["mc"]["vmin"] = 0.01
    with pytest.raises(ConfigError, match=r"'mc\.vmin': given in heatmap: too"):
        prepare_config(both)


def test_the_sampling_and_heatmap_sections_are_checked_once(config):
    """One minimum of mc.samples (2) in the schema and in MCSettings, one list of modes:
    the schema's enum is MODES, and the workflow refuses patch (a centre crop) with why."""
    from sruq.pipeline.config import heatmap_settings, mc_settings
    from sruq.uncertainty.settings import MIN_SAMPLES, MODES

    schema = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["mc"]["properties"]
    assert schema["samples"]["minimum"] == MIN_SAMPLES == 2
    assert tuple(schema["mode"]["enum"]) == MODES
    bad = copy.deepcopy(config)
    bad["mc"] = {"samples": 1}
    with pytest.raises(ConfigError, match=r"'mc\.samples'"):
        validate(bad)
    with pytest.raises(ConfigError, match=r"'mc\.samples': samples must be an integer of at "
                                          r"least 2 \(one pass has no spread\), got 1"):
        mc_settings({"samples": 1})
    with pytest.raises(ConfigError, match=r"'mc\.mode': the workflow scores whole images"):
        mc_settings({"mode": "patch"})
    with pytest.raises(ConfigError, match=r"'heatmap\.details'.*non-negative integer"):
        heatmap_settings({"details": -1})
    with pytest.raises(ConfigError, match=r"'heatmap': heatmap\.samples is not a known"):
        heatmap_settings({"samples": 3})
