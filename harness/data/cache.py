"""Decoded datasets as ``.npy`` files, memory-mapped on reload, with a checked manifest.

A cache folder holds ``train_images.npy``, ``train_labels.npy``, ``test_images.npy``,
``test_labels.npy`` and ``manifest.json``: each array's shape, dtype and sha256, the
class names, and the checksums of the source files it was decoded from. It is built in
a temporary sibling folder and renamed into place, so a folder under the real name is
always complete. On load every array is hashed (about 2 GB/s) before it is trusted: a
cache with a wrong hash, a changed source or an older format is rebuilt, never parsed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from harness.data.splits import Dataset, Split

FORMAT = 1
MANIFEST = "manifest.json"
#: folders that arrays are decoded into before the cache takes them (moved, not copied)
SCRATCH_PREFIX = ".decoding-"
ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def write(directory: Path, dataset: Dataset, sources: dict[str, str]) -> Path:
    """Write ``dataset`` to ``directory`` atomically (replacing an old one)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        arrays = {"train_images": dataset.train.images, "train_labels": dataset.train.labels,
                  "test_images": dataset.test.images, "test_labels": dataset.test.labels}
        entries = {}
        for key, arr in arrays.items():
            path = tmp / f"{key}.npy"
            written = Path(getattr(arr, "filename", None) or "")
            if (isinstance(arr, np.memmap) and written.parent.name.startswith(SCRATCH_PREFIX)
                    and written.suffix == ".npy" and written.is_file()):
                arr.flush()  # decoded into a scratch folder's .npy file: taken as it is
                shutil.move(written, path)
            else:
                np.save(path, np.ascontiguousarray(arr))
            entries[key] = {"shape": list(arr.shape), "dtype": str(arr.dtype),
                            "sha256": _sha256(path)}
        manifest = {"format": FORMAT, "name": dataset.name, "arrays": entries,
                    "class_names": list(dataset.class_names), "sources": sources}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def scratch_dir(parent: Path) -> Path:
    """A new folder under ``parent`` to decode arrays into: :func:`write` moves the
    ``.npy`` files mapped from it into the cache instead of copying them."""
    return Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=parent))


def manifest(directory: Path) -> dict | None:
    try:
        data = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def read(directory: Path, name: str, sources: dict[str, str] | None = None) -> Dataset | None:
    """The cached dataset, images memory-mapped; ``None`` when absent, stale or corrupted."""
    meta = manifest(directory)
    if meta is None:
        return None
    if sources is not None and meta.get("sources") != sources:
        return None
    loaded = {}
    try:
        for key in ARRAYS:
            entry = meta["arrays"][key]
            path = directory / f"{key}.npy"
            if _sha256(path) != entry["sha256"]:
                _warn(f"{path} does not match its manifest (corrupted): rebuilding the cache")
                return None
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if list(arr.shape) != entry["shape"] or str(arr.dtype) != entry["dtype"]:
                return None
            loaded[key] = arr
        class_names = tuple(meta["class_names"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    k = len(class_names)
    # labels are small: read them into memory, and range-check them once more
    train_labels, test_labels = (np.asarray(loaded[k_]) for k_ in ("train_labels", "test_labels"))
    for labels in (train_labels, test_labels):
        if len(labels) and (labels.min() < 0 or labels.max() >= k):
            return None
    return Dataset(name, Split(loaded["train_images"], train_labels, k),
                   Split(loaded["test_images"], test_labels, k), class_names)


def _warn(message: str) -> None:
    print(f"harness: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One process at a time prepares a dataset (parallel jobs start together)."""
    with contextlib.ExitStack() as stack:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fh = stack.enter_context(open(directory / ".lock", "a"))
        except OSError:  # a read-only data dir: nothing will be written there anyway
            fh = None
        if fh is not None:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes
        yield


def load_or_build(directory: Path, name: str, sources: dict[str, str], build) -> Dataset:
    """The cached dataset, or ``build()``'s, written to the cache for next time.

    ``build`` runs under the lock; scratch folders (:func:`scratch_dir`) under the
    cache's parent are removed once it is written, whatever happened.
    """
    with locked(directory.parent):
        cached = read(directory, name, sources)
        if cached is not None:
            return cached
        try:
            dataset = build()
            try:
                write(directory, dataset, sources)
            except OSError as exc:  # still usable, just slower next time
                _warn(f"cannot cache {name} in {directory} ({exc.strerror}): decoded in "
                      "memory only")
                return dataset
        finally:  # what write did not take (arrays still mapped stay readable)
            for scratch in directory.parent.glob(f"{SCRATCH_PREFIX}*"):
                shutil.rmtree(scratch, ignore_errors=True)
        return read(directory, name, sources) or dataset
