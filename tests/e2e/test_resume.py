"""Ctrl-C keeps finished rows; the same command then runs only what is left."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import harness_env, store_rows

pytestmark = pytest.mark.faults

ARGS = ["-m", "harness", "run", "--dataset", "digits", "--budget", "60s",
        "--max-train-per-class", "20", "--contenders", "test-quick,test-sleep"]


def test_interrupt_then_resume_repeats_nothing_and_loses_nothing(tmp_path, tally):
    db = tmp_path / "results/harness.sqlite"
    # Ctrl-C as a terminal sends it: Python ignores SIGINT for good in a process started
    # with it ignored (pytest run in the background by a non-interactive shell)
    proc = subprocess.Popen([sys.executable, *ARGS], cwd=tmp_path,
                            env=harness_env(HARNESS_TEST_SLEEP="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    pid_files = []
    while time.time() < deadline and not pid_files:
        time.sleep(0.2)
        pid_files = list((tmp_path / "results/runs").glob("*/worker.pid"))
    assert pid_files, "the sleeping job never started"
    worker_pid = int(pid_files[0].read_text())
    assert [s for _, c, s in store_rows(db)] == ["ok"]  # test-quick finished first
    tally.fault("Ctrl-C mid-run")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Run the same command again to resume" in err
    time.sleep(0.5)
    try:
        os.kill(worker_pid, 0)
        raise AssertionError("the interrupted worker is still alive")
    except ProcessLookupError:
        pass
    first = store_rows(db)
    assert [(c, s) for _, c, s in first] == [("test-quick", "ok")]

    again = subprocess.run([sys.executable, *ARGS], cwd=tmp_path, env=harness_env(),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "1 already done" in again.stdout
    rows = store_rows(db)
    assert [(c, s) for _, c, s in rows] == [("test-quick", "ok"), ("test-sleep", "ok")]
    assert rows[0] == first[0]  # the finished row is the same one, not a re-run
    assert tally.rows(first, rows) == 0
    result = json.loads(next((tmp_path / "results/runs").glob("*/result.json")).read_text())
    assert result["status"] == "ok"


def _start_sleeping_run(tmp_path):
    proc = subprocess.Popen([sys.executable, *ARGS[:-1], "test-sleep"], cwd=tmp_path,
                            env=harness_env(HARNESS_TEST_SLEEP="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list((tmp_path / "results/runs").glob("*/worker.pid"))
        if found:
            return proc, int(found[0].read_text())
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the sleeping job never started")


def _gone(pid: int, within: float) -> bool:
    end = time.time() + within
    while time.time() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def test_sigterm_stops_the_run_like_ctrl_c(tmp_path, tally):
    proc, worker = _start_sleeping_run(tmp_path)
    tally.fault("SIGTERM to the runner")
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "resume" in err
    assert _gone(worker, 10)


def test_a_killed_runner_takes_its_workers_with_it(tmp_path, tally):
    proc, worker = _start_sleeping_run(tmp_path)
    tally.fault("runner killed by SIGKILL: its orphaned worker")
    proc.kill()  # SIGKILL: no handler runs in the runner
    proc.wait(30)
    assert _gone(worker, 10), "an orphaned worker kept running"
    assert store_rows(tmp_path / "results/harness.sqlite") == []
    again = subprocess.run([sys.executable, *ARGS[:-1], "test-sleep"], cwd=tmp_path,
                           env=harness_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert [s for _, _, s in store_rows(tmp_path / "results/harness.sqlite")] == ["ok"]
