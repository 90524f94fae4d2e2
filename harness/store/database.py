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

import contextlib
import functools
import os
import re
import stat
import time
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.jobs import Result, Status
from harness.store.claims import LEASE_SECONDS, owner_alive

#: query parameters whose values are secrets (``?password=``, ``?sslpassword=``, tokens)
SECRET_KEYS = ("pass", "pwd", "secret", "token", "key", "auth", "credential")


_USER_PASSWORD = re.compile(r"(://[^:/@?#]*:).*@", re.DOTALL)
_QUERY_SECRET = re.compile(r"([?&;][^=&;]*(?:" + "|".join(SECRET_KEYS) + r")[^=&;]*=)[^&;]*",
                           re.IGNORECASE)


def _mask_text(url: str) -> str:
    """The password masked in a URL that SQLAlchemy cannot parse: everything between
    ``://user:`` and the last ``@``, and the value of every secret-looking query key."""
    return _QUERY_SECRET.sub(r"\1***", _USER_PASSWORD.sub(r"\1***@", url))


def redact(url: str) -> str:
    """The URL with its password masked, in the user part and in the query string
    alike, for anything a person or a file may see, parseable or not."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        query = {k: ("***" if any(s in k.lower() for s in SECRET_KEYS) else v)
                 for k, v in parsed.query.items()}
        shown = parsed.set(query=query).render_as_string(hide_password=True)
        return shown.replace("%2A%2A%2A", "***")
    except Exception:
        return _mask_text(str(url))


def in_memory(parsed) -> bool:
    """Whether a parsed SQLite URL is a database in memory, gone when the process ends."""
    database = parsed.database or ""
    return (database in ("", ":memory:") or database.startswith("file::memory:")
            or parsed.query.get("mode") == "memory")


class StoreError(HarnessError):
    """The store failed (damaged, full, its server gone): one line naming the fix."""


DAMAGED_FIX = ("restore it from a backup, or move it away to start a new store (finished "
               "job folders under --runs-dir are added to the new one)")


def _fix_for(reason: str, url: str) -> str:
    text = reason.lower()
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return DAMAGED_FIX
    if "full" in text or "no space" in text:
        return ("free space on its disk, or pass another --store; run the same command "
                "again afterwards (finished jobs are kept in their folders)")
    if "readonly" in text or "read-only" in text or "permission" in text:
        return ("the store or its folder cannot be written: make them writable, or pass "
                "another --store; run the same command again afterwards (finished jobs "
                "are kept in their folders)")
    if url.startswith("sqlite"):
        return "check the file and its folder, or pass another --store"
    return "check that its server is up and reachable, or pass another --store"


def store_error(exc: BaseException, url: str, doing: str) -> StoreError:
    """One line for a database error: what failed, on which store, and the fix."""
    orig = getattr(exc, "orig", None) or exc
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
    return StoreError(f"store {redact(url)} failed while {doing}: {reason}; "
                      f"{_fix_for(reason, url)}")


def _unwritable(path: Path) -> str | None:
    """Why a run cannot write the store at ``path`` (or in its folder), if it cannot."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "on a read-only file system"
    except OSError:
        return None
    for p in (path, folder):
        if p.exists() and not os.access(p, os.W_OK):
            return f"not writable ({'its folder ' if p == folder else ''}{p} is read-only)"
    return None


def _reads_bytes(path: Path) -> bool:
    """Whether a file its size calls empty still reads (/proc and /sys files do)."""
    try:
        with open(path, "rb") as fh:
            return bool(fh.read(1))
    except OSError:
        return False


#: SQLite's answers that mean the file is no (sound) database, not that it cannot be read
DAMAGED_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


#: seconds a runner waits for an empty store file to get its first page: another runner,
#: started beside it on the same new store, creates the file and then writes its schema
EMPTY_STORE_WAIT = 3.0


def _filled_soon(path: Path) -> bool:
    """Whether an empty store file gets content within :data:`EMPTY_STORE_WAIT`."""
    deadline = time.monotonic() + EMPTY_STORE_WAIT
    while time.monotonic() < deadline:
        time.sleep(0.05)
        with contextlib.suppress(OSError):
            if path.stat().st_size > 0:
                return True
    return False


