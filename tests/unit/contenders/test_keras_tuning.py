"""The budgeted tuners: they stop in time, return their best model, record their trials."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest

from harness.contenders import create, get
from harness.core.budget import Budget
from harness.core.context import JobContext
from tests.conftest import synthetic_split

pytestmark = pytest.mark.slow
BUDGET = 20.0


@pytest.mark.parametrize("name", ["keras-tuner-bayes", "optuna-tpe"])
def test_a_tuner_given_20s_stops_in_time_with_its_best_model(name, tmp_path):
    why = get(name).unavailable()
    if why:
        pytest.skip(why)
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    train, val, test = (synthetic_split(16, seed=0), synthetic_split(6, seed=1),
                        synthetic_split(8, seed=2))
    jobdir = tmp_path / "job"
    context = JobContext(job_dir=jobdir, store_url=store)
    context.work_dir.mkdir(parents=True)  # the worker's layout
    contender = create(name, seed=0)
    t0 = time.monotonic()
    report = contender.fit(train, val, Budget(BUDGET), context)
    took = time.monotonic() - t0
    assert took <= BUDGET * 1.05, f"{name} took {took:.1f} s of {BUDGET:.0f}"
    accuracy = np.mean(contender.predict_proba(test.images).argmax(1) == test.labels)
    assert accuracy > 0.6, accuracy
    with open(jobdir / "trials.csv") as fh:  # beside result.json, outside work/
        trials = list(csv.DictReader(fh))
    assert len(trials) >= 2, trials
    assert {"width", "depth", "dropout", "l2", "learning_rate", "batch_size",
            "val_accuracy", "state"} <= set(trials[0])
    best = max(float(t["val_accuracy"] or 0) for t in trials)
    assert report.best() is None or report.best().val_accuracy >= best - 1e-9
    assert any("trials" in n for n in report.notes), report.notes
    if name == "optuna-tpe":  # the study is in the store, under the job's name
        import optuna

        (study,) = optuna.get_all_study_summaries(store)
        assert study.study_name == "optuna-tpe/job" and study.n_trials == len(trials)
