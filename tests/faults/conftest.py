"""What the fault tests share: a working folder with a finished row, and the check that
a bad input is refused in one line with nothing lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.jobs import Job, Result, Status
from harness.store import Store
from tests.conftest import PLUGINS

SECRET = "s3cr3t-pw"
# a PostgreSQL server that is not there: loopback, a port nothing listens on
UNREACHABLE = f"postgresql://alice:{SECRET}@127.0.0.1:1/harness"


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    """A working folder whose store holds one finished row and a leaderboard."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv("HARNESS_PLUGINS", "fault_contenders")
    import fault_contenders  # noqa: F401  (registers test-quick in this process)

    store = Store("sqlite:///results/harness.sqlite")
    store.add(Result.for_job(Job("digits", "test-quick", 0, 1, 0, 5.0), Status.OK,
                             test_accuracy=0.9))
    store.close()
    (tmp_path / "leaderboards").mkdir()
    (tmp_path / "leaderboards" / "digits.md").write_text("# kept\n")
    return tmp_path


def _rows(folder: Path) -> list[tuple]:
    with sqlite3.connect(folder / "results" / "harness.sqlite") as conn:
        return conn.execute("SELECT id, job_key, status, payload FROM results").fetchall()


def refuse(argv: list[str], folder: Path, capsys, tally) -> str:
    """Run ``harness ARGV``; check it is refused cleanly and nothing is lost."""
    before = _rows(folder)
    tally.bad_input(" ".join(argv))
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert info.value.code not in (0, None), (out, err)
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), err
    assert SECRET not in out + err
    assert tally.rows(before, _rows(folder)) == 0
    assert (folder / "leaderboards" / "digits.md").read_text() == "# kept\n"
    assert not (folder / "results" / "runs").exists()  # nothing trained for nothing
    return lines[0]
