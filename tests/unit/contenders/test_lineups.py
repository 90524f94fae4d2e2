"""Lineups: the default comparison has every family, named lineups, and --param."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.contenders import family_of, get, parse_param
from harness.contenders.lineups import LINEUPS, Profile, default_lineup, lineup, select
from harness.core.errors import HarnessError

FAMILIES = {"sklearn", "keras-cnn", "keras-transfer", "automm"}


@pytest.mark.parametrize("profile", [
    Profile((8, 8, 1), 10, 10.0),                 # digits, seconds
    Profile((28, 28, 1), 10, 60.0),               # mnist
    Profile((32, 32, 3), 10, 1800.0),             # cifar10, 30 min on the CPU
    Profile((32, 32, 3), 100, 1800.0, gpus=1),    # cifar100 on a GPU
    Profile((64, 64, 3), 200, 3600.0, gpus=4),    # tiny imagenet, a node
])
def test_the_default_lineup_has_every_family_and_says_why(profile):
    picks = default_lineup(profile)
    assert {family_of(p.name) for p in picks} == FAMILIES
    assert len({p.name for p in picks}) == len(picks)
    assert all(p.why for p in picks)
    transfer = [p for p in picks if family_of(p.name) == "keras-transfer"]
    assert 1 <= len(transfer) <= 2
    assert [p.name for p in picks if family_of(p.name) == "automm"] == (
        ["automm-high"] if profile.gpus and profile.budget_seconds >= 1800 else
        ["automm-medium"])


def test_the_cnn_is_chosen_by_image_size_and_classes():
    def cnns(profile):
        return [p.name for p in default_lineup(profile) if family_of(p.name) == "keras-cnn"]

    assert cnns(Profile((8, 8, 1), 10, 30.0)) == ["keras-shallow"]
    assert cnns(Profile((28, 28, 1), 10, 60.0)) == ["keras-fastnet"]
    assert cnns(Profile((32, 32, 3), 10, 60.0)) == ["keras-fastnet"]
    assert cnns(Profile((32, 32, 3), 100, 60.0)) == ["keras-fastnet"]
    # long budgets (or GPUs) add the seed's network for the data
    assert cnns(Profile((32, 32, 3), 10, 1800.0)) == ["keras-fastnet", "keras-cnn6"]
    assert cnns(Profile((64, 64, 3), 200, 60.0, gpus=1)) == ["keras-fastnet", "keras-deep"]


def test_the_svm_joins_where_the_training_set_is_small_and_known():
    def svm(n):
        return "sklearn-svc" in [p.name for p in default_lineup(Profile((8, 8, 1), 10, 30.0,
                                                                        n_train=n))]

    assert svm(1347) and svm(10_000)
    assert not svm(50_000) and not svm(0)  # too many to fit in seconds, or not known


def test_named_lineups_resolve_to_registered_contenders():
    seeds = [p.name for p in lineup("@seeds")]
    assert {"keras-shallow", "keras-cnn6", "keras-deep", "mobilenet-scratch",
            "keras-tuner-bayes", "nasnetmobile-frozen", "nasnetmobile-224-frozen",
            "nasnetmobile-224-finetune", "convnext-base-2phase", "automm-medium"} == set(seeds)
    for name in LINEUPS:
        if name != "@default":
            for pick in lineup(name):
                get(pick.name)
    everything = [p.name for p in lineup("@all")]
    assert set(seeds) <= set(everything)
    # mixed with names and wildcards, each contender once, the first reason kept
    picks = select("@quick,keras-*,sklearn-logreg")
    names = [p.name for p in picks]
    assert len(names) == len(set(names)) and names[:3] == ["sklearn-logreg", "keras-shallow",
                                                           "keras-fastnet"]
    assert select(None, Profile((8, 8, 1), 10, 10.0)) == default_lineup(Profile((8, 8, 1), 10,
                                                                                10.0))
    with pytest.raises(HarnessError, match="known: @default"):
        select("@nope")
    with pytest.raises(HarnessError, match="depends on the dataset"):
        select("@default")


def test_param_is_typed_like_a_suite_and_names_the_known_keys():
    names = ("keras-shallow", "sklearn-logreg")
    assert parse_param("keras-shallow.dropout=0.25", names) == ("keras-shallow", "dropout", 0.25)
    assert parse_param("sklearn-logreg.max_iterations=50", names)[2] == 50
    assert parse_param("keras-shallow.tta=true", names)[2] is True
    assert parse_param("keras-shallow.schedule=cosine", names)[2] == "cosine"
    with pytest.raises(HarnessError, match=r"no parameter 'nope'; known: .*dropout"):
        parse_param("keras-shallow.nope=1", names)
    with pytest.raises(HarnessError, match="not a contender of this run"):
        parse_param("keras-cnn6.dropout=0.1", names)
    with pytest.raises(HarnessError, match=r"CONTENDER\.KEY=VALUE"):
        parse_param("dropout=0.1", names)


def test_lineups_import_no_framework():
    code = ("import sys\nfrom harness.contenders.lineups import Profile, select\n"
            "select('@all,@seeds,@quick'); select(None, Profile((8, 8, 1), 10, 10.0))\n"
            "bad = [m for m in ('tensorflow', 'torch', 'keras', 'autogluon') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
