"""The user's own images: ``folder:PATH`` and ``csv:FILE``.

``folder:PATH`` has one sub-folder per class (``PATH/<class>/*.png``), or ``PATH/train/``
and ``PATH/test/`` laid out that way. ``csv:FILE`` has an image path column (relative to
the CSV's folder) and a label column, optionally a ``split`` column (``train``/``test``);
``csv:FILE?image=COL&label=COL`` names the columns, ``sep=;`` (or ``sep=tab``) its
separator. A dataset reads only its own folder: links out of ``folder:PATH`` and CSV
paths that leave the CSV's folder (``..``, absolute paths) are refused. Without a test
split, a fixed stratified 20 % of each class is held out as the test part.

Images may be PNG or JPEG, grayscale or RGB, of any size: all become RGB unless all are
grayscale, and all are decoded once to one working size (:func:`working_size`): the
most common size as shown (square at its short side where both orientations are
common: :func:`probe`) while its short side is at most ``WORKING_SIDE`` (224 px, the
largest input any built-in contender uses), else ``WORKING_SIDE`` square;
``--image-size N`` makes it N square. Each image is turned upright (EXIF), cropped
about its centre to the working aspect and resized (never stretched); JPEGs decode in
draft mode at the reduction that size needs. Decoding runs in threads straight into
the cache's files, so memory does not grow with the number of images. The arrays are cached under a
fingerprint of the file list (paths, sizes, modification times) and the working-size
rule, so editing the folder rebuilds the cache and a re-run does not decode again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import parse_qsl

from harness.core.errors import HarnessError
from harness.core.names import safe_name
from harness.data.formats import IMAGE_SUFFIXES
from harness.data.sources import data_root
from harness.data.splits import Dataset, DatasetSpec

TEST_FRACTION = 0.2
IMAGE_COLUMNS = ("image", "path", "file", "filename", "image_path", "filepath")
LABEL_COLUMNS = ("label", "class", "target", "category")
#: ``csv:FILE?sep=...``: names for separators awkward to write in a URL-like spec
SEPARATORS = {"tab": "\t", "semicolon": ";", "comma": ",", "pipe": "|", "\\t": "\t"}
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


@dataclass(frozen=True)
class Source:
    name: str  # as the user typed it: folder:PATH or csv:FILE
    origin: Path
    class_names: tuple[str, ...]
    train: tuple[tuple[Path, int], ...]
    test: tuple[tuple[Path, int], ...]
    official_split: bool

    def fingerprint(self) -> str:
        def stat(items):
            return [(str(p), (st := p.stat()).st_size, st.st_mtime_ns, y) for p, y in items]

        blob = json.dumps([self.class_names, stat(self.train), stat(self.test)])
        return hashlib.sha256(blob.encode()).hexdigest()

    def cache_dir(self, data_dir: Path | None, image_size: int | None = None) -> Path:
        """The cache of the images at their default working size (``arrays``), or at
        ``--image-size N`` (``arrays-Npx``)."""
        root = Path(data_dir).expanduser() if data_dir else data_root()
        slug = safe_name(self.origin.stem)[:40]
        key = hashlib.sha256(str(self.origin.resolve()).encode()).hexdigest()[:12]
        return root / "local" / f"{slug}-{key}" / (f"arrays-{image_size}px" if image_size
                                                   else "arrays")


def _is_hidden(path: Path, top: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(top).parts)


def _inside(path: Path, top: Path, what: str) -> None:
    """Refuse ``path`` when it resolves (through links) outside the dataset's folder."""
    target = path.resolve()
    if not target.is_relative_to(top.resolve()):
        raise HarnessError(f"{what} {path} leads to {target}, outside {top}: a dataset reads "
                           "only its own folder; copy the file into it (links out of a "
                           "dataset's folder are refused)")


def _unreadable(path: Path, exc: OSError) -> HarnessError:
    return HarnessError(f"cannot read {path} ({exc.strerror or exc}): make it readable "
                        "for this user (chmod) or move it out of the dataset")


