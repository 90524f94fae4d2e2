"""The budgeted tuners: they stop in time, return their best model, record their trials.

Each tuner trains in a fresh process, as a job does in the harness: dozens of models
traced earlier in a long-lived pytest process slow the tracing of each trial's model
(seen: 34 s on a 20 s budget there, 20 s alone).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from harness.contenders import get
from tests.conftest import ROOT, harness_env

pytestmark = [pytest.mark.slow, pytest.mark.serial]
BUDGET = 20.0

TUNE = """
import json, sys, time
from pathlib import Path
import numpy as np
from harness.contenders import create
from harness.contenders.testing import synthetic_split
from harness.core.budget import Budget
from harness.core.context import JobContext

name, jobdir, store, budget = sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
train, val, test = (synthetic_split(16, seed=0), synthetic_split(6, seed=1),
                    synthetic_split(8, seed=2))
context = JobContext(job_dir=jobdir, store_url=store)
context.work_dir.mkdir(parents=True)  # the worker's layout
contender = create(name, seed=0)
t0 = time.monotonic()
report = contender.fit(train, val, Budget(budget), context)
took = time.monotonic() - t0
best = report.best()
print(json.dumps({
    "took": took,
    "accuracy": float(np.mean(contender.predict_proba(test.images).argmax(1) == test.labels)),
    "best": best.val_accuracy if best else None, "notes": report.notes,
}))
"""


@pytest.mark.parametrize("name", ["keras-tuner-bayes", "optuna-tpe"])
def test_a_tuner_given_20s_stops_in_time_with_its_best_model(name, tmp_path):
    why = get(name).unavailable()
    if why:
        pytest.skip(why)
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    jobdir = tmp_path / "job"
    done = subprocess.run([sys.executable, "-c", TUNE, name, str(jobdir), store, str(BUDGET)],
                          cwd=ROOT, env=harness_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    took = facts["took"]
    assert took <= BUDGET * 1.05, f"{name} took {took:.1f} s of {BUDGET:.0f}"
    assert facts["accuracy"] > 0.6, facts["accuracy"]
    with open(jobdir / "trials.csv") as fh:  # beside result.json, outside work/
        trials = list(csv.DictReader(fh))
    assert len(trials) >= 2, trials
    assert {"width", "depth", "dropout", "l2", "learning_rate", "batch_size",
            "val_accuracy", "state"} <= set(trials[0])
    best = max(float(t["val_accuracy"] or 0) for t in trials)
    assert facts["best"] is None or facts["best"] >= best - 1e-9
    assert any("trials" in n for n in facts["notes"]), facts["notes"]
    if name == "optuna-tpe":  # the study is beside the SQLite store, under the job's name
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        journal = JournalStorage(JournalFileBackend(f"{tmp_path / 'store.sqlite'}.optuna-journal"))
        (study,) = optuna.get_all_study_summaries(journal)
        assert study.study_name == "optuna-tpe/job" and study.n_trials == len(trials)