def check_sqlite_file(path: Path) -> None:
    """Refuse, before writing anything, a file that is no harness store: another
    application's SQLite file, a damaged one, one truncated to nothing, a device or a
    /proc file, or one on a read-only disk (named as such, not as damaged)."""
    import sqlite3

    if not path.exists():
        why = _unwritable(path)
        if why:
            raise HarnessError(f"cannot create store {path}: its folder is {why}; pass "
                               "--store with a file in a writable folder")
        return  # a new store
    if path.is_dir():
        raise HarnessError(f"store {path} is a folder: pass --store with a file path")
    try:
        info = path.stat()
    except OSError as exc:
        raise HarnessError(f"cannot read store {path}: {exc.strerror}; check the file and "
                           "its folder, or pass another --store") from None
    if not stat.S_ISREG(info.st_mode):
        raise HarnessError(f"store {path} is not a regular file (a device, pipe or socket): "
                           "pass --store with a file path such as "
                           "sqlite:///results/harness.sqlite")
    if info.st_size == 0 and _reads_bytes(path):
        raise HarnessError(f"store {path} is not a file on disk (a /proc or /sys file that "
                           "reports no size): pass --store with a file path such as "
                           "sqlite:///results/harness.sqlite")
    if not os.access(path, os.R_OK):
        raise HarnessError(f"store {path} is not readable: give this user read and write "
                           "access to it (chmod), or pass another --store")
    if info.st_size == 0 and not _filled_soon(path):
        raise HarnessError(f"store {path} is an empty file (0 bytes: never a store, or "
                           "truncated): delete it to start a new store, or pass another "
                           "--store")
    why = _unwritable(path)
    if why:
        raise HarnessError(f"store {path} is {why}: a run writes to its store; copy it to a "
                           "writable folder and pass --store with the copy, or make it "
                           "writable")
    damaged = True
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = {n for (n,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            columns = {r[1] for r in conn.execute("PRAGMA table_info(results)")}
            (verdict,) = conn.execute("PRAGMA quick_check(1)").fetchone()
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
        name = getattr(exc, "sqlite_errorname", "") or ""
        damaged = name.startswith(DAMAGED_CODES) or (not name and "malformed" in verdict)
    if verdict != "ok":
        verdict = " ".join(str(verdict).replace("*", "").split())  # one line
        if not damaged:
            raise HarnessError(f"cannot read store {path} ({verdict}): check the file, its "
                               "folder and their permissions, or pass another --store")
        raise HarnessError(f"store {path} is damaged ({verdict}): {DAMAGED_FIX}")
    if tables and not {"job_key", "payload"} <= columns:
        shown = ", ".join(sorted(tables)[:5])
        raise HarnessError(f"{path} is not a harness store (its tables: {shown}): pass "
                           "--store with another file; nothing was written to this one")


def _guarded(doing: str):
    """A Store method whose database errors become one :class:`StoreError` line."""

    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                import sqlalchemy as sa

                if isinstance(exc, sa.exc.SQLAlchemyError | OSError):
                    raise store_error(exc, self.url, doing) from None
                raise

        return guarded

    return wrap


class StoreMissing(HarnessError):
    """A read asked for a SQLite store whose file does not exist (nothing was created)."""


class Store:
    def __init__(self, url: str, create: bool = True) -> None:
        """Open the store at ``url``; ``create=False`` (for commands that only read)
        refuses a SQLite file that is not there rather than make it and its folder."""
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        self.url = url
        self.path: Path | None = None  # a SQLite store's file
        self._identity: tuple[int, int] | None = None  # its (device, inode) when opened
        try:
            parsed = make_url(url)
        except Exception:
            raise HarnessError(
                f"cannot parse store URL {redact(url)!r}: use a SQLAlchemy URL such as "
                "sqlite:///results/harness.sqlite"
            ) from None
        if parsed.get_backend_name() == "sqlite" and in_memory(parsed):
            raise HarnessError(
                f"store {redact(url)} is a database in memory: every row would vanish when "
                "the run ends; pass --store with a file, such as "
                "sqlite:///results/harness.sqlite")
        if parsed.get_backend_name() == "sqlite":
            path = Path(parsed.database)
            if not create and not path.exists():  # (a device or folder: refused below)
                raise StoreMissing(
                    f"no store at {path}: `harness run` writes one there first, or pass "
                    "--store with the URL a run used")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HarnessError(
                    f"cannot create the store's folder {path.parent}: {exc.strerror}; "
                    "pass --store with a writable path"
                ) from None
            check_sqlite_file(path)  # before anything is written to it (WAL included)
            self.path = path
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
            for attempt in range(len(meta.tables) + 1):
                try:
                    meta.create_all(self.engine)
                    break
                except sa.exc.OperationalError as exc:
                    # another runner created a table between our check and our CREATE
                    # (one table at a time: each may race once)
                    if "already exists" not in str(exc) or attempt == len(meta.tables):
                        raise
        except Exception as exc:
            reason = (str(getattr(exc, "orig", exc)).splitlines() or [type(exc).__name__])[0]
            fix = _fix_for(reason, url)
            if parsed.get_backend_name() == "sqlite" and fix.startswith("check the file"):
                fix = "pass --store with a writable location"
            raise HarnessError(f"cannot open store {redact(url)}: {reason}; {fix}") from None
        if self.path is not None:
            with contextlib.suppress(OSError):
                info = os.stat(self.path)
                self._identity = (info.st_dev, info.st_ino)

    def _check_file(self) -> None:
        """Refuse to write once the store's file was deleted or replaced: SQLite would go
        on writing into the deleted file, and every row written would vanish with it."""
        if self.path is None or self._identity is None:
            return
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            info = None
        except OSError:
            return  # cannot tell: the write itself will say what is wrong
        if info is None or (info.st_dev, info.st_ino) != self._identity:
            raise StoreError(f"store {self.path} was deleted or replaced while this run "
                             "was using it; restore it, or let the next run start a new "
                             "one (finished job folders under --runs-dir are added to it)")

    @_guarded("adding a row")
    def add(self, result: Result) -> None:
        self._check_file()
        with self.engine.begin() as conn:
            conn.execute(
                self.table.insert().values(
                    job_key=result.job_key, run_id=result.run_id, dataset=result.dataset,
                    contender=result.contender, status=result.status.value,
                    created=time.time(), payload=result.to_dict(),
                )
            )

    # -- claims: one runner per job ------------------------------------------------

    @_guarded("claiming a job")
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

    @_guarded("renewing claims")
    def renew(self, keys: list[str], owner: str, lease_seconds: float = LEASE_SECONDS) -> None:
        if not keys:
            return
        t = self.claims
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.job_key.in_(keys), t.c.owner == owner)
                         .values(expires=time.time() + lease_seconds))

    @_guarded("releasing a claim")
    def release(self, key: str, owner: str) -> None:
        t = self.claims
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.job_key == key, t.c.owner == owner))

    @_guarded("reading rows")
    def last_id(self) -> int:
        """The newest row's id (0 when empty): rows after it were added since."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(self.table.c.id))).scalar() or 0

    @_guarded("reading rows")
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

    @_guarded("reading rows")
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

    @_guarded("reading rows")
    def all_rows(self) -> list[Result]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self.table.c.payload).order_by(self.table.c.id))
            return [Result.from_dict(p) for (p,) in rows]

    @_guarded("reading rows")
    def history(self, keys: list[str]) -> list[Result]:
        """Every row of these job keys, oldest first (regressions compare with them)."""
        import sqlalchemy as sa

        t = self.table
        query = sa.select(t.c.payload).where(t.c.job_key.in_(keys)).order_by(t.c.id)
        with self.engine.connect() as conn:
            return [Result.from_dict(p) for (p,) in conn.execute(query)]

    @_guarded("reading rows")
    def datasets(self) -> list[str]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            q = sa.select(self.table.c.dataset).distinct().order_by(self.table.c.dataset)
            return [d for (d,) in conn.execute(q)]

    def close(self) -> None:
        self.engine.dispose()
