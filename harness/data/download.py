"""Find each file of a dataset, or download it, and verify it before anyone parses it.

A download streams into ``NAME.part`` beside its destination, is hashed on the way, and
is renamed to ``NAME`` only when its checksum matches: a file under its real name is
always a complete, verified one. On any failure the partial file is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.core.errors import HarnessError
from harness.data.sources import RemoteFile

CHUNK = 1 << 20
TIMEOUT_SECONDS = 60


def file_digest(path: Path, algorithm: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def verify(path: Path, remote: RemoteFile) -> None:
    got = file_digest(path, remote.algorithm)
    if got != remote.digest:
        raise HarnessError(
            f"{path} has {remote.algorithm} {got}, expected {remote.digest}: it is not the "
            f"official file (truncated or different); delete it to download it again, or "
            f"replace it with {remote.urls[0]}"
        )


@contextlib.contextmanager
def _progress(name: str, total: int | None) -> Iterator:
    """A progress bar on a terminal; one line per download in logs."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    with Progress("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(name, total=total)
        yield lambda n: bar.advance(task, n)


class _Mismatch(Exception):
    pass


def _stream(url: str, part: Path, name: str, size: int | None = None,
            each: Callable[[bytes], object] | None = None) -> None:
    """``url`` into ``part`` with progress, ``each(chunk)`` on every chunk; raises
    ``OSError`` (network, a cut connection) or ``http.client.HTTPException``."""
    request = urllib.request.Request(url, headers={"User-Agent": "harness"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response, \
            open(part, "wb") as out:
        # said only once connected: offline, the one error line is all there is
        print(f"harness: downloading {name} from {url}", file=sys.stderr, flush=True)
        length = response.headers.get("Content-Length")
        promised = int(length) if length and length.isdigit() else None
        received = 0
        with _progress(name, promised or size) as advance:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                if each is not None:
                    each(chunk)
                received += len(chunk)
                advance(len(chunk))
        if promised is not None and received != promised:
            # read(n) returns short rather than raising when the server hangs up
            raise ConnectionError(f"connection cut after {received} of {promised} bytes")


def _download_one(url: str, remote: RemoteFile, dest: Path) -> None:
    """``url`` to ``dest`` through ``dest.part``; raises ``OSError`` (network) or _Mismatch."""
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.new(remote.algorithm)
    try:
        _stream(url, part, remote.name, remote.size, digest.update)
        if digest.hexdigest() != remote.digest:
            raise _Mismatch(f"{remote.algorithm} {digest.hexdigest()}, expected {remote.digest}")
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)


def fetch(files: tuple[RemoteFile, ...], target: Path, search: tuple[Path, ...] = (),
          label: str = "the dataset") -> dict[str, Path]:
    """Path of each file, verified: found in ``search`` or ``target``, else downloaded there.

    Mirrors are tried in order. Raises one :class:`HarnessError` naming every file that
    could neither be found nor downloaded, its URL and where to put it.
    """
    paths: dict[str, Path] = {}
    unreachable: list[RemoteFile] = []
    reasons: list[str] = []
    for remote in files:
        found = next((d / remote.name for d in (*search, target)
                      if (d / remote.name).is_file()), None)
        if found is not None and found.parent == target and found.parent not in search:
            try:
                verify(found, remote)
            except HarnessError as exc:
                # damaged since it was downloaded (disk, a crash, a hand): never parsed;
                # set aside rather than deleted, in case it was someone's only copy
                aside = found.with_name(found.name + ".corrupt")
                found.replace(aside)
                print(f"harness: {str(exc).split(': it is', 1)[0]}: corrupted; kept as "
                      f"{aside.name} and downloading it again", file=sys.stderr, flush=True)
                found = None
        if found is not None:
            verify(found, remote)  # the user's own file: theirs to replace
            paths[remote.name] = found
            continue
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HarnessError(f"cannot create {target}: {exc.strerror}; set $HARNESS_DATA "
                               "or pass --data-dir with a writable folder") from None
        dest = target / remote.name
        mismatches = []
        for url in remote.urls:
            try:
                _download_one(url, remote, dest)
            except _Mismatch as exc:
                mismatches.append(f"{url} sent a file with {exc}")
                continue
            except (OSError, http.client.HTTPException, ValueError) as exc:
                # URLError and socket timeouts are OSErrors; a cut connection is an
                # HTTPException (IncompleteRead)
                reasons.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
                continue
            paths[remote.name] = dest
            break
        else:
            if mismatches:
                raise HarnessError(
                    f"checksum mismatch, nothing kept: {'; '.join(mismatches)}; try again "
                    f"later or put the official {remote.name} in {target}"
                )
            unreachable.append(remote)
    if unreachable:
        missing = ", ".join(f"{r.name} ({r.urls[0]})" for r in unreachable)
        raise HarnessError(
            f"{label} is not cached and could not be downloaded (offline? "
            f"{reasons[-1] if reasons else 'no URL'}): put {missing} in {target}, or pass "
            "--data-dir with a folder that holds them"
        )
    return paths



def download(url: str, dest: Path, check: Callable[[Path], object] | None = None) -> Path:
    """``url`` to ``dest`` through ``dest.part``, with progress; ``check(path)`` (raising
    ``ValueError``) judges the whole file before it takes its name. For files whose
    checksum nobody published (pretrained weights): complete, and of the right kind."""
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _stream(url, part, dest.name)
        if check is not None:
            check(part)
        part.replace(dest)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise HarnessError(f"cannot download {dest.name} from {url}: "
                           f"{getattr(exc, 'reason', None) or exc}") from None
    finally:
        with contextlib.suppress(OSError):  # (a folder that could not be made has none)
            part.unlink(missing_ok=True)
    return dest
