"""Result rows in any SQLAlchemy database; SQLite (WAL) by default.

The runner is the only writer. Rows are appended, never updated: a job re-run after
an error adds a row, and readers take the latest row of each job key.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.errors import HarnessError
from harness.results import Result, Status


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
            raise HarnessError(f"cannot use store {redact(url)}: {exc}") from None
        if parsed.get_backend_name() == "sqlite":
            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
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
        try:
            meta.create_all(self.engine)
        except Exception as exc:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise HarnessError(
                f"cannot open store {redact(url)}: {reason}; "
                "pass --store with a writable location"
            ) from None

    def add(self, result: Result) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.table.insert().values(
                    job_key=result.job_key, run_id=result.run_id, dataset=result.dataset,
                    contender=result.contender, status=result.status.value,
                    created=time.time(), payload=result.to_dict(),
                )
            )

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
