"""Method kinds: every method of a config gets exactly one, defined in one place."""

from __future__ import annotations

import pytest
import yaml
from workflow_runner import REPO

from sruq.core.errors import ConfigError
from sruq.models import has_dropout
from sruq.pipeline.methods import KINDS, UNCERTAIN_KINDS, method_kinds, methods_of_kind

CONFIG = {
    "baselines": ["nearest", "bicubic"],
    "models": {"mc": {"arch": "esrcnn", "kwargs": {"dropout": 0.1}},
               "plain": {"arch": "espcn"}, "bn": {"arch": "srresnet"}},
    "classical": {"methods": ["sparse-coding", "fd"]},
    "variants": ["bicubic+edge-post", "mc+x8", "plain+edge-pre", "plain+tta", "bn+mcbn"],
    "ensembles": {"both": ["mc", "plain"]},
}


def _dropout_of(arch, kwargs):
    return bool((kwargs or {}).get("dropout"))


def test_every_method_has_its_kind_in_table_order():
    assert method_kinds(CONFIG, _dropout_of) == {
        "nearest": "baseline", "bicubic": "baseline",
        "mc": "mc", "plain": "network", "bn": "network",
        "sparse-coding": "classical", "fd": "classical",
        "bicubic+edge-post": "variant", "mc+x8": "x8", "plain+edge-pre": "variant",
        "plain+tta": "tta", "bn+mcbn": "mcbn",
        "both": "ensemble",
    }
    assert set(UNCERTAIN_KINDS) <= set(KINDS)


def test_the_tiny_config_with_the_real_dropout_check():
    config = yaml.safe_load((REPO / "config" / "test-tiny.yaml").read_text())
    kinds = method_kinds(config, has_dropout)
    assert kinds["esrcnn"] == "mc" and kinds["espcn"] == "network"
    assert kinds["esrcnn+tta"] == "tta"
    assert methods_of_kind(kinds, *UNCERTAIN_KINDS) == [
        "esrcnn", "esrcnn+x8", "esrcnn+tta", "tiny-ensemble"]


def test_methods_of_kind_keeps_the_order_and_knows_the_kinds():
    kinds = method_kinds(CONFIG, _dropout_of)
    assert methods_of_kind(kinds, "variant", "baseline") == [
        "nearest", "bicubic", "bicubic+edge-post", "plain+edge-pre"]
    assert methods_of_kind(kinds) == []
    with pytest.raises(ValueError, match="unknown method kind 'mc dropout'"):
        methods_of_kind(kinds, "mc dropout")


def test_a_name_of_two_methods_names_its_key():
    config = {**CONFIG, "models": {"bicubic": {"arch": "espcn"}}, "variants": [],
              "ensembles": {}}
    with pytest.raises(ConfigError, match=r"config key 'models\.bicubic': 'bicubic' is "
                                          r"already a method of this config \(baseline\)"):
        method_kinds(config, _dropout_of)


def test_table_order_puts_its_methods_first():
    config = {**CONFIG, "table_order": ["fd", "plain"]}
    assert list(method_kinds(config, _dropout_of))[:4] == ["fd", "plain", "nearest", "bicubic"]
    assert sorted(method_kinds(config, _dropout_of)) == sorted(method_kinds(CONFIG, _dropout_of))
    with pytest.raises(ConfigError, match=r"config key 'table_order\.1': 'magic' is not a method"):
        method_kinds({**CONFIG, "table_order": ["fd", "magic"]}, _dropout_of)


def test_a_member_only_model_has_no_results_of_its_own():
    config = {**CONFIG, "models": {**CONFIG["models"],
                                   "plain2": {"arch": "espcn", "member_only": True}},
              "ensembles": {"both": ["mc", "plain", "plain2"]}}
    kinds = method_kinds(config, _dropout_of)
    assert "plain2" not in kinds and kinds["both"] == "ensemble"
    assert kinds == method_kinds(CONFIG, _dropout_of)
