"""The winner kept: a run keeps its leader's model, `harness export-model` writes it
with code that, run as written from another folder, classifies a test image."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from tests.conftest import harness_env, run_cli


def test_a_run_keeps_its_leader_and_the_export_classifies_like_the_job(tmp_path):
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    checkout.mkdir()
    elsewhere.mkdir()
    store = f"sqlite:///{checkout}/results/harness.sqlite"
    done = run_cli(["run", "-d", "digits", "-b", "3s", "-c", "sklearn-logreg,keras-shallow",
                    "--max-train-per-class", "40", "--leaderboard-dir", "results/lb"],
                   checkout, timeout=600, HARNESS_OFFLINE="1")
    assert done.returncode == 0, done.stderr
    assert "Kept the leader's model" in done.stdout and "harness export-model" in done.stdout
    models = sorted(p.parent.name for p in (checkout / "results/runs").glob("*/model"))
    assert len(models) == 1, models  # the other contender's model went at the end

    # from another folder, by the store's absolute job folders
    target = elsewhere / "winner"
    done = run_cli(["export-model", "digits", str(target), "--store", store], elsewhere,
                   HARNESS_OFFLINE="1")
    assert done.returncode == 0, done.stderr
    assert {p.name for p in target.iterdir()} == {"model", "model.json", "classify.py",
                                                  "example.png"}
    job = checkout / "results/runs" / models[0]
    kept = np.load(job / "test_predictions.npz")
    expected = str(kept["class_names"][kept["proba"][0].argmax()])
    ran = subprocess.run([sys.executable, "classify.py", "example.png"], cwd=target,
                         env=harness_env(HARNESS_OFFLINE="1"), capture_output=True,
                         text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    label, share = ran.stdout.strip().split(": ", 1)[1].rsplit(" (", 1)
    assert label == expected, (ran.stdout, expected)
    assert abs(float(share.rstrip("%)")) - 100 * kept["proba"][0].max()) < 0.1, ran.stdout

    # the page is the same whichever folder `harness leaderboard` runs from
    pages = []
    for cwd in (checkout, elsewhere):
        board = tmp_path / f"board-{cwd.name}"
        done = run_cli(["leaderboard", "--store", store, "--leaderboard-dir", str(board)], cwd)
        assert done.returncode == 0, done.stderr
        pages.append(((board / "digits.md").read_text(),
                      sorted(p.relative_to(board).as_posix() for p in board.rglob("*.png"))))
    assert pages[0] == pages[1]
    assert any("confusion" in p for p in pages[0][1]), pages[0][1]  # drawn from job folders

    again = run_cli(["export-model", "digits", str(target), "--store", store], elsewhere)
    assert again.returncode == 1 and "not empty" in again.stderr  # nothing overwritten
    leader = json.loads((target / "model.json").read_text())["contender"]
    other = ({"sklearn-logreg", "keras-shallow"} - {leader}).pop()
    loser = run_cli(["export-model", "digits", str(elsewhere / "x"), "--store", store,
                     "--contender", other], elsewhere)
    assert loser.returncode == 1 and "--keep-models" in loser.stderr, loser.stderr
    assert loser.stderr.strip().count("\n") == 0 and not (elsewhere / "x").exists()
