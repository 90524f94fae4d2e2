"""The job folder is the source of truth; the store is its index.

A finished job's ``result.json`` is on disk before the store is written. When the
store could not take the row (a full disk, a database that went away), the next run,
and ``harness leaderboard``, add every finished folder whose row the store lacks:
no finished result is trained again or lost. Only folders written for this store
(their ``job.json`` names its URL, with the password masked) are taken, so two stores
sharing a runs folder never mix.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from harness.core.context import JOB_FILE, RESULT_FILE
from harness.execution.local import read_result
from harness.store import Store, redact

RECOVERED_RUN = "recovered"


def _store_url(jobdir: Path) -> str | None:
    try:
        return json.loads((jobdir / JOB_FILE).read_text())["context"]["store_url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def missing_rows(runs_dir: Path, store: Store) -> list:
    """Rows finished in ``runs_dir`` for ``store`` that the store does not hold."""
    if not Path(runs_dir).is_dir():
        return []
    found = []
    for result_file in sorted(Path(runs_dir).glob(f"*/{RESULT_FILE}")):
        jobdir = result_file.parent
        # job files name the URL masked (those written before, whole)
        if _store_url(jobdir) not in (store.url, redact(store.url)):
            continue
        result = read_result(jobdir)
        if result is not None and result.job_key == jobdir.name:
            found.append(result)
    if not found:
        return []
    held = {(r.job_key, r.started_at) for r in store.history([r.job_key for r in found])}
    return [r for r in found if (r.job_key, r.started_at) not in held]


def ingest(runs_dir: Path, store: Store) -> int:
    """Add the rows the store lacks from finished job folders; how many were added."""
    rows = missing_rows(runs_dir, store)
    for result in rows:
        store.add(replace(result, run_id=result.run_id or RECOVERED_RUN))
    return len(rows)
