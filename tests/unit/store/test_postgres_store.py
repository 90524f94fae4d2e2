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
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import harness_env, run_cli

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


@dataclass(frozen=True)
class Server:
    """The test's private PostgreSQL: its URL, and a way to stop and start it."""

    url: str
    start: Callable[[], None]
    stop: Callable[[], None]


@pytest.fixture(scope="module")
def postgres():
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
    def start() -> None:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
           "-t", "60", "-o",
           f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop() -> None:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")

    start()
    try:
        yield Server(f"postgresql+psycopg://harness:{PASSWORD}@127.0.0.1:{port}/postgres",
                     start, stop)
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_suite_writes_resumes_and_reads_back_from_postgresql(tmp_path, postgres):
    postgres_url = postgres.url
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


def _rows(url: str) -> list[tuple[str, str]]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                sa.text("SELECT job_key, status FROM results ORDER BY id")).all()]
    finally:
        engine.dispose()


@pytest.mark.faults
def test_postgresql_stopped_mid_run_loses_no_finished_row(tmp_path, postgres, tally):
    """The server stops after the first row: the run stops taking jobs and says how to
    resume in one line; the job that finished meanwhile is added on the next run, not
    trained again; every job ends in the store once."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres.url)
    with engine.begin() as conn:  # this test's jobs only
        conn.execute(sa.text("DELETE FROM results"))
    engine.dispose()
    suite = tmp_path / "suite.yml"
    suite.write_text("name: outage\nstore: ${TEAM_DB}\ndatasets: [digits]\n"
                     "contenders: [test-sleep]\nbudgets: [3s]\nseeds: 3\n"
                     "max_train_per_class: 10\n")
    env = harness_env(TEAM_DB=postgres.url, HARNESS_TEST_SLEEP="1")
    runner = subprocess.Popen([sys.executable, "-m", "harness", "suite", "run", "suite.yml"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    stop = time.monotonic() + 120
    while not _rows(postgres.url) and time.monotonic() < stop:
        time.sleep(0.2)
    before = _rows(postgres.url)
    assert len(before) == 1
    tally.fault("PostgreSQL stopped mid-run")
    postgres.stop()
    try:
        out, err = runner.communicate(timeout=180)
    finally:
        postgres.start()
    lines = err.strip().splitlines()
    assert runner.returncode == 1, (out, err)
    assert lines[-1].startswith("harness: error: store ") and "Traceback" not in err, err
    assert "run the same command again" in lines[-1] and PASSWORD not in out + err

    again = run_cli(["suite", "run", "suite.yml"], tmp_path, TEAM_DB=postgres.url)
    assert again.returncode == 0, again.stderr
    assert "Recovered 1 finished job(s)" in again.stdout, again.stdout
    after = _rows(postgres.url)
    assert tally.rows(before, after) == 0
    keys = [k for k, _ in after]
    assert len(keys) == 3 and len(set(keys)) == 3 and {s for _, s in after} == {"ok"}
    # the recovered job kept its first training: its folder was not trained again
    assert "1 already done" not in again.stdout and "3 job(s): 2 already done" in again.stdout


@pytest.mark.faults
def test_no_store_password_reaches_the_disk_or_a_message(tmp_path, postgres, tally):
    """The worker gets the URL whole (a tuner keeps its study there); job.json, the logs
    and the pages get it masked, and the job folders are the owner's alone."""
    tally.fault("a PostgreSQL store URL with its password, through a real run")
    done = run_cli(["run", "-d", "digits", "-c", "test-quick", "-b", "2s",
                    "--max-train-per-class", "10", "--store", postgres.url], tmp_path)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    grep = subprocess.run(["grep", "-r", "-l", PASSWORD, str(tmp_path)], capture_output=True,
                          text=True)
    assert grep.returncode == 1 and not grep.stdout, grep.stdout  # nothing found anywhere
    (job_file,) = (tmp_path / "results" / "runs").glob("*/job.json")
    assert "harness:***@127.0.0.1" in job_file.read_text()
    assert job_file.parent.stat().st_mode & 0o077 == 0  # drwx------
    # an unparseable URL is masked in its error too
    bad = run_cli(["leaderboard", "--store", f"postgresql://harness:{PASSWORD}@[::1:1/h"],
                  tmp_path)
    assert bad.returncode == 1 and PASSWORD not in bad.stderr and "harness:***@" in bad.stderr
