"""The store on a real PostgreSQL server: a private one, on loopback, for this module.

The server is started from the PostgreSQL binaries `.ci/run` installs (initdb and
pg_ctl under /usr/lib/postgresql/*/bin), in a temporary folder, with a password, and
stopped at the end. PostgreSQL refuses to run as root, so as root it runs as the
`postgres` user.
"""

from __future__ import annotations

import csv
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import run_cli

PASSWORD = "pg-S3cret-7xQ"


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
    bindir = _bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                    "`apt-get install postgresql` (.ci/run does)")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        try:
            shutil.chown(root, "postgres")
        except LookupError:
            pytest.skip("running as root and there is no `postgres` user to run the server")
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if as_user:
        shutil.chown(pwfile, "postgres")
    data, port = root / "data", _free_port()

    def pg(*args: str, timeout: float = 120) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=timeout)

    pg(str(bindir / "initdb"), "-D", str(data), "-U", "harness", f"--pwfile={pwfile}",
       "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")
    pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
       "-t", "60", "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
       "start")
    try:
        yield f"postgresql+psycopg://harness:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_suite_writes_resumes_and_reads_back_from_postgresql(tmp_path, postgres_url):
    suite = tmp_path / "suite.yml"
    # the URL (and its password) comes from the environment, not from the file
    suite.write_text("name: team\nstore: ${TEAM_DB}\ndatasets: [digits]\n"
                     "contenders: [test-quick]\nbudgets: [20s]\nmax_train_per_class: 10\n")
    first = run_cli(["suite", "run", "suite.yml"], tmp_path, TEAM_DB=postgres_url)
    assert first.returncode == 0, first.stderr

    # the suite grows: the next run adds only what is new
    suite.write_text(suite.read_text().replace("[test-quick]", "[test-quick, test-sleep]"))
    second = run_cli(["suite", "run", "suite.yml"], tmp_path, TEAM_DB=postgres_url)
    assert second.returncode == 0, second.stderr
    assert "1 already done, 1 to run" in second.stdout

    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT job_key, contender, status FROM results")).all()
    engine.dispose()
    assert sorted((c, s) for _, c, s in rows) == [("test-quick", "ok"), ("test-sleep", "ok")]
    assert max(Counter(k for k, _, _ in rows).values()) == 1

    boards = tmp_path / "from-db"
    board = run_cli(["leaderboard", "--store", postgres_url, "--leaderboard-dir", str(boards)],
                    tmp_path)
    assert board.returncode == 0, board.stderr
    page = (boards / "digits.md").read_text()
    assert "test-quick" in page and "test-sleep" in page

    exported = run_cli(["export", "--format", "amlb", "results.csv", "--store", postgres_url],
                       tmp_path)
    assert exported.returncode == 0, exported.stderr
    with open(tmp_path / "results.csv") as f:
        assert sorted(r["framework"] for r in csv.DictReader(f)) == ["test-quick", "test-sleep"]

    seen = [first.stdout, first.stderr, second.stdout, second.stderr, board.stdout,
            board.stderr, exported.stdout, exported.stderr]
    seen += [p.read_text(errors="replace") for d in (boards, tmp_path / "leaderboards")
             for p in d.rglob("*") if p.suffix in (".md", ".csv")]
    assert not [s for s in seen if PASSWORD in s], "the store's password was shown"
    assert "harness:***@127.0.0.1" in first.stdout  # the URL is shown, masked