def _class_files(folder: Path, top: Path) -> list[Path]:
    files: list[Path] = []

    def fail(exc: OSError):
        raise _unreadable(Path(exc.filename or folder), exc)

    if not os.access(folder, os.R_OK | os.X_OK):
        raise _unreadable(folder, PermissionError(13, "Permission denied"))
    for root, dirs, names in os.walk(folder, onerror=fail, followlinks=False):
        here = Path(root)
        for d in [d for d in dirs if (here / d).is_symlink()]:
            _inside(here / d, top, "class folder entry")
            dirs.remove(d)  # a link inside the folder: its files are listed where they are
        files += [here / n for n in names if (here / n).is_file()]
    files = sorted(p for p in files if not _is_hidden(p, top))
    for p in files:
        if p.is_symlink():  # walked without following links: only a link can lead out
            _inside(p, top, "image")
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise HarnessError(f"{p} is not a PNG or JPEG image: move it out of the class "
                               "folder (class folders hold only images)")
    if not files:
        raise HarnessError(f"class folder {folder} holds no images: add PNG/JPEG files to it "
                           "or remove it")
    return files


def _class_folders(path: Path, top: Path) -> list[Path]:
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        raise _unreadable(path, exc) from None
    for p in entries:
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            raise HarnessError(f"{p} is not in a class folder: move it into {path}/<class>/")
    folders = [p for p in entries if p.is_dir() and not p.name.startswith(".")]
    for p in folders:
        _inside(p, top, "class folder")
    return folders


def _check_classes(name: str, class_names: list[str]) -> None:
    if len(class_names) < 2:
        found = f"only {class_names[0]!r}" if class_names else "none"
        raise HarnessError(f"{name} has {found} as class: a classifier needs at least 2 "
                           "classes (one sub-folder or label value per class)")


def _holdout(name: str, items: list[tuple[Path, int]], class_names: list[str]):
    """A fixed stratified test part: 20 % of each class (at least one image)."""
    rng = random.Random(0)
    train, test = [], []
    for c, cname in enumerate(class_names):
        mine = [it for it in items if it[1] == c]
        if len(mine) < 2:
            raise HarnessError(f"{name}: class {cname!r} has {len(mine)} image(s): without a "
                               "test split each class needs at least 2 (20 % is held out for "
                               "testing); add images or give a test split")
        rng.shuffle(mine)
        k = max(1, round(TEST_FRACTION * len(mine)))
        test += mine[:k]
        train += mine[k:]
    return tuple(sorted(train)), tuple(sorted(test))


def scan_folder(name: str, path: Path) -> Source:
    if not path.is_dir():
        raise HarnessError(f"{name}: {path} is not a folder: pass folder:PATH with one "
                           "sub-folder of images per class")
    train_dir, test_dir = path / "train", path / "test"
    if train_dir.is_dir() != test_dir.is_dir():
        have, lack = (train_dir, test_dir) if train_dir.is_dir() else (test_dir, train_dir)
        raise HarnessError(f"{have} exists but {lack} does not: add {lack}/<class>/ folders "
                           "(or use one folder per class, without train/test)")
    if train_dir.is_dir():
        folders = _class_folders(train_dir, path)
        class_names = [f.name for f in folders]
        _check_classes(name, class_names)
        train = tuple((p, c) for c, f in enumerate(folders) for p in _class_files(f, path))
        test_folders = _class_folders(test_dir, path)
        unknown = [f.name for f in test_folders if f.name not in class_names]
        if unknown:
            raise HarnessError(f"{test_dir} has class folder(s) {', '.join(unknown)} that "
                               f"{train_dir} lacks: every test class needs training images")
        test = tuple((p, class_names.index(f.name)) for f in test_folders
                     for p in _class_files(f, path))
        return Source(name, path, tuple(class_names), train, test, True)
    folders = _class_folders(path, path)
    class_names = [f.name for f in folders]
    _check_classes(name, class_names)
    items = [(p, c) for c, f in enumerate(folders) for p in _class_files(f, path)]
    train, test = _holdout(name, items, class_names)
    return Source(name, path, tuple(class_names), train, test, False)


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str,
          path: Path) -> str:
    lower = {c.strip().lower(): c for c in columns}
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise HarnessError(f"{path} has no column {wanted!r} (its columns: "
                           f"{', '.join(columns)}): pass csv:FILE?{what}=COLUMN with one of them")
    for c in candidates:
        if c in lower:
            return lower[c]
    raise HarnessError(f"{path} has no {what} column (looked for {', '.join(candidates)}; its "
                       f"columns: {', '.join(columns)}): rename it or pass "
                       f"csv:FILE?{what}=COLUMN")


