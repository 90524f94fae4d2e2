"""When the budgeted tuners start a trial, against an injected clock: while half a slice
of the search time is left, the first trial included."""

from __future__ import annotations

import pytest

from baselines.keras import tuning
from harness.contenders import Epoch, FitReport
from harness.contenders.testing import synthetic_split
from harness.core.budget import Budget

PARAMS = dict(tuning.FALLBACK)


@pytest.fixture
def clock(monkeypatch):
    """A fake clock at 0; a build takes ``build`` seconds and a trial ``trial``."""
    state = {"now": 0.0, "build": 0.0, "trial": 0.0}

    def build(*args, **kwargs):
        state["now"] += state["build"]
        return object()

    def fit(model, train, val, budget, **kwargs):
        state["now"] += state["trial"]
        return FitReport(history=[Epoch(epoch=1, elapsed_seconds=state["trial"],
                                        train_loss=1.0, train_accuracy=0.5, val_loss=1.0,
                                        val_accuracy=0.5)])

    monkeypatch.setattr(tuning, "build_tunable", build)
    monkeypatch.setattr(tuning.kc, "fit_within_budget", fit)
    return state


def _search(clock) -> tuning.BudgetedSearch:
    # 25 s: the search until 15 s, in 3 s slices
    split = synthetic_split(2, classes=2)
    return tuning.BudgetedSearch(None, split, split, Budget(25.0, started=0.0), seed=0,
                                 search_fraction=0.6, trials=6, min_trial_seconds=3.0,
                                 now=lambda: clock["now"])


def _trial(search, clock) -> None:
    search.train_trial(search.build(PARAMS), PARAMS)


def test_quick_trials_go_on_until_half_a_slice_is_left(clock):
    search = _search(clock)
    clock.update(build=0.5, trial=3.0)
    started = 0
    while search.time_for_another():
        _trial(search, clock)
        started += 1
    # trials end at 3.5, 7, 10.5 and 14 s: at 14 s, 1 s is left of the search, under 1.5
    assert started == 4 and clock["now"] == 14.0
    assert len(search.rows) == 4


def test_no_first_trial_once_the_setup_used_the_search_time(clock):
    search = _search(clock)
    clock["now"] = 14.0  # the tuner's own setup took 14 s
    assert not search.time_for_another()
    clock["now"] = 13.5
    assert search.time_for_another()  # half a slice is still worth a trial


def test_optuna_starts_no_trial_once_the_setup_used_the_search_time(clock):
    pytest.importorskip("optuna_integration")
    search = _search(clock)
    clock.update(now=14.0, build=0.5, trial=3.0)
    tuning.search_optuna(search, None, "late", seed=0)
    assert search.rows == []  # before: one trial, cut to 0.5 s, after its build and trace
    clock["now"] = 10.0
    tuning.search_optuna(search, None, "in-time", seed=0)
    assert len(search.rows) == 2  # ending at 13.5 and 17 s
