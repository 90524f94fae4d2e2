"""Files written whole or not at all, and folders checked before anything runs.

A full disk or a killed process must never leave a truncated page, figure or result:
everything the harness writes goes to a temporary sibling first and is renamed into
place, so a reader sees the old file or the new one.

A temporary file is made owner-only (``mkstemp``); before it takes the file's place it
gets the permissions the umask gives a new file (0644 under umask 022), as ``open``
would, so pages, CSVs and figures can be served and read by others. Files of a job
folder (the result row, the phase) are written ``private``: owner-only, whatever the
umask, like the folder itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError

#: what a folder that jobs or pages go to must have free before a run starts
MIN_FREE_BYTES = 64 * 2**20


def current_umask() -> int:
    """The process's umask, read without changing it where Linux says it (a thread
    writing a file meanwhile must not see a umask of 0)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # elsewhere: set and restore, the one portable way
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Path, private: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; renamed onto ``path`` on success.

    The file gets the permissions the umask gives, or owner-only where ``private``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            if not private:
                os.fchmod(fd, 0o666 & ~current_umask())
        finally:
            os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str, private: bool = False) -> None:
    with atomic_path(path, private) as tmp:
        tmp.write_text(text)


def write_with(path: Path, write: Callable[[Path], Any], private: bool = False) -> None:
    """``write(tmp)`` then rename: for writers that take a path (pandas, matplotlib)."""
    with atomic_path(path, private) as tmp:
        write(tmp)


def write_json_atomic(path: Path, data: Any, private: bool = True) -> None:
    """``path`` holds either its old content or all of ``data``, flushed to disk.

    Owner-only unless ``private`` is false: this writes a job folder's files (its result
    row, its phase), which may quote what a contender printed.
    """
    with atomic_path(path, private) as tmp, open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())


def usable_dir(path: Path, flag: str, min_free: int = MIN_FREE_BYTES) -> Path:
    """Create ``path`` if need be, or say in one line why it cannot take files.

    Checked before anything runs: a folder that is a file, cannot be made, is not
    writable or is (nearly) full is refused naming ``flag``, the option to change.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise HarnessError(f"{flag} {path} is a file: pass {flag} with a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"cannot create {flag} {path}: {exc.strerror}; "
                           f"pass {flag} with a writable folder") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise HarnessError(f"{flag} {path} is not writable: pass {flag} with a writable "
                           "folder")
    try:  # what access() cannot tell (root, /proc, a read-only mount): try it
        fd, probe = tempfile.mkstemp(prefix=".harness-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise HarnessError(f"cannot write in {flag} {path}: {exc.strerror or exc}; pass "
                           f"{flag} with a writable folder") from None
    free = shutil.disk_usage(path).free
    if min_free and free < min_free:
        raise HarnessError(f"{flag} {path} has {free / 2**20:.0f} MiB free, less than the "
                           f"{min_free / 2**20:.0f} MiB a run needs: free space or pass "
                           f"{flag} on another disk")
    return path
