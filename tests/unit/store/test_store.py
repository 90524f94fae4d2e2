import sqlite3

import pytest

from harness.core.errors import HarnessError
from harness.core.jobs import Job, Result, Status
from harness.store import Store, redact


def _row(job: Job, status: Status, acc: float | None = None) -> Result:
    return Result.for_job(job, status, test_accuracy=acc)


def test_latest_row_per_key_and_done_keys(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/s.sqlite")
    a = Job("digits", "sklearn-logreg", 0, 1, 0, 60.0)
    b = Job("digits", "keras-shallow", 0, 1, 0, 60.0)
    store.add(_row(a, Status.ERROR))
    store.add(_row(a, Status.OK, 0.9))
    store.add(_row(b, Status.TIMEOUT))
    latest = {r.job_key: r for r in store.latest(dataset="digits")}
    assert latest[a.key].status is Status.OK and latest[a.key].test_accuracy == 0.9
    assert store.done_keys([a.key, b.key]) == {a.key}
    assert len(store.all_rows()) == 3  # append-only: history is kept
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_job_key_is_stable_and_sensitive():
    a = Job("digits", "sklearn-logreg", 0, 1, 0, 60.0)
    assert a.key == Job("digits", "sklearn-logreg", 0, 1, 0, 60.0).key
    assert a.key != Job("digits", "sklearn-logreg", 0, 1, 1, 60.0).key
    assert a.key != Job("digits", "sklearn-logreg", 0, 1, 0, 61.0).key
    assert a.key != Job("digits", "sklearn-logreg", 0, 1, 0, 60.0, params={"C": 2}).key


def test_unwritable_store_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(HarnessError, match="--store"):
        Store(f"sqlite:///{blocker}/store.sqlite")


def test_password_is_redacted():
    shown = redact("postgresql://user:s3cret@db.example/harness")
    assert "s3cret" not in shown and "user" in shown


def test_redact_masks_passwords_in_urls_it_cannot_parse():
    from harness.store import redact

    assert redact("postgresql://harness:PW7@[::1:1/h") == "postgresql://harness:***@[::1:1/h"
    assert redact("mysql://u:p@ss@db:x/h?token=abc&x=1") == "mysql://u:***@db:x/h?token=***&x=1"
    assert redact("postgresql://u:pw@db/h") == "postgresql://u:***@db/h"
    assert redact("sqlite:///results/harness.sqlite") == "sqlite:///results/harness.sqlite"


def test_an_empty_store_file_that_another_runner_is_creating_is_waited_for(tmp_path):
    """Two runners started at one moment on a new store: the second finds the file the
    first has just created, still empty, and waits for its schema rather than refuse it
    as truncated (seen beside another test: "store ... is an empty file")."""
    import threading
    import time

    from harness.store.database import EMPTY_STORE_WAIT, check_sqlite_file

    def schema():  # what the first runner writes next
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE results (job_key TEXT PRIMARY KEY, payload TEXT)")
        conn.commit()
        conn.close()

    path = tmp_path / "harness.sqlite"
    path.touch()  # the first runner's connection made the file
    timer = threading.Timer(0.3, schema)
    timer.start()
    try:
        check_sqlite_file(path)  # no error: the store was filled while it waited
    finally:
        timer.join()
    truncated = tmp_path / "truncated.sqlite"
    truncated.touch()
    started = time.monotonic()
    with pytest.raises(HarnessError, match="is an empty file"):
        check_sqlite_file(truncated)
    assert time.monotonic() - started >= EMPTY_STORE_WAIT