def _sort_labels(values: set[str]) -> list[str]:
    if all(v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    return sorted(values)


def scan_csv(name: str, spec: str) -> Source:
    text, _, query = spec.partition("?")
    if Path(spec).expanduser().is_file():  # a file whose name holds "?", with no options
        text, query = spec, ""
    path = Path(text).expanduser()
    options = dict(parse_qsl(query, keep_blank_values=True))
    extra = set(options) - {"image", "label", "sep"}
    if extra:
        raise HarnessError(f"{name}: unknown option(s) {', '.join(sorted(extra))}: "
                           "csv:FILE?image=COLUMN&label=COLUMN&sep=;")
    sep = SEPARATORS.get(options.get("sep", ","), options.get("sep", ","))
    if len(sep) != 1 or sep in "\"\r\n":
        raise HarnessError(f"{name}: sep={options['sep']!r} is not one separator character: "
                           "pass sep=; or sep=tab (or leave it out for commas)")
    rows: list[tuple[int, dict]] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            # an unclosed quote is an error
            reader = csv.DictReader(fh, delimiter=sep, strict=True)
            columns = list(reader.fieldnames or [])
            for row in reader:
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        line = rows[-1][0] + 1 if rows else 2  # the row after the last one read whole
        raise HarnessError(f"{path} line {line}: {exc} (an unclosed quote?): fix the CSV "
                           "there") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{name}: cannot read {path} ({exc}): pass csv:FILE with a "
                           "readable CSV file") from None
    if not columns:
        raise HarnessError(f"{path} is empty: it needs a header and one row per image")
    if len(columns) == 1 and "sep" not in options:
        found = next((c for c in (";", "\t", "|") if c in columns[0]), None)
        if found:
            shown = "tab" if found == "\t" else found
            raise HarnessError(f"{path} is separated by {shown!r}, not commas (its header "
                               f"reads {columns[0][:80]!r}): pass csv:FILE?sep={shown}")
    image_col = _pick(columns, options.get("image"), IMAGE_COLUMNS, "image", path)
    label_col = _pick(columns, options.get("label"), LABEL_COLUMNS, "label", path)
    split_col = next((c for c in columns if c.strip().lower() == "split"), None)
    entries = []
    top = path.parent.resolve()
    for line, row in rows:
        image, label = (row.get(image_col) or "").strip(), (row.get(label_col) or "").strip()
        if not image or not label:
            raise HarnessError(f"{path} line {line}: empty {'image' if not image else 'label'}"
                               ": fill it in or remove the row")
        file = path.parent / image
        if Path(image).is_absolute() or not file.resolve().is_relative_to(top):
            raise HarnessError(f"{path} line {line}: image {image} is outside the CSV's "
                               f"folder {path.parent}: a dataset reads only its own folder; "
                               "put the CSV beside its images (paths relative to its folder) "
                               "or copy the image in")
        if not file.is_file():
            raise HarnessError(f"{path} line {line}: image {image} not found at {file} (paths "
                               "are relative to the CSV's folder): fix the path or remove the row")
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            raise HarnessError(f"{path} line {line}: {image} is not a PNG or JPEG image: fix "
                               "the path or remove the row")
        part = (row.get(split_col) or "train").strip().lower() if split_col else "train"
        if part not in ("train", "test"):
            raise HarnessError(f"{path} line {line}: split {part!r} must be train or test")
        entries.append((file, label, part))
    class_names = _sort_labels({label for _, label, part in entries if part == "train"})
    _check_classes(name, class_names)
    index = {c: i for i, c in enumerate(class_names)}
    unknown = sorted({label for _, label, _ in entries if label not in index})
    if unknown:
        raise HarnessError(f"{path}: test label(s) {', '.join(unknown)} have no training rows:"
                           " every test class needs training images")
    items = [(f, index[label]) for f, label, _ in entries]
    if split_col and any(part == "test" for *_, part in entries):
        train = tuple(it for it, e in zip(items, entries, strict=True) if e[2] == "train")
        test = tuple(it for it, e in zip(items, entries, strict=True) if e[2] == "test")
        return Source(name, path, tuple(class_names), train, test, True)
    train, test = _holdout(name, items, class_names)
    return Source(name, path, tuple(class_names), train, test, False)


