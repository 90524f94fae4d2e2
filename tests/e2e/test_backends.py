"""The same Keras model on JAX, PyTorch and TensorFlow under one budget, in one run."""

import csv
import json

import pytest

from tests.conftest import run_cli, store_rows

pytestmark = [pytest.mark.slow, pytest.mark.serial]


def test_keras_shallow_on_every_backend_learns_digits_and_says_which(tmp_path):
    done = run_cli(["run", "--dataset", "digits", "--budget", "15s", "--contenders",
                    "keras-shallow", "--keras-backend", "jax,torch,tensorflow"], tmp_path,
                   timeout=600, HARNESS_PLUGINS="")
    assert done.returncode == 0, done.stderr
    assert "3 job(s)" in done.stdout
    rows = store_rows(tmp_path / "results/harness.sqlite")
    assert sorted(s for _, _, s in rows) == ["ok"] * 3
    results = [json.loads(p.read_text()) for p in (tmp_path / "results/runs").glob(
        "*/result.json")]
    assert sorted(r["runtime"]["backend"] for r in results) == ["jax", "tensorflow", "torch"]
    for r in results:
        # each job imported the backend it was given, not Keras' default
        log = (tmp_path / "results/runs" / r["job_key"] / "worker.log").read_text()
        assert r["test_accuracy"] >= 0.95, (r["runtime"], r["test_accuracy"], log[-2000:])
        assert r["train_seconds"] <= 15 * 1.05
        assert r["runtime"]["precision"] == "float32" and r["gpus_used"] == 0
        assert r["runtime"]["compiler"] in ("xla", "off")
    with open(tmp_path / "leaderboards/digits.csv") as fh:
        table = list(csv.DictReader(fh))
    assert sorted(r["contender"] for r in table) == [
        "keras-shallow [jax]", "keras-shallow [tensorflow]", "keras-shallow [torch]"]
    assert sorted(r["backend"] for r in table) == ["jax", "tensorflow", "torch"]
    md = (tmp_path / "leaderboards/digits.md").read_text()
    for backend in ("jax", "tensorflow", "torch"):
        assert f"keras-shallow \\[{backend}\\]](" in md and f"| keras-cnn ({backend}) |" in md
