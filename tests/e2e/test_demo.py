"""`harness demo` (what `make demo` runs): the default lineup on digits, offline.

Every family has a row: the floor and the hand-built CNN train, the pretrained ones
are ``skipped`` saying which file to put where (no network here). The page goes under
``results/``: nothing else in the checkout changes.
"""

import csv
import json

import pytest

from harness.cli import DEMO_ARGS
from tests.conftest import ROOT, run_cli, store_rows

pytestmark = [pytest.mark.slow, pytest.mark.serial]


def test_demo_ranks_every_family_and_leaves_the_checkout_alone(tmp_path):
    args = DEMO_ARGS
    assert "--contenders" not in args and "-c" not in args  # the default lineup
    board = tmp_path / args[args.index("--leaderboard-dir") + 1]
    assert board.relative_to(tmp_path).parts[0] == "results"  # ignored by git
    assert "\t$(BIN)/harness demo\n" in (ROOT / "Makefile").read_text()  # make demo runs it
    budget = 30.0
    done = run_cli(["demo"], tmp_path, timeout=900, HARNESS_PLUGINS="", HARNESS_OFFLINE="1",
                   KERAS_HOME=str(tmp_path / "no-keras-cache"))
    assert done.returncode == 0, done.stderr
    assert "Plan" in done.stdout and "estimated wall time" in done.stdout
    assert "the linear floor" in done.stdout  # the plan says why each contender runs
    rows = {c: s for _, c, s in store_rows(tmp_path / "results/harness.sqlite")}
    assert rows == {"sklearn-logreg": "ok", "sklearn-svc": "ok", "keras-shallow": "ok",
                    "mobilenetv2-frozen": "skipped", "automm-medium": "skipped"}, rows
    with open(board / "digits.csv") as fh:
        table = {r["contender"]: r for r in csv.DictReader(fh)}
    assert {r["family"] for r in table.values()} >= {"sklearn", "keras-cnn",
                                                     "keras-transfer", "automm"}
    assert "mobilenet_v2" in table["mobilenetv2-frozen"]["message"]  # which file
    assert "--weights-dir" in table["automm-medium"]["message"]      # where
    keras = table["keras-shallow"]
    assert float(keras["test_accuracy"]) >= 97.0
    if float(keras["train_seconds"]) > budget * 1.05:  # the worker's log has the stacks
        logs = [p.read_text(errors="replace")[-6000:]
                for p in (tmp_path / "results/runs").glob("*/worker.log")]
        raise AssertionError(f"keras-shallow trained {keras['train_seconds']} s on "
                             f"{budget:.0f} s: " + "\n".join(logs))
    trained = ("keras-shallow", "sklearn-logreg", "sklearn-svc")
    for name in trained:
        row = table[name]
        assert float(row["latency_p50_ms"]) > 0 and float(row["throughput_per_s"]) > 0
        assert float(row["latency_mean_ms"]) > 0
    # ranked by accuracy, equal accuracies sharing a rank (SVC and the CNN can tie on digits)
    accuracy = {name: float(table[name]["test_accuracy"]) for name in trained}
    for name in trained:
        ahead = sum(a > accuracy[name] for a in accuracy.values())
        assert table[name]["rank"] == str(1 + ahead), (name, accuracy, table[name]["rank"])
    assert min(table[name]["rank"] for name in trained) == "1"
    md = (board / "digits.md").read_text()
    assert "keras-shallow" in md and "Latency p50 ms" in md and "img/s" in md
    # only results/ was written: a fresh clone's `git status` stays clean
    assert sorted(p.name for p in tmp_path.iterdir()
                  if p.name != "no-keras-cache") == ["results"]
    # the job's artifacts: result, learning curve, predictions, the worker's log
    (result,) = [p for p in (tmp_path / "results/runs").glob("*/result.json")
                 if json.loads(p.read_text())["contender"] == "keras-shallow"]
    for name in ("history.csv", "test_predictions.npz", "worker.log", "job.json"):
        assert (result.parent / name).exists(), name
    assert len((result.parent / "history.csv").read_text().splitlines()) > 2
    data = json.loads(result.read_text())
    assert data["parameters"] >= data["trainable_parameters"] > 0
    assert data["latency_images"] == data["n_test"]  # the whole test set, one at a time
    env = data["environment"]
    assert env["packages"]["tensorflow"] and env["cpu"]
