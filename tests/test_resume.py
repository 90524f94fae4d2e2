"""Ctrl-C keeps finished rows; the same command then runs only what is left."""

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import harness_env, store_rows

ARGS = ["-m", "harness", "run", "--dataset", "digits", "--budget", "60s",
        "--max-train-per-class", "20", "--contenders", "test-quick,test-sleep"]


def test_interrupt_then_resume_repeats_nothing_and_loses_nothing(tmp_path):
    db = tmp_path / "results/harness.sqlite"
    proc = subprocess.Popen([sys.executable, *ARGS], cwd=tmp_path,
                            env=harness_env(HARNESS_TEST_SLEEP="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    pid_files = []
    while time.time() < deadline and not pid_files:
        time.sleep(0.2)
        pid_files = list((tmp_path / "results/runs").glob("*/worker.pid"))
    assert pid_files, "the sleeping job never started"
    worker_pid = int(pid_files[0].read_text())
    assert [s for _, c, s in store_rows(db)] == ["ok"]  # test-quick finished first
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
    result = json.loads(next((tmp_path / "results/runs").glob("*/result.json")).read_text())
    assert result["status"] == "ok"
