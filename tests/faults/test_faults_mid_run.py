"""The store, the workers and the runner hit while jobs run: a store deleted, replaced or
made immutable, a worker killed from outside, the runner stopped by SIGTERM. Each ends
in one line with the right exit status and the right diagnosis, and no finished row is
lost: what the store could not take waits in its job folder for the next run."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import harness_env, run_cli, store_results

pytestmark = pytest.mark.faults

RUN = [sys.executable, "-m", "harness", "run", "--dataset", "digits",
       "--max-train-per-class", "20", "-c", "test-sleep"]


def _rows(db: Path) -> list[tuple[str, str]]:
    """(job_key, status) of every row; none when the file is gone."""
    if not db.exists():
        return []
    return [(r.job_key, r.status.value) for r in store_results(db)]


def _wait_for(pattern: str, folder: Path, count: int = 1, within: float = 300,
              runner: subprocess.Popen | None = None) -> list[Path]:
    end = time.time() + within
    while time.time() < end:
        found = sorted(folder.glob(pattern))
        if len(found) >= count:
            return found
        if runner is not None and runner.poll() is not None:
            raise AssertionError(f"the runner ended ({runner.returncode}) before {pattern} "
                                 f"appeared: {runner.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"{count} x {pattern} never appeared in {folder}")


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*RUN, *args], cwd=tmp_path, env=harness_env(HARNESS_TEST_SLEEP="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _replace(db: Path) -> None:
    """Another file where the store was: a copy, renamed over it."""
    copy = db.with_name("copy.sqlite")
    with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    os.replace(copy, db)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_deleted_or_replaced_mid_run_stops_the_run_and_loses_nothing(how, tmp_path,
                                                                             tally):
    db = tmp_path / "st" / "h.sqlite"
    args = ["-b", "2s", "--seeds", "3", "--store", f"sqlite:///{db}"]
    runner = _start(tmp_path, *args)
    try:
        _wait_for("*/result.json", tmp_path / "results" / "runs")
        _wait_for("*/worker.pid", tmp_path / "results" / "runs", count=2)
        before = _rows(db)
        assert len(before) == 1
        tally.fault(f"the store's file {how} mid-run")
        if how == "deleted":
            for p in db.parent.glob("h.sqlite*"):
                p.unlink()
        else:
            _replace(db)
        out, err = runner.communicate(timeout=180)
    finally:
        runner.kill()
    lines = err.strip().splitlines()
    assert runner.returncode == 1, (out, err)
    assert lines[-1].startswith(f"harness: error: store {db} was deleted or replaced"), err
    assert "Traceback" not in err and "run the same command again" in lines[-1]

    again = run_cli([*RUN[3:], *args], tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "Recovered" in again.stdout
    after = _rows(db)
    assert tally.rows(before, after) == 0
    assert len({k for k, _ in after}) == 3 and {s for _, s in after} == {"ok"}


def test_a_store_made_immutable_mid_run_is_one_line_and_exit_1_not_sigbus(tmp_path, tally):
    chattr = shutil.which("chattr")
    if chattr is None or os.geteuid() != 0:
        pytest.skip("making a file immutable needs chattr and root")
    probe = tmp_path / "probe"
    probe.write_text("x")
    if subprocess.run([chattr, "+i", str(probe)], capture_output=True).returncode:
        pytest.skip("this file system takes no immutable flag")
    subprocess.run([chattr, "-i", str(probe)], check=True)
    folder = tmp_path / "st"
    runner = _start(tmp_path, "-b", "1s", "--seeds", "4", "--store",
                    f"sqlite:///{folder / 'h.sqlite'}")
    try:
        _wait_for("*/result.json", tmp_path / "results" / "runs", runner=runner)
        before = _rows(folder / "h.sqlite")
        tally.fault("the store's file and folder made immutable mid-run")
        subprocess.run([chattr, "-R", "+i", str(folder)], check=True)
        out, err = runner.communicate(timeout=180)
    finally:
        runner.kill()
        subprocess.run([chattr, "-R", "-i", str(folder)], capture_output=True)
    assert runner.returncode == 1, (runner.returncode, out, err)  # SIGBUS was -7 (135)
    lines = err.strip().splitlines()
    assert lines[-1].startswith("harness: error: store ") and "Traceback" not in err, err
    assert tally.rows(before, _rows(folder / "h.sqlite")) == 0
    # the rows the store could not take are in their job folders for the next run
    again = run_cli(["run", "--dataset", "digits", "--max-train-per-class", "20", "-c",
                     "test-sleep", "-b", "1s", "--seeds", "4", "--store",
                     f"sqlite:///{folder / 'h.sqlite'}"], tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    assert len({k for k, _ in _rows(folder / "h.sqlite")}) == 4


def test_a_worker_killed_from_outside_is_recorded_with_its_signal(tmp_path, tally):
    runner = _start(tmp_path, "-b", "20s")
    try:
        (pid_file,) = _wait_for("*/worker.pid", tmp_path / "results" / "runs")
        tally.fault("a worker killed by SIGKILL from outside, no memory cap set")
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        out, err = runner.communicate(timeout=180)
    finally:
        runner.kill()
    assert runner.returncode == 4, (out, err)
    (row,) = store_results(tmp_path / "results" / "harness.sqlite")
    # no memory cap, and the kernel's out-of-memory killer counted nothing: not oom
    assert row.status.value == "error" and "SIGKILL" in row.message \
        and "train phase" in row.message, row


def test_sigterm_counts_every_finished_job_it_keeps(tmp_path, tally):
    runner = _start(tmp_path, "-b", "2s", "--seeds", "3")
    runs = tmp_path / "results" / "runs"
    try:
        _wait_for("*/result.json", runs)
        _wait_for("*/worker.pid", runs, count=2)
        tally.fault("runner stopped by SIGTERM mid-run")
        runner.send_signal(signal.SIGTERM)
        out, err = runner.communicate(timeout=180)
    finally:
        runner.kill()
    assert runner.returncode == 130, (out, err)
    finished = len(list(runs.glob("*/result.json")))
    assert f"{finished} finished job(s) kept" in " ".join(err.split()), err
    assert len(_rows(tmp_path / "results" / "harness.sqlite")) == finished


def test_a_job_that_finished_as_the_interrupt_came_is_kept(tmp_path, tally):
    from harness.core.config import RunConfig
    from harness.core.jobs import Result, Status
    from harness.execution import scheduler
    from harness.store import Store

    class Executor:
        """Two jobs run; the interrupt comes while the second has already finished."""

        name = "fake"

        def __init__(self) -> None:
            self.polled: set[str] = set()
            self.cancelled: list[str] = []

        def check(self, configs): ...
        def slots(self, config): return 2
        def has_room(self, config): return True
        def submit(self, job, config): return job
        def phase(self, job): return None
        def close(self): ...

        def poll(self, job):
            if not self.polled:
                self.polled.add(job.key)
                raise KeyboardInterrupt  # the signal, while looking at the first job
            self.polled.add(job.key)
            if job.seed == 1:  # its worker wrote result.json before the signal came
                return Result.for_job(job, Status.OK, family="test", test_accuracy=0.5)
            return None

        def cancel(self, job, grace=0.0):
            self.cancelled.append(job.key)

    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    config = RunConfig(dataset="digits", contenders=("sklearn-logreg",), budget_seconds=5.0,
                       seeds=2)
    executor = Executor()
    tally.fault("an interrupt while a finished job waits to be collected")
    with pytest.raises(scheduler.Interrupted) as info:
        scheduler.run([(config, config.jobs())], store, executor)
    assert info.value.finished == 1
    assert [r.seed for r in store.latest()] == [1] and len(executor.cancelled) == 1


def test_16_bit_images_are_scaled_not_flattened_and_train(tmp_path, tally):
    from PIL import Image

    rng = np.random.default_rng(0)
    data = tmp_path / "deep"
    for name, (low, high) in {"dark": (0, 20000), "light": (40000, 60000)}.items():
        (data / name).mkdir(parents=True)
        for i in range(30):
            pixels = rng.integers(low, high, (16, 16)).astype(np.uint16)
            Image.fromarray(pixels).save(data / name / f"{i}.png")  # 16-bit grayscale PNG
    with Image.open(data / "dark" / "0.png") as img:
        assert img.mode.startswith("I")  # Pillow reads it as more than 8 bits
    tally.fault("16-bit PNG images")
    done = run_cli(["run", "-d", f"folder:{data}", "-c", "sklearn-logreg", "-b", "2s"],
                   tmp_path, timeout=300, HARNESS_DATA=str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    (row,) = store_results(tmp_path / "results" / "harness.sqlite")
    assert row.test_accuracy > 0.95, row.test_accuracy
    (arrays,) = (tmp_path / "cache").rglob("train_images.npy")
    pixels = np.load(arrays)
    assert pixels.max() < 255 and 60 < pixels.mean() < 200  # scaled, not clipped to white
