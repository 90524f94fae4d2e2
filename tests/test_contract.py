"""Every registered contender against the contract, on tiny synthetic data.

A new contender in ``baselines/`` is tested here without anyone writing a test.
"""

import time

import numpy as np
import pytest

from harness.budget import Budget
from harness.contender import FitReport, create, get, list_contenders
from harness.metrics import check_proba

BUDGET = 15.0


@pytest.mark.parametrize("name", list_contenders("all"))
def test_contract(name, tiny, tmp_path):
    why = get(name).unavailable() or getattr(get(name), "contract_skip", None)
    if why:
        pytest.skip(why)
    train, val, test = tiny
    # a contender may ask for a shorter budget or smaller inputs here (CI time)
    seconds = getattr(get(name), "contract_budget", BUDGET)
    contender = create(name, seed=0, **getattr(get(name), "contract_params", {}))
    contender.prepare(train, val, tmp_path)  # setup: not on the training clock
    budget = Budget(seconds)
    t0 = time.monotonic()
    report = contender.fit(train, val, budget, tmp_path)
    took = time.monotonic() - t0
    assert isinstance(report, FitReport)
    assert took <= seconds * 1.05, f"{name} trained {took:.1f} s on a {seconds:.0f} s budget"
    proba = check_proba(contender.predict_proba(test.images), len(test), test.num_classes)
    assert proba.shape == (len(test), 3)
    accuracy = np.mean(proba.argmax(1) == test.labels)
    if not get(name).pretrained:
        # Pretrained contenders run here on random stand-in weights with fine-tuning
        # recipes (tiny learning rates) that are not meant to learn from scratch in
        # seconds: for them the contract is the shape of what they return, not accuracy.
        assert accuracy > 0.6, f"{name} learned nothing: {accuracy:.2f} on easy synthetic data"
    single = contender.predict_proba(test.images[:1])
    assert single.shape == (1, 3)
    info = contender.describe()
    assert isinstance(info, dict) and "params" in info
    assert info.get("parameters") is None or info["parameters"] > 0
    for epoch in report.history:
        assert 0 <= epoch.elapsed_seconds <= took + 1
    saved = contender.save(tmp_path / "model")
    assert saved is None or saved.exists()
