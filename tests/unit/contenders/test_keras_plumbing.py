"""The shared Keras plumbing: schedules, input sizes, budget use, the flip probe."""

from __future__ import annotations

import time

import numpy as np
import pytest

from baselines.keras import Schedule
from harness.contenders import create, get, list_contenders
from harness.core.budget import Budget
from harness.core.context import JobContext

KERAS_CNNS = [n for n in list_contenders("keras-*,mobilenet-*") if getattr(get(n), "build", None)]


def test_schedules_run_from_base_rate_to_their_end():
    cosine = Schedule("cosine")
    assert cosine.factor(0) == pytest.approx(1) and cosine.factor(1) == pytest.approx(0)
    warm = Schedule("cosine", warmup=0.1)
    assert warm.factor(0) == 0 and warm.factor(0.05) == pytest.approx(0.5)
    assert warm.factor(0.1) == pytest.approx(1) and warm.factor(1.5) == pytest.approx(0)
    assert Schedule("onecycle", warmup=0.2).factor(0.6) == pytest.approx(0.5)
    assert Schedule("exponential", final=0.01).factor(1) == pytest.approx(0.01)


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1), (64, 64, 3)])
def test_every_keras_cnn_takes_inputs_from_8x8_to_64x64(shape):
    from baselines import keras as kc

    keras = kc.import_keras(0)
    for name in KERAS_CNNS:
        cls = get(name)
        model = cls.build(keras, shape, 5, cls.defaults)
        out = np.asarray(model(np.zeros((2, *shape), np.uint8), training=False))
        assert out.shape == (2, 5), name
        assert np.allclose(out.sum(1), 1, atol=1e-3), name


@pytest.mark.slow
def test_budget_is_used_and_flips_stay_off_where_mirroring_changes_the_label(tmp_path):
    # Two classes, a square in the top-left or the top-right quarter: a mirror image is
    # the other class, so the probe must say no. (With a third class at the bottom, a
    # model that has learned only "top or bottom" is past the probe's threshold and as
    # accurate on mirrored images: under load the probe sometimes judged it there.)
    from harness.contenders.testing import synthetic_split

    train, val = synthetic_split(12, classes=2, seed=0), synthetic_split(8, classes=2, seed=1)
    contender = create("keras-fastnet", seed=0)
    budget = Budget(10.0)
    t0 = time.monotonic()
    report = contender.fit(train, val, budget, JobContext(job_dir=tmp_path))
    took = time.monotonic() - t0
    assert 0.8 * budget.seconds <= took <= 1.05 * budget.seconds, took
    assert any(n.startswith("flip augmentation off") for n in report.notes), report.notes
    assert not contender.describe()["test_time_flip"]
    assert contender.describe()["params"]["widths"] == (16, 32, 64)  # the row says which
    assert len(report.history) > 3
    assert report.history[-1].elapsed_seconds >= 0.8 * budget.seconds - 1


def test_fastnet_is_narrow_on_cpus_for_short_budgets_and_wide_otherwise():
    from baselines.keras.cnn import NARROW, WIDE, WIDE_FROM_SECONDS, fastnet_widths

    assert fastnet_widths(10.0, gpus=0) == NARROW
    assert fastnet_widths(WIDE_FROM_SECONDS - 1, gpus=0) == NARROW
    assert fastnet_widths(WIDE_FROM_SECONDS, gpus=0) == WIDE
    assert fastnet_widths(10.0, gpus=1) == WIDE
    # four times the pixels, four times the budget before the wide net gets its steps
    assert fastnet_widths(2 * WIDE_FROM_SECONDS, gpus=0, pixels=64 * 64) == NARROW
    assert fastnet_widths(4 * WIDE_FROM_SECONDS, gpus=0, pixels=64 * 64) == WIDE
    assert fastnet_widths(WIDE_FROM_SECONDS / 4, gpus=0, pixels=16 * 16) == WIDE
    assert [w // 2 for w in WIDE] == list(NARROW)


@pytest.mark.parametrize("name", ["keras-shallow", "sklearn-logreg", "sklearn-svc"])
def test_a_saved_model_restores_to_the_same_probabilities(name, tmp_path):
    # what `harness export-model` and its classify.py rely on
    from harness.contenders.testing import synthetic_split

    train, val = synthetic_split(12, classes=3, seed=0), synthetic_split(4, classes=3, seed=1)
    fitted = create(name, seed=0)
    fitted.fit(train, val, Budget(2.0), JobContext(job_dir=tmp_path))
    fitted.save(tmp_path / "model")
    again = create(name, seed=0)
    again.restore(tmp_path / "model", 3, {"test_time_flip": getattr(fitted, "tta", False)})
    np.testing.assert_allclose(again.predict_proba(val.images), fitted.predict_proba(val.images),
                               atol=1e-5)