def probe(source: Source) -> tuple[tuple[int, int], str]:
    """(width, height) most images have as shown (EXIF-turned), square at its short side
    where landscape and portrait images each make up ``MIXED_SHARE`` or more, and the
    mode all become, from headers alone."""
    from PIL import Image, UnidentifiedImageError

    from harness.data.formats import stored_size

    sizes: Counter = Counter()
    gray = True
    for path, _ in (*source.train, *source.test):
        try:
            with Image.open(path) as img:
                if img.format not in ("PNG", "JPEG"):
                    raise HarnessError(f"{path} is {img.format}, not PNG or JPEG: convert or "
                                       "remove it")
                sizes[stored_size(img)] += 1  # as shown: a phone's sideways photo turned
                gray = gray and img.mode in GRAY_MODES
        except Image.DecompressionBombError as exc:
            raise HarnessError(f"{path} is refused by Pillow's decompression-bomb limit "
                               f"({exc}): shrink it or remove it") from None
        except PermissionError as exc:
            raise _unreadable(path, exc) from None
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise HarnessError(f"{path} is not a readable PNG or JPEG image ({exc}): remove "
                               "it or replace it") from None
    common = sizes.most_common(1)[0][0]
    wide = sum(n for (w, h), n in sizes.items() if w > h)
    tall = sum(n for (w, h), n in sizes.items() if h > w)
    if min(wide, tall) >= MIXED_SHARE * sum(sizes.values()):  # both orientations: square
        common = (min(common), min(common))
    return common, "L" if gray else "RGB"


#: the share of landscape and of portrait images from which the working size is square
#: (each loses the same edges) rather than the most common size
MIXED_SHARE = 0.2
#: the largest input any built-in contender uses (the ImageNet backbones' 224 px): the
#: short side of larger images is brought down to it when they are decoded
WORKING_SIDE = 224


def working_size(common: tuple[int, int], image_size: int | None = None) -> tuple[int, int]:
    """(width, height) every image is decoded to: ``image_size`` square where it is
    given; else the most common size where its short side is at most ``WORKING_SIDE``,
    and ``WORKING_SIDE`` square above it (mixed orientations lose the same edges)."""
    if image_size:
        return image_size, image_size
    if min(common) <= WORKING_SIDE:
        return common
    return WORKING_SIDE, WORKING_SIDE


def _progress(what: str, total: int):
    """A progress bar on a terminal (none in logs); ``advance(n)`` after each chunk."""
    import contextlib
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    if not sys.stderr.isatty():
        return contextlib.nullcontext(lambda n: None)

    @contextlib.contextmanager
    def bar():
        with Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=Console(stderr=True),
                      transient=True) as progress:
            task = progress.add_task(what, total=total)
            yield lambda n: progress.advance(task, n)

    return bar()


#: images a decoding thread takes at a time
CHUNK = 64


def _allocate(path: Path, shape: tuple[int, ...]):
    """A uint8 ``.npy`` file of ``shape`` mapped for writing, its blocks reserved on disk
    first (a full disk is an ``OSError`` here, not a SIGBUS while decoding); where the
    disk cannot hold it, an array in memory (the cache then says it could not write)."""
    import errno

    import numpy as np

    try:
        images = np.lib.format.open_memmap(path, "w+", np.uint8, shape)
        with open(path, "r+b") as fh:
            try:
                os.posix_fallocate(fh.fileno(), 0, path.stat().st_size)
            except OSError as exc:  # a file system that cannot reserve: mapped all the same
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise
        return images
    except OSError:
        path.unlink(missing_ok=True)
        return np.empty(shape, np.uint8)


