"""Result rows in any SQLAlchemy database; SQLite (WAL) by default.

The runner is the only writer. Rows are appended, never updated: a job re-run after
an error adds a row, and readers take the latest row of each job key.

Two runners may share a store (two terminals, two machines, a cron job overlapping
the last one). Each job is run once: a runner claims a job's key in ``claims``
before it starts the job and drops the claim once the row is in. A claim is a lease
the runner renews while the job runs, so that one left by a runner that died is
taken over when it expires, at once if its runner was on this machine and is gone.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.jobs import Result, Status
from harness.store.claims import LEASE_SECONDS, owner_alive


def redact(url: str) -> str:
    """The URL with its password masked, for anything a person or a file may see."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable store URL>"


class Store:
    def __init__(self, url: str) -> None:
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        self.url = url
        try:
            parsed = make_url(url)
        except Exception:
            raise HarnessError(
                f"cannot parse store URL {url!r}: use a SQLAlchemy URL such as "
                "sqlite:///results/harness.sqlite"
            ) from None
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            path = Path(parsed.database)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HarnessError(
                    f"cannot create the store's folder {path.parent}: {exc.strerror}; "
                    "pass --store with a writable path"
                ) from None
        kwargs = {"connect_args": {"timeout": 30}} if parsed.get_backend_name() == "sqlite" else {}
        try:
            self.engine = sa.create_engine(parsed, **kwargs)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HarnessError(f"cannot use store {redact(url)}: {reason}") from None
        if parsed.get_backend_name() == "sqlite":
            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):
                import sqlite3

                cur = dbapi_conn.cursor()
                # WAL is a property of the file, set once. Switching takes a lock that
                # ignores the busy timeout: two runners opening a new store at the same
                # moment race for it, and the loser waits for the winner's switch.
                for attempt in range(100):
                    try:
                        if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                            cur.execute("PRAGMA journal_mode=WAL")
                        break
                    except sqlite3.OperationalError as exc:
                        if "locked" not in str(exc) or attempt == 99:
                            raise
                        time.sleep(0.1)
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

        meta = sa.MetaData()
        self.table = sa.Table(
            "results", meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("job_key", sa.String(32), index=True, nullable=False),
            sa.Column("run_id", sa.String(32)),
            sa.Column("dataset", sa.String(200), index=True),
            sa.Column("contender", sa.String(200)),
            sa.Column("status", sa.String(16)),
            sa.Column("created", sa.Float),
            sa.Column("payload", sa.JSON, nullable=False),
        )
        self.claims = sa.Table(
            "claims", meta,
            sa.Column("job_key", sa.String(32), primary_key=True),
            sa.Column("owner", sa.String(200), nullable=False),
            sa.Column("expires", sa.Float, nullable=False),
        )
        try:
            try:
                meta.create_all(self.engine)
            except sa.exc.OperationalError as exc:
                # another runner created the tables between our check and our CREATE
                if "already exists" not in str(exc):
                    raise
                meta.create_all(self.engine)
        except Exception as exc:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            fix = ("pass --store with a writable location" if parsed.get_backend_name() == "sqlite"
                   else "check that its server is up and reachable, or pass another --store")
            raise HarnessError(f"cannot open store {redact(url)}: {reason}; {fix}") from None

    def add(self, result: Result) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.table.insert().values(
                    job_key=result.job_key, run_id=result.run_id, dataset=result.dataset,
                    contender=result.contender, status=result.status.value,
                    created=time.time(), payload=result.to_dict(),
                )
            )

    # -- claims: one runner per job ------------------------------------------------

    def claim(self, key: str, owner: str, lease_seconds: float = LEASE_SECONDS) -> bool:
        """Take the job ``key`` for ``owner``; ``False`` while another live runner holds it."""
        import sqlalchemy as sa

        t = self.claims
        for _ in range(3):  # a claim dropped or taken between our two statements: look again
            now = time.time()
            try:
                with self.engine.begin() as conn:
                    conn.execute(t.insert().values(job_key=key, owner=owner,
                                                   expires=now + lease_seconds))
                return True
            except sa.exc.IntegrityError:
                pass
            with self.engine.begin() as conn:
                held = conn.execute(sa.select(t.c.owner, t.c.expires)
                                    .where(t.c.job_key == key)).first()
                if held is None:
                    continue
                if held.owner != owner and held.expires > now and owner_alive(held.owner):
                    return False
                # compare-and-swap: only one of two runners taking over a stale claim wins
                taken = conn.execute(
                    t.update().where(t.c.job_key == key, t.c.owner == held.owner,
                                     t.c.expires == held.expires)
                    .values(owner=owner, expires=now + lease_seconds))
                return taken.rowcount == 1
        return False

    def renew(self, keys: list[str], owner: str, lease_seconds: float = LEASE_SECONDS) -> None:
        if not keys:
            return
        t = self.claims
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.job_key.in_(keys), t.c.owner == owner)
                         .values(expires=time.time() + lease_seconds))

    def release(self, key: str, owner: str) -> None:
        t = self.claims
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.job_key == key, t.c.owner == owner))

    def last_id(self) -> int:
        """The newest row's id (0 when empty): rows after it were added since."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(self.table.c.id))).scalar() or 0

    def added_since(self, key: str, last_id: int) -> bool:
        """Whether a row of ``key`` was added after row ``last_id`` (by another runner)."""
        import sqlalchemy as sa

        t = self.table
        query = sa.select(t.c.id).where(t.c.job_key == key, t.c.id > last_id).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def done_keys(self, keys: list[str] | None = None) -> set[str]:
        """Keys whose latest row is ``ok``: the jobs a re-run skips."""
        return {r.job_key for r in self.latest(keys=keys) if r.status is Status.OK}

    def latest(self, dataset: str | None = None, keys: list[str] | None = None) -> list[Result]:
        """The latest row of each job key, oldest first."""
        import sqlalchemy as sa

        t = self.table
        newest = sa.select(sa.func.max(t.c.id)).group_by(t.c.job_key)
        if dataset is not None:
            newest = newest.where(t.c.dataset == dataset)
        if keys is not None:
            newest = newest.where(t.c.job_key.in_(keys))
        query = sa.select(t.c.payload).where(t.c.id.in_(newest)).order_by(t.c.id)
        with self.engine.connect() as conn:
            return [Result.from_dict(p) for (p,) in conn.execute(query)]

    def all_rows(self) -> list[Result]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self.table.c.payload).order_by(self.table.c.id))
            return [Result.from_dict(p) for (p,) in rows]

    def history(self, keys: list[str]) -> list[Result]:
        """Every row of these job keys, oldest first (regressions compare with them)."""
        import sqlalchemy as sa

        t = self.table
        query = sa.select(t.c.payload).where(t.c.job_key.in_(keys)).order_by(t.c.id)
        with self.engine.connect() as conn:
            return [Result.from_dict(p) for (p,) in conn.execute(query)]

    def datasets(self) -> list[str]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            q = sa.select(self.table.c.dataset).distinct().order_by(self.table.c.dataset)
            return [d for (d,) in conn.execute(q)]

    def close(self) -> None:
        self.engine.dispose()
