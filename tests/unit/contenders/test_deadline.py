"""The shared deadline arithmetic and the small training callbacks, against a fake clock."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest

from baselines.deadline import Schedule, TrainingClock
from harness.core.budget import Budget


class FakeTime:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_clock_starts_after_the_traced_step_and_ends_where_the_last_validation_must():
    t = FakeTime()
    clock = TrainingClock(Budget(100.0, started=t.now), now=t)
    assert clock.progress() == 0.0 and not clock.out_of_time(steps=1)
    t.now += 8.0  # the first step traced the graph: it starts the clock, times nothing
    clock.step_done(8.0, counts=False)
    assert clock.started == t.now and clock.step_seconds == 0.0
    clock.validation_done(5.0)  # the reserve: 1.2 x 5 s for the last validation
    t.now += 43.0  # half of what is left before the last validation must begin
    assert clock.progress() == pytest.approx(0.5)
    clock.step_done(2.0)
    t.now = 1000.0 + 100.0 - 6.0 - 2.9  # one step (1.5 x 2 s) no longer fits
    assert clock.out_of_time(steps=1) and not clock.out_of_time(steps=0)
    clock.step_done(1.0)  # a quick step after a slow one: the slow one is forgotten slowly
    assert clock.step_seconds == pytest.approx(1.9)


def test_an_eager_first_step_counts_as_a_step():
    t = FakeTime()
    clock = TrainingClock(Budget(10.0, started=t.now), now=t)
    clock.step_done(4.0, counts=True)
    assert clock.step_seconds == 4.0 and clock.out_of_time(steps=2)


@pytest.mark.parametrize("kind, at, expected", [
    ("cosine", 0.0, 0.0), ("cosine", 0.05, 0.5), ("cosine", 0.1, 1.0), ("cosine", 1.0, 0.0),
    ("onecycle", 0.55, 0.5), ("constant", 0.9, 1.0),
])
def test_schedules_warm_up_then_decay_over_the_clock(kind, at, expected):
    assert Schedule(kind, warmup=0.1).factor(at) == pytest.approx(expected, abs=1e-9)


def test_automm_stops_while_the_validation_and_averaging_still_fit():
    from baselines.automm import after_training_seconds, should_stop

    after = after_training_seconds(2.0)  # three validations and the save
    assert not should_stop(0.0, 10.0 + 2.0 + after + 0.01, 10.0, 2.0)
    assert should_stop(0.0, 10.0 + 2.0 + after - 0.01, 10.0, 2.0)
    # what earlier fits measured after the stop, where it is more than this run predicts
    assert should_stop(0.0, 10.0 + 2.0 + after + 1.0, 10.0, 2.0, learned_after=after + 2.0)


def test_the_thread_trial_keeps_the_faster_count(monkeypatch):
    from baselines.automm import budget

    set_to: list[int] = []
    monkeypatch.setattr(budget, "_set_threads", set_to.append)
    trial = budget.ThreadTrial((2, 1))
    for seconds in (0.9, 0.9, 0.9, 0.6, 0.6, 0.6):  # two threads slower, as when shared
        trial.step_done(seconds)
    assert trial.chosen == 1 and set_to == [2, 1, 1]
    assert trial.describe() == "torch threads 1 (a step on 2: 900 ms, 1: 600 ms)"
    single = budget.ThreadTrial((1,))
    assert single.chosen == 1 and single.describe() is None


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_automms_schedule_is_replaced_by_one_on_the_budgets_clock():
    import torch

    from baselines.automm.budget import on_the_clock

    t = FakeTime()
    clock = TrainingClock(Budget(100.0, started=t.now), now=t)
    weights = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))]
    optimizer = torch.optim.AdamW([{"params": weights[:1], "lr": 1e-3},
                                   {"params": weights[1:], "lr": 1e-4}])  # layer-wise decay
    # AutoMM's own: a warm-up sized for ten epochs, a thousandth of the rate at first
    own = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: step / 1000)
    trainer = SimpleNamespace(lr_scheduler_configs=[SimpleNamespace(
        scheduler=own, interval="step", frequency=1)])
    assert on_the_clock(trainer, Schedule("cosine", warmup=0.02), clock) == 1
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler is not own
    clock.step_done(3.0, counts=False)  # the clock starts
    t.now += 2.0  # the warm-up (2 % of 100 s) is over: each group at its own peak
    optimizer.step()
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 1e-4])
    t.now += 49.0  # half-way through the decay
    optimizer.step()
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([5e-4, 5e-5], rel=0.05)


def test_the_svm_grows_its_subsample_only_while_the_next_fit_fits(monkeypatch):
    from baselines import sklearn_models
    from harness.contenders import create
    from harness.data import Split

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    images = rng.integers(0, 60, (600, 8, 8, 1)).astype(np.uint8)
    images[np.arange(600), labels * 2, :, 0] = 250
    train, val = Split(images[:500], labels[:500], 3), Split(images[500:], labels[500:], 3)
    whole = create("sklearn-svc", start=100)
    report = whole.fit(train, val, Budget(60.0), None)
    assert whole.describe()["images_fitted"] == 500 and len(report.history) == 4  # 100..500
    proba = whole.predict_proba(val.images)
    assert proba.shape == (100, 3) and np.allclose(proba.sum(1), 1)
    assert np.mean(proba.argmax(1) == val.labels) > 0.9
    # a budget in which the next, larger fit would not end: it stops and says so
    monkeypatch.setattr(sklearn_models, "SVC_GROWTH", 1e9)
    part = create("sklearn-svc", start=100)
    report = part.fit(train, val, Budget(60.0), None)
    assert part.describe()["images_fitted"] == 100 and "100 of 500" in report.notes[0]