def _decode(source: Source, image_size: int | None, parent: Path) -> Dataset:
    """Every image decoded once at the working size, in threads (Pillow decodes and
    resizes with the interpreter lock released), into ``.npy`` files of a scratch
    folder under ``parent`` that the cache then takes as they are: memory stays at a
    few chunks of images, whatever the number of files. Runs under the dataset's lock:
    scratch folders left by a process that died are removed first."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from harness.data import cache
    from harness.data.formats import decode_image, decode_threads
    from harness.data.splits import Split

    common, mode = probe(source)
    size = working_size(common, image_size)
    k = len(source.class_names)
    for stale in parent.glob(f"{cache.SCRATCH_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    scratch = cache.scratch_dir(parent)
    total = len(source.train) + len(source.test)
    what = f"decoding {total:,} images of {source.name} at {size[0]}x{size[1]}"
    with _progress(what, total) as advance, ThreadPoolExecutor(decode_threads()) as pool:

        def split(part: str, items) -> Split:
            shape = (len(items), size[1], size[0], 1 if mode == "L" else 3)
            images = _allocate(scratch / f"{part}_images.npy", shape)

            def fill(start: int) -> int:
                for i in range(start, min(start + CHUNK, len(items))):
                    path = items[i][0]
                    images[i] = decode_image(path, str(path), mode, size)
                return min(CHUNK, len(items) - start)

            try:
                for n in pool.map(fill, range(0, len(items), CHUNK)):
                    advance(n)
            except BaseException:  # a bad image (or Ctrl-C): said now, not after the rest
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            if isinstance(images, np.memmap):
                images.flush()
            return Split(images, np.array([y for _, y in items], np.int64), k)

        train, test = split("train", source.train), split("test", source.test)
    return Dataset(source.name, train, test, source.class_names)


def _scan(name: str) -> Source:
    kind, _, arg = name.partition(":")
    if not arg:
        raise HarnessError(f"{name!r} names no path: use {kind}:PATH")
    if kind == "folder":
        return scan_folder(name, Path(arg).expanduser())
    return scan_csv(name, arg)


def _sources(source: Source, image_size: int | None) -> dict:
    """What a cache was decoded from: the files, and the rule of its working size."""
    working = f"{image_size}px" if image_size else f"short side at most {WORKING_SIDE}"
    return {"fingerprint": source.fingerprint(), "working_size": working}


def cache_folder(name: str, data_dir: Path | None, image_size: int | None = None) -> Path:
    """Where ``name``'s images at that working size are cached."""
    return _scan(name).cache_dir(data_dir, image_size)


def load(name: str, data_dir: Path | None, image_size: int | None = None) -> Dataset:
    """The images of ``name`` at their working size (:func:`working_size`), decoded
    once and cached under a fingerprint of the files and that size."""
    import shutil
    import tempfile

    from harness.data import cache

    source = _scan(name)
    directory = source.cache_dir(data_dir, image_size)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        parent = directory.parent
        writable = os.access(parent, os.W_OK)
    except OSError:
        writable = False
    if not writable:  # a read-only data dir: decoded in a temporary folder, not cached
        parent = Path(tempfile.mkdtemp(prefix="harness-decoding-"))
    try:
        return cache.load_or_build(directory, name, _sources(source, image_size),
                                   partial(_decode, source, image_size, parent))
    finally:  # what the cache did not take (its arrays stay mapped where still used)
        if not writable:
            shutil.rmtree(parent, ignore_errors=True)


def spec(name: str, image_size: int | None = None) -> DatasetSpec:
    """The spec of ``folder:PATH`` or ``csv:FILE``, from a scan of its files; its image
    shape is the working size the images are decoded to."""
    from harness.data import cache

    source = _scan(name)
    sources = _sources(source, image_size)

    def fresh(meta: dict | None) -> bool:
        return bool(meta) and meta.get("sources") == sources

    def cached(data_dir: Path | None) -> Path | None:
        directory = source.cache_dir(data_dir, image_size)
        return directory if fresh(cache.manifest(directory)) else None

    meta = cache.manifest(source.cache_dir(None, image_size))
    if fresh(meta):
        shape = tuple(meta["arrays"]["train_images"]["shape"][1:])
    else:
        common, mode = probe(source)
        w, h = working_size(common, image_size)
        shape = (h, w, 1 if mode == "L" else 3)
    split = "its own train/test split" if source.official_split else "20 % held out as test"
    return DatasetSpec(
        name, len(source.class_names), shape, len(source.train), len(source.test),
        f"your images in {source.origin} ({split})",
        loader=partial(load, name, image_size=image_size), cached=cached,
    )
