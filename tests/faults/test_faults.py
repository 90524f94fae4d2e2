"""Contenders that raise, crash, hang and hoard memory: each its own row, the rest go on."""

import os

import pytest

from tests.conftest import run_cli, store_rows

pytestmark = pytest.mark.faults


@pytest.mark.serial  # the allocating contender must reach its memory limit before its timeout
def test_each_failure_is_its_own_row_and_the_run_goes_on(tmp_path, tally):
    for fault in ("raises", "os.abort()", "hangs ignoring SIGTERM", "child outliving its worker",
                  "allocates until killed (--max-memory)"):
        tally.fault(fault)
    done = run_cli([
        "run", "--dataset", "digits", "--budget", "2s", "--max-train-per-class", "20",
        "--contenders", "test-raise,test-abort,test-hang,test-alloc,test-quick",
        "--grace", "1s", "--grace-factor", "1", "--max-memory", "600M",
    ], tmp_path, timeout=300)
    assert done.returncode == 4, done.stderr  # the run went on, and says jobs failed
    assert "4 job(s) failed" in done.stderr
    status = {contender: s for _, contender, s in store_rows(tmp_path / "results/harness.sqlite")}
    assert status == {"test-raise": "error", "test-abort": "error", "test-hang": "timeout",
                      "test-alloc": "oom", "test-quick": "ok"}
    md = (tmp_path / "leaderboards/digits.md").read_text()
    assert "boom: the contender failed on purpose" in md
    assert "SIGABRT" in md and "hard limit of 3 s" in md and "--max-memory" in md
    # the hanging worker's child went with its process group
    (pid_file,) = (tmp_path / "results/runs").glob("*/work/child.pid")
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
