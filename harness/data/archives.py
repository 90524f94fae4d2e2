"""Tar and zip members read in place, after every member's name has been checked.

Nothing is extracted to disk: the decoders read the members they need straight from
the verified archive. A member that could escape a target folder if it were extracted
(absolute name, ``..``, a link or a device) makes the whole archive refused, since an
official archive never holds one. No member may unpack to more than
``MAX_MEMBER_BYTES`` (the largest official one is under 200 MB), whatever its header
claims: a decompression bomb is refused rather than allowed to fill memory.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from harness.core.errors import HarnessError

MAX_MEMBER_BYTES = 2 * 2**30


def _unsafe_name(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def _broken(path: Path, exc: BaseException) -> HarnessError:
    reason = " ".join(str(exc).split())  # tarfile lists each method it tried, a line each
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return HarnessError(f"{path} is truncated or not a valid archive ({reason}): "
                        "delete it and download it again")


def _refuse(path: Path, member: str, why: str) -> HarnessError:
    return HarnessError(f"{path} holds an unsafe member {member!r} ({why}); nothing was read "
                        "from it: delete it and use the official archive")


def too_big(path: Path | str, member: str) -> HarnessError:
    return HarnessError(f"{path} member {member!r} unpacks to more than "
                        f"{MAX_MEMBER_BYTES / 2**20:.0f} MiB (a decompression bomb?); refused: "
                        "delete it and use the official archive")


def read_capped(fh, path: Path | str, member: str) -> bytes:
    """All of ``fh``, refusing to read past the cap whatever the header said."""
    data = fh.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise too_big(path, member)
    return data


def read_tar(path: Path, wanted: set[str]) -> dict[str, bytes]:
    """The regular members named in ``wanted`` (``tar.gz``), all other members checked too."""
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            members = []
            # each header checked as it is read, before the member's data is skipped
            for m in tar:  # reads to the end: a truncated archive fails here
                if _unsafe_name(m.name):
                    raise _refuse(path, m.name, "its path leaves the target folder")
                if not (m.isfile() or m.isdir()):
                    raise _refuse(path, m.name, "a link or special file")
                if m.size > MAX_MEMBER_BYTES:
                    raise too_big(path, m.name)
                members.append(m)
            for m in members:
                if m.isfile() and m.name in wanted:
                    fh = tar.extractfile(m)
                    assert fh is not None  # a regular member always has data
                    out[m.name] = fh.read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise _broken(path, exc) from None
    missing = sorted(wanted - out.keys())
    if missing:
        raise HarnessError(f"{path} lacks {', '.join(missing)}: it is not the official "
                           "archive; delete it and download it again")
    return out


def open_zip(path: Path) -> zipfile.ZipFile:
    """The zip, open, once every member's name and type has been checked."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _broken(path, exc) from None
    for info in archive.infolist():
        if _unsafe_name(info.filename):
            archive.close()
            raise _refuse(path, info.filename, "its path leaves the target folder")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            archive.close()
            raise _refuse(path, info.filename, "a link or special file")
        if info.file_size > MAX_MEMBER_BYTES:
            archive.close()
            raise too_big(path, info.filename)
    return archive


def read_zip_member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        with archive.open(name) as fh:  # headers can lie: the cap holds on what is read
            return read_capped(fh, str(archive.filename), name)
    except KeyError:
        raise HarnessError(f"{archive.filename} lacks {name}: it is not the official "
                           "archive; delete it and download it again") from None
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise _broken(Path(str(archive.filename)), exc) from None
