"""Claims on job keys: two runners never run one job, and a dead runner's claim
does not block the job forever."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest

from harness.core.jobs import Job, Result, Status
from harness.store import Store, new_owner

pytestmark = pytest.mark.faults


def _url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/h.sqlite"


def test_a_claim_is_exclusive_until_released(tmp_path):
    a, b = Store(_url(tmp_path)), Store(_url(tmp_path))
    me, other = new_owner(), new_owner()
    assert a.claim("k1", me)
    assert a.claim("k1", me)  # renewing one's own claim is fine
    assert not b.claim("k1", other)
    a.release("k1", other)  # only the holder can release
    assert not b.claim("k1", other)
    a.release("k1", me)
    assert b.claim("k1", other)


def test_a_dead_runners_claim_is_taken_over(tmp_path, tally):
    store = Store(_url(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host = new_owner().split("/")[0]
    tally.fault("a runner died holding a claim")
    assert store.claim("k1", f"{host}/{dead.stdout.strip()}/cafe0000")
    assert store.claim("k1", new_owner())  # at once, not after the lease


def test_another_machines_claim_holds_until_its_lease_expires(tmp_path):
    store = Store(_url(tmp_path))
    assert store.claim("k1", "elsewhere/1/beef", lease_seconds=60)
    assert not store.claim("k1", new_owner())
    assert store.claim("k2", "elsewhere/1/beef", lease_seconds=-1)  # already expired
    assert store.claim("k2", new_owner())


def test_racing_claims_have_exactly_one_winner_per_key(tmp_path, tally):
    Store(_url(tmp_path))  # the tables, once
    keys = [f"k{i}" for i in range(30)]
    wins: dict[str, list[str]] = {k: [] for k in keys}
    lock = threading.Lock()

    def runner() -> None:
        store, owner = Store(_url(tmp_path)), new_owner()
        for k in keys:
            if store.claim(k, owner):
                with lock:
                    wins[k].append(owner)

    tally.fault("six runners claiming the same 30 jobs at once")
    threads = [threading.Thread(target=runner) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(len(w) == 1 for w in wins.values()), wins


def test_rows_added_by_another_runner_are_seen(tmp_path):
    store = Store(_url(tmp_path))
    job = Job("digits", "sklearn-logreg", 0, 1, 0, 5.0)
    mark = store.last_id()
    assert not store.added_since(job.key, mark)
    Store(_url(tmp_path)).add(Result.for_job(job, Status.ERROR, "x"))
    assert store.added_since(job.key, mark) and not store.added_since(job.key, store.last_id())
    with sqlite3.connect(tmp_path / "h.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
