"""Every registered contender against the contract, on tiny synthetic data.

A new contender in ``baselines/`` is tested here without anyone writing a test. Each
runs in a process of its own (``tests/contract_check.py``), as jobs do in the harness.
"""

import json
import subprocess
import sys

import pytest

from harness.contender import get, list_contenders
from tests.conftest import ROOT, harness_env


@pytest.mark.parametrize("name", list_contenders("all"))
def test_contract(name, tmp_path):
    why = get(name).unavailable() or getattr(get(name), "contract_skip", None)
    if why:
        pytest.skip(why)
    done = subprocess.run([sys.executable, "-m", "tests.contract_check", name, str(tmp_path)],
                          cwd=ROOT, env=harness_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads((tmp_path / "facts.json").read_text())
    seconds, took = facts["seconds"], facts["took"]
    assert facts["report_ok"], "fit must return a FitReport"
    assert took <= seconds * 1.05, f"{name} trained {took:.1f} s on a {seconds:.0f} s budget"
    assert facts["proba_error"] is None, facts["proba_error"]
    assert facts["proba_shape"] == [18, 3]
    if not get(name).pretrained:
        # Pretrained contenders run here on random stand-in weights with fine-tuning
        # recipes (tiny learning rates) that are not meant to learn from scratch in
        # seconds: for them the contract is the shape of what they return, not accuracy.
        accuracy = facts["accuracy"]
        assert accuracy > 0.6, f"{name} learned nothing: {accuracy:.2f} on easy synthetic data"
    assert facts["single_shape"] == [1, 3]
    assert facts["describe_ok"], "describe() must return a dict with 'params'"
    assert facts["parameters"] is None or facts["parameters"] > 0
    assert all(0 <= e <= took + 1 for e in facts["history_elapsed"])
    assert facts["saved_ok"], "save() returned a path that does not exist"
