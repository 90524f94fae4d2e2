"""One contender through the contract, in a fresh process: ``python -m tests.contract_check
NAME OUTDIR``. Writes ``OUTDIR/facts.json`` for ``tests/test_contract.py`` to judge.

A fresh process per contender, as the harness's own workers give each job: dozens of
TensorFlow and torch models trained in one long-lived process slow each other down
(a MobileNetV2 that fits its 8 s alone took 50 s after thirty other models).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from harness.budget import Budget
from harness.contender import FitReport, create, get
from harness.metrics import check_proba
from tests.conftest import tiny_splits

BUDGET = 15.0


def check(name: str, out: Path) -> dict:
    train, val, test = tiny_splits()
    cls = get(name)
    # a contender may ask for a shorter budget or smaller inputs here (CI time)
    seconds = getattr(cls, "contract_budget", BUDGET)
    contender = create(name, seed=0, **getattr(cls, "contract_params", {}))
    workdir = out / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    contender.prepare(train, val, workdir)  # setup: not on the training clock
    budget = Budget(seconds)
    t0 = time.monotonic()
    report = contender.fit(train, val, budget, workdir)
    took = time.monotonic() - t0
    facts: dict = {"seconds": seconds, "took": took,
                   "report_ok": isinstance(report, FitReport), "proba_error": None}
    try:
        proba = check_proba(contender.predict_proba(test.images), len(test), test.num_classes)
        facts["proba_shape"] = list(proba.shape)
        facts["accuracy"] = float(np.mean(proba.argmax(1) == test.labels))
    except ValueError as exc:
        facts["proba_error"] = str(exc)
    facts["single_shape"] = list(np.shape(contender.predict_proba(test.images[:1])))
    info = contender.describe()
    facts["describe_ok"] = isinstance(info, dict) and "params" in info
    facts["parameters"] = info.get("parameters") if isinstance(info, dict) else None
    facts["history_elapsed"] = [e.elapsed_seconds for e in report.history]
    saved = contender.save(out / "model")
    facts["saved_ok"] = saved is None or saved.exists()
    return facts


if __name__ == "__main__":
    name, out = sys.argv[1], Path(sys.argv[2])
    (out / "facts.json").write_text(json.dumps(check(name, out)))
