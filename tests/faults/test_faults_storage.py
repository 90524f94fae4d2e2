"""The store, the disk and the pages failing: nothing finished is lost, every refusal
is one line naming the fix, and nothing is written where it must not be."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

import pytest

from harness.core.config import RunConfig
from harness.core.errors import HarnessError
from harness.core.jobs import Job, Result, Status
from harness.store import Store, StoreError
from tests.conftest import PLUGINS, run_cli, store_rows
from tests.faults.conftest import refuse

pytestmark = pytest.mark.faults

RUN = ["run", "-d", "digits", "-c", "test-quick", "--max-train-per-class", "5", "-b", "5s"]


def _claims(db: Path) -> list:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT job_key FROM claims").fetchall()


def test_a_runs_dir_that_is_a_file_is_refused_before_anything_runs(seeded, capsys, tally):
    (seeded / "runs-file").write_text("keep me")
    line = refuse([*RUN, "--runs-dir", "runs-file"], seeded, capsys, tally)
    assert "--runs-dir runs-file is a file" in line
    assert (seeded / "runs-file").read_text() == "keep me"
    assert _claims(seeded / "results" / "harness.sqlite") == []  # no stale claim


def test_another_application_s_sqlite_file_is_refused_untouched(tmp_path, tally):
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
    before = other.read_bytes()
    tally.bad_input("--store pointing at another application's SQLite file")
    done = run_cli([*RUN, "--store", f"sqlite:///{other}"], tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "is not a harness store (its tables: users)" in done.stderr
    assert other.read_bytes() == before and not Path(f"{other}-wal").exists()


@pytest.mark.parametrize("command", ["run", "leaderboard"])
def test_a_damaged_store_is_one_line_naming_the_file_and_the_fix(tmp_path, command, tally):
    db = tmp_path / "h.sqlite"
    store = Store(f"sqlite:///{db}")
    for seed in range(200):  # enough rows for several pages
        store.add(Result.for_job(Job("digits", "test-quick", 0, 1, seed, 5.0), Status.OK,
                                 family="test", message="x" * 500))
    store.close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(db, "r+b") as fh:  # scribble over the data pages, keep the header
        fh.seek(4096 * 3)
        fh.write(os.urandom(4096 * 4))
    tally.fault(f"store damaged inside its data pages ({command})")
    args = RUN if command == "run" else ["leaderboard"]
    done = run_cli([*args, "--store", f"sqlite:///{db}"], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(db) in done.stderr and "restore it from a backup" in done.stderr


def test_a_store_truncated_to_nothing_is_refused(tmp_path, tally):
    db = tmp_path / "h.sqlite"
    db.write_bytes(b"")
    tally.bad_input("a store truncated to 0 bytes")
    done = run_cli([*RUN, "--store", f"sqlite:///{db}"], tmp_path)
    assert done.returncode == 1 and "is an empty file" in done.stderr, done.stderr
    assert db.stat().st_size == 0


def test_two_datasets_whose_safe_names_collide_get_two_pages(tmp_path, tally):
    from tests.unit.data.test_datasets_local import class_folder

    a = class_folder(tmp_path / "x" / "a_b")
    b = class_folder(tmp_path / "x" / "a" / "b")
    tally.fault("two dataset names with one safe file name")
    for folder in (a, b):
        done = run_cli(["run", "-d", f"folder:{folder}", "-c", "test-quick", "-b", "2s"],
                       tmp_path)
        assert done.returncode == 0, done.stderr
    pages = sorted(p.name for p in (tmp_path / "leaderboards").glob("folder*.md"))
    assert len(pages) == 2, pages
    titles = {(tmp_path / "leaderboards" / p).read_text().splitlines()[0].replace("\\_", "_")
              for p in pages}
    assert titles == {f"# Leaderboard: folder:{a}", f"# Leaderboard: folder:{b}"}
    index = (tmp_path / "leaderboards" / "README.md").read_text()
    assert all(p in index for p in pages)


def test_a_full_disk_while_writing_pages_is_one_line_and_no_truncated_file(
        tmp_path, monkeypatch, tally):
    from harness.reporting import leaderboard
    from tests.unit.reporting.test_leaderboard import _ok

    rows = [_ok(name, seed, acc) for seed in range(2)
            for name, acc in (("keras-shallow", 0.6), ("sklearn-logreg", 0.4))]
    real = os.replace

    def full(src, dst):  # the data went to the temporary file; the rename never comes
        if str(dst).endswith((".png", ".md")):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    tally.fault("leaderboard written on a full disk")
    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(HarnessError, match="No space left on device; free space"):
        leaderboard.write(rows, tmp_path / "boards")
    left = [p for p in (tmp_path / "boards").rglob("*") if p.is_file()]
    assert not [p for p in left if p.suffix in (".png", ".md") or p.name.endswith(".tmp")]


class _FullStore(Store):
    """A store whose disk fills up after ``room`` rows."""

    room = 1

    def add(self, result):
        if self.room <= 0:
            raise StoreError("store sqlite:///h.sqlite failed while adding a row: database "
                             "or disk is full; free space on its disk")
        self.room -= 1
        super().add(result)


def test_a_store_that_fills_up_mid_run_loses_no_finished_row(tmp_path, monkeypatch, tally):
    from harness.execution import scheduler
    from harness.execution.local import LocalExecutor
    from harness.execution.plan import plan
    from harness.execution.recovery import ingest

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PLUGINS),
                                                      os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("HARNESS_PLUGINS", "fault_contenders")
    monkeypatch.syspath_prepend(str(PLUGINS))
    import fault_contenders  # noqa: F401

    monkeypatch.setattr(scheduler, "STORE_RETRY_SECONDS", (0.01,))
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    config = RunConfig(dataset="digits", contenders=("test-quick",), budget_seconds=5.0,
                       seeds=3, max_train_per_class=5, store_url=url)
    tally.fault("store on a full disk mid-run")
    with pytest.raises(scheduler.StoreFailed, match=r"1 finished job.* kept .* 1 were not"):
        scheduler.run([(config, config.jobs())], _FullStore(url), LocalExecutor())
    store = Store(url)
    before = store_rows(tmp_path / "h.sqlite")
    assert len(before) == 1
    # the next run adds the finished job from its folder and runs only the one not started
    assert ingest(config.runs_dir, store) == 1
    [unit] = plan([config], store)
    assert len(unit.todo) == 1
    scheduler.run([(config, unit.todo)], store, LocalExecutor())
    after = store_rows(tmp_path / "h.sqlite")
    assert tally.rows(before, after) == 0
    assert sorted(k for k, _, _ in after) == sorted(j.key for j in config.jobs())
    assert ingest(config.runs_dir, store) == 0  # nothing twice


def test_a_failed_job_makes_a_non_zero_exit_and_a_skipped_one_does_not(tmp_path):
    failed = run_cli(["run", "-d", "digits", "-c", "test-quick,test-raise", "-b", "2s",
                      "--max-train-per-class", "5"], tmp_path)
    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert "1 job(s) failed: test-raise (error)" in failed.stderr
    rows = {c: s for _, c, s in store_rows(tmp_path / "results/harness.sqlite")}
    assert rows == {"test-quick": "ok", "test-raise": "error"}


def test_job_folders_of_another_store_are_not_taken(tmp_path, tally):
    from harness.execution.recovery import missing_rows

    tally.fault("job folders of another store in the runs folder")
    jobdir = tmp_path / "runs" / "abc"
    jobdir.mkdir(parents=True)
    job = Job("digits", "test-quick", 0, 1, 0, 5.0)
    (jobdir / "job.json").write_text(json.dumps(
        {"job": job.__dict__, "context": {"store_url": "sqlite:///other.sqlite"}}))
    (jobdir / "result.json").write_text(json.dumps({"status": "ok", "job_key": job.key}))
    assert missing_rows(tmp_path / "runs", Store(f"sqlite:///{tmp_path / 'h.sqlite'}")) == []


def test_a_runs_dir_on_a_full_disk_is_refused_before_anything_runs(seeded, capsys, tally,
                                                                    monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(2**40, 2**40 - 2**20, 2**20)
                        if "runs" in str(p) else real(p))
    tally.fault("runs dir on a full disk")
    line = refuse([*RUN, "--runs-dir", "full-runs"], seeded, capsys, tally)
    assert "--runs-dir full-runs has 1 MiB free" in line and "free space" in line
