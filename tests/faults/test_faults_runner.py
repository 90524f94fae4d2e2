"""The runner under fire: killed by SIGKILL mid-run, sharing its store with another
runner, jobs that fill the disk or diverge. Finished rows survive every one of them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import alive, harness_env, run_cli

pytestmark = pytest.mark.faults

RUN = [sys.executable, "-m", "harness", "run", "--dataset", "digits",
       "--max-train-per-class", "20"]


def rows(db: Path) -> list[tuple]:
    """(id, job_key, contender, status, run_id) of every row, straight from SQLite."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, job_key, contender, status, run_id FROM results ORDER BY id").fetchall()


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _wait_for(pattern: str, folder: Path, within: float = 120) -> Path:
    end = time.time() + within
    while time.time() < end:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"{pattern} never appeared in {folder}")


def test_sigkilled_runner_restarts_losing_nothing_and_repeating_nothing(tmp_path, tally):
    db, runs = tmp_path / "results/harness.sqlite", tmp_path / "results/runs"
    args = [*RUN, "--budget", "30s", "--seeds", "2", "-c", "test-quick,test-sleep"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=harness_env(HARNESS_TEST_SLEEP="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid_file = _wait_for("*/worker.pid", runs)  # seed 0's test-sleep is training
        before = rows(db)
        assert [(c, s) for _, _, c, s, _ in before] == [("test-quick", "ok")]
        # what a crash could leave in the job folder: a torn result and its temp file
        jobdir = pid_file.parent
        (jobdir / "result.json").write_text('{"status": "ok", "test_accuracy": 1.0, "te')
        (jobdir / ".result.json.tmp").write_text('{"status": "ok"')
        tally.fault("runner killed by SIGKILL mid-run")
        tally.fault("half-written result.json left in a job folder")
        proc.kill()
        proc.wait(30)
    finally:
        proc.kill()
    worker = int(pid_file.read_text())
    end = time.time() + 10
    while time.time() < end and alive(worker):
        time.sleep(0.2)
    assert not alive(worker), "the killed runner's worker kept running"
    assert integrity(db) == "ok"

    again = subprocess.run(args, cwd=tmp_path, env=harness_env(), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "1 already done" in again.stdout
    after = rows(db)
    assert tally.rows(before, after) == 0  # the finished row is the very same one
    keys = [k for _, k, _, _, _ in after]
    assert len(keys) == 4 and len(set(keys)) == 4, after  # no job twice
    assert all(s == "ok" for _, _, _, s, _ in after)
    assert integrity(db) == "ok"
    with sqlite3.connect(db) as conn:  # the dead runner's claim was taken over, then freed
        assert conn.execute("SELECT count(*) FROM claims").fetchone()[0] == 0
    # the torn result was not taken for a finished one: the job ran again, for real
    redone = json.loads((jobdir / "result.json").read_text())
    assert redone["status"] == "ok" and 0 < redone["test_accuracy"] < 1.0 + 1e-9
    assert redone["job_key"] == jobdir.name and not (jobdir / ".result.json.tmp").exists()


@pytest.mark.serial  # two runners started at one moment: a race, best run alone
def test_two_runners_on_one_store_run_each_job_once(tmp_path, tally):
    db = tmp_path / "results/harness.sqlite"
    # four jobs of about two seconds each: long enough for the runners to meet
    args = [*RUN, "--budget", "1s", "--seeds", "4", "-c", "test-sleep"]
    tally.fault("two runners on the same store at once")
    procs = [subprocess.Popen([*args, "--leaderboard-dir", f"boards{i}"], cwd=tmp_path,
                              env=harness_env(HARNESS_TEST_SLEEP="1"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    got = rows(db)
    keys = [k for _, k, _, _, _ in got]
    assert len(keys) == 4 and len(set(keys)) == 4, got  # each job once, none lost
    assert all(s == "ok" for _, _, _, s, _ in got)
    assert len({r for _, _, _, _, r in got}) == 2, "one runner did all the work"
    assert "skipped here, another runner" in "".join(err for _, err in outputs)
    with sqlite3.connect(db) as conn:  # every claim was given back
        assert conn.execute("SELECT count(*) FROM claims").fetchone()[0] == 0
    assert integrity(db) == "ok"
    for i in range(2):
        assert "test-sleep" in (tmp_path / f"boards{i}" / "digits.md").read_text()


def test_a_job_filling_the_disk_or_diverging_is_its_own_row(tmp_path, tally):
    pytest.importorskip("tensorflow")
    tally.fault("a contender writing 1 GB to its workdir")
    tally.fault("a Keras contender whose loss goes NaN (learning rate 1e12)")
    done = run_cli([
        "run", "--dataset", "digits", "--budget", "2s", "--max-train-per-class", "20",
        "--contenders", "test-bloat,test-keras-diverge,test-quick", "--max-artifacts", "64M",
    ], tmp_path, timeout=300)
    assert done.returncode == 4, done.stderr  # two jobs failed; the run went on
    found = {c: (s, m) for c, s, m in _status(tmp_path / "results/harness.sqlite")}
    assert found["test-quick"][0] == "ok"
    status, message = found["test-bloat"]
    assert status == "error" and "over --max-artifacts 64 MiB" in message, message
    bloat_dir = next(p.parent for p in (tmp_path / "results/runs").glob("*/job.json")
                     if json.loads(p.read_text())["job"]["contender"] == "test-bloat")
    assert not (bloat_dir / "work").exists()  # the space went back to the other jobs
    status, message = found["test-keras-diverge"]
    assert status == "error" and message.startswith("diverged: "), message
    assert "lower the learning rate" in message
    assert "diverged" in (tmp_path / "leaderboards/digits.md").read_text()


def _status(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return [(c, s, json.loads(p)["message"]) for c, s, p in conn.execute(
            "SELECT contender, status, payload FROM results ORDER BY id")]
