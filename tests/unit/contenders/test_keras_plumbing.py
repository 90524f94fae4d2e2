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
@pytest.mark.serial
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


def test_a_warm_start_keeps_its_weights_unless_an_epoch_beats_them():
    """The tuners continue their best trial's model (a transfer contender's second phase,
    its first phase's) with that model's validation accuracy as the score to beat: if no
    epoch beats it, the model ends with the weights it came with. (Beside another test,
    optuna-tpe's best trial scored 1.0 on validation and its continuation 0.33; it
    returned the continuation.)"""
    from baselines import keras as kc
    from harness.contenders.testing import synthetic_split

    keras = kc.import_keras(0)
    train, val = synthetic_split(12, classes=3, seed=0), synthetic_split(4, classes=3, seed=1)
    cls = get("keras-shallow")
    ends = []
    for best_score in (1.0, -1.0):  # nothing beats 1.0; anything beats a cold start
        model = cls.build(keras, train.images.shape[1:], 3, cls.defaults)
        kc.compile_model(keras, model, learning_rate=0.01)
        came_with = [w.copy() for w in model.get_weights()]
        report = kc.fit_within_budget(model, train, val, Budget(4.0), batch_size=12,
                                      base_lr=0.01, best_score=best_score)
        assert report.history, report.notes  # it trained
        ends.append(all(np.array_equal(a, b) for a, b in zip(came_with, model.get_weights(),
                                                            strict=True)))
    assert ends == [True, False]


@pytest.mark.serial  # a deadline kept to 0.1 s, and epochs counted in its time
def test_the_deadline_keeps_room_for_the_next_step_and_the_best_weights(monkeypatch):
    """After an epoch, the next thing is a step and then its validation; after the last
    validation come the copy of the best weights and their restore. For a large model on
    quick steps (ConvNeXtTiny on PyTorch: 0.6 s steps, a 0.2 s copy) those are most of
    what the stop must leave room for; a fit that did not count them ended 1.1 s past a
    20 s budget. Here a step takes 0.2 s, a validation 0.5 s, a copy and a restore 1 s
    each: the fit must still end by its deadline (counting none of them, it ended
    0.7-1.1 s late)."""
    from baselines import keras as kc
    from baselines.keras import callbacks as made
    from harness.contenders.testing import synthetic_split

    keras = kc.import_keras(0)
    train, val = synthetic_split(6, classes=2, seed=0), synthetic_split(4, classes=2, seed=1)
    cls = get("keras-shallow")
    model = cls.build(keras, train.images.shape[1:], 2, cls.defaults)
    kc.compile_model(keras, model, learning_rate=0.01)

    def slow(method, seconds=0.5):
        def wrapped(*args, **kwargs):
            time.sleep(seconds)
            return method(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(type(model), "get_weights", slow(type(model).get_weights, 1.0))
    monkeypatch.setattr(type(model), "set_weights", slow(type(model).set_weights, 1.0))
    monkeypatch.setattr(made, "predict_in_batches", slow(made.predict_in_batches))

    ended: list[float] = []

    class SlowStep(keras.callbacks.Callback):  # runs after the step timer's start
        def on_train_batch_begin(self, batch, logs=None):
            time.sleep(0.2)

        def on_train_end(self, logs=None):  # after the loop's own, the restore included
            ended.append(budget.elapsed())

    # 10 s: on a busy 2-core machine an epoch here takes 2.0-2.3 s with its copy, and an
    # 8 s budget left room for 2 epochs only (CI, once)
    budget = Budget(10.0)
    report = kc.fit_within_budget(model, train, val, budget, batch_size=len(train),
                                  base_lr=0.01, callbacks=[SlowStep()])
    # timed where the loop's work ends: on TensorFlow, Keras' input pipeline can take
    # seconds more to shut down as fit returns on a busy machine (a stall of its own)
    took = ended[0]
    assert len(report.history) >= 3, report.history  # it trained, epoch after epoch
    # the margins on the step and the validation leave 0.2 s for a busy machine
    assert took <= budget.seconds + 0.1, f"{took:.2f} s on a {budget.seconds:.0f} s budget"


def test_on_tensorflow_fit_reads_the_same_batches_in_the_same_order_through_tf_data():
    """The tf.data pipeline (TensorFlow only) hands ``fit`` exactly the PyDataset's
    batches: the same shuffles, across an epoch's end, and the same augmentation (flips
    and shifts), with uint8 images and one-hot labels."""
    from baselines import keras as kc
    from baselines.keras.pipeline import Augment, Switch, make_batches, training_data
    from harness.data import Split

    keras = kc.import_keras(0)
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the tf.data pipeline is TensorFlow's")
    rng = np.random.default_rng(0)
    split = Split(rng.integers(0, 256, (50, 12, 12, 3)).astype(np.uint8),
                  rng.integers(0, 4, 50), 4)
    augment = Augment(flip="auto", translate=2)
    ours_switch, theirs_switch = Switch(True), Switch(True)
    ours = iter(training_data(split, 16, augment=augment, seed=3, flip_switch=ours_switch))
    theirs = make_batches(split, 16, training=True, augment=augment, seed=3,
                          flip_switch=theirs_switch)
    for index in range(4):  # three batches an epoch: past the first epoch's end
        x, y = next(ours)
        want_x, want_y = theirs[index]
        assert x.dtype == "uint8" and tuple(x.shape) == (16, 12, 12, 3)
        np.testing.assert_array_equal(x.numpy(), want_x)
        np.testing.assert_array_equal(y.numpy(), want_y)
    assert not np.array_equal(theirs.order, np.arange(50))  # it did shuffle
