"""`make demo`'s job: both default contenders on digits with a 60 s budget."""

import csv
import json

import pytest

from tests.conftest import run_cli, store_rows

pytestmark = pytest.mark.slow


def test_demo_ranks_both_contenders_and_keras_shallow_reaches_97(tmp_path):
    done = run_cli(["run", "--dataset", "digits", "--budget", "60s"], tmp_path, timeout=900,
                   HARNESS_PLUGINS="")
    assert done.returncode == 0, done.stderr
    assert "Plan" in done.stdout and "estimated wall time" in done.stdout
    rows = store_rows(tmp_path / "results/harness.sqlite")
    assert sorted((c, s) for _, c, s in rows) == [("keras-shallow", "ok"),
                                                   ("sklearn-logreg", "ok")]
    with open(tmp_path / "leaderboards/digits.csv") as fh:
        table = {r["contender"]: r for r in csv.DictReader(fh)}
    keras = table["keras-shallow"]
    assert float(keras["test_accuracy"]) >= 97.0
    if float(keras["train_seconds"]) > 60 * 1.05:  # the worker's log has the stacks then
        logs = [p.read_text(errors="replace")[-6000:]
                for p in (tmp_path / "results/runs").glob("*/worker.log")]
        raise AssertionError(f"keras-shallow trained {keras['train_seconds']} s on 60 s: "
                             + "\n".join(logs))
    for row in table.values():
        assert float(row["latency_p50_ms"]) > 0 and float(row["throughput_per_s"]) > 0
        assert row["rank"] in ("1", "2")
    md = (tmp_path / "leaderboards/digits.md").read_text()
    assert "keras-shallow" in md and "sklearn-logreg" in md
    # the job's artifacts: result, learning curve, predictions, the worker's log
    (result,) = [p for p in (tmp_path / "results/runs").glob("*/result.json")
                 if json.loads(p.read_text())["contender"] == "keras-shallow"]
    for name in ("history.csv", "test_predictions.npz", "worker.log", "job.json"):
        assert (result.parent / name).exists(), name
    assert len((result.parent / "history.csv").read_text().splitlines()) > 2
    env = json.loads(result.read_text())["environment"]
    assert env["packages"]["tensorflow"] and env["cpu"]
