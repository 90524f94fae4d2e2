"""Decoders of the official file formats into uint8 ``N x H x W x C`` arrays.

Each one checks sizes against its format's header or record size, so a file that
passed its checksum but is not what we expect still fails with a clear message
rather than as garbage images.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import numpy as np

from harness.core.errors import HarnessError
from harness.data import archives

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _gunzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return archives.read_capped(fh, path, path.name.removesuffix(".gz"))
    except (OSError, EOFError, zlib.error) as exc:
        raise HarnessError(f"{path} is truncated or not gzip ({exc}): "
                           "delete it and download it again") from None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (``.gz``) of unsigned bytes: MNIST's and Fashion-MNIST's format."""
    raw = _gunzip(path)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise HarnessError(f"{path} is not an IDX file of unsigned bytes: "
                           "delete it and download it again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header]) if len(raw) >= header else ()
    if len(dims) != ndim or len(raw) != header + int(np.prod(dims, dtype=np.int64)):
        raise HarnessError(f"{path} is truncated (its header says {dims}): "
                           "delete it and download it again")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def idx_dataset(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise HarnessError(f"{images.name} and {labels.name} do not match "
                           f"({x.shape} images, {y.shape} labels): delete them and download again")
    return x[..., None].copy(), y.astype(np.int64)


def cifar_records(raw: bytes, label_bytes: int, label_index: int,
                  what: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR's binary records: ``label_bytes`` label bytes, then 3 x 32 x 32 planes."""
    size = label_bytes + 3 * 32 * 32
    if len(raw) % size:
        raise HarnessError(f"{what} is not a whole number of CIFAR records: "
                           "delete the archive and download it again")
    records = np.frombuffer(raw, np.uint8).reshape(-1, size)
    images = records[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), records[:, label_index].astype(np.int64)


def cifar10(archive: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray],
                                    list[str]]:
    base = "cifar-10-batches-bin/"
    train_names = [f"{base}data_batch_{i}.bin" for i in range(1, 6)]
    members = archives.read_tar(archive, {*train_names, f"{base}test_batch.bin",
                                          f"{base}batches.meta.txt"})
    parts = [cifar_records(members[n], 1, 0, n) for n in train_names]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = cifar_records(members[f"{base}test_batch.bin"], 1, 0, "test_batch.bin")
    names = members[f"{base}batches.meta.txt"].decode().split()
    return train, test, names


def cifar100(archive: Path, coarse: bool) -> tuple[tuple[np.ndarray, np.ndarray],
                                                   tuple[np.ndarray, np.ndarray], list[str]]:
    base = "cifar-100-binary/"
    names_file = f"{base}{'coarse' if coarse else 'fine'}_label_names.txt"
    members = archives.read_tar(archive, {f"{base}train.bin", f"{base}test.bin", names_file})
    index = 0 if coarse else 1  # each record: coarse label byte, fine label byte, pixels
    train = cifar_records(members[f"{base}train.bin"], 2, index, "train.bin")
    test = cifar_records(members[f"{base}test.bin"], 2, index, "test.bin")
    return train, test, members[names_file].decode().split()


#: Pillow's modes of more than 8 bits a channel; ``convert`` clips them to 255
HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def to_8_bits(img, what: str):
    """``img`` with 8 bits a channel: a 16-bit image scaled (0..65535 to 0..255), never
    clipped, which Pillow's ``convert`` does (a 16-bit PNG would come out all white)."""
    from PIL import Image

    if img.mode in HIGH_DEPTH_MODES:
        pixels = np.asarray(img).astype(np.int64)
        if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise HarnessError(f"{what} holds {img.mode} pixels outside 0..65535: save it "
                               "as an 8- or 16-bit PNG")
        return Image.fromarray(((pixels * 255 + 32767) // 65535).astype(np.uint8), "L")
    if img.mode == "F":
        raise HarnessError(f"{what} holds floating-point pixels: save it as an 8- or "
                           "16-bit PNG")
    return img


def fit_image(img, size: tuple[int, int]):
    """``img`` cropped about its centre to the aspect of ``size`` (width, height), then
    resized to it: no image is stretched, and each loses the least it can of its edges.

    A JPEG not yet loaded is decoded in draft mode, at the smallest power-of-two
    reduction (1/2, 1/4, 1/8) still at least as large as what is kept: a 4000 x 3000
    photo for a 224 px working size decodes as 500 x 375, about 30 times less work and
    memory than decoding it whole.
    """
    from PIL import Image

    width, height = img.size
    scale = max(size[0] / width, size[1] / height)
    if img.format == "JPEG" and scale < 1 and getattr(img, "tile", None):  # not yet loaded
        img.draft(img.mode if img.mode in ("L", "RGB") else "RGB",
                  (max(1, int(width * scale + 1)), max(1, int(height * scale + 1))))
        width, height = img.size  # the reduced decode's size (the scale of the crop)
    if (width, height) == size:
        return img
    keep_w, keep_h = min(width, size[0] * height / size[1]), min(height, size[1] * width / size[0])
    box = ((width - keep_w) / 2, (height - keep_h) / 2, (width + keep_w) / 2,
           (height + keep_h) / 2)
    return img.resize(size, Image.Resampling.BILINEAR, box=box)


def _orientation(img) -> int:
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block is no reason to lose the image
        return 1


def upright(img):
    """``img`` turned as its EXIF orientation says (phones store photos sideways)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(img) if _orientation(img) != 1 else img


def shaped(img, what: str, mode: str = "RGB", size: tuple[int, int] | None = None):
    """An open image as the harness's training images are made: upright (EXIF), 8 bits a
    channel (16-bit scaled), in ``mode`` and, given ``size`` (width, height), cropped
    about its centre to that aspect and resized (a JPEG not yet loaded decodes in draft
    mode at the reduction that allows)."""
    if size is not None and img.format == "JPEG":  # in draft mode, before loading
        sideways = _orientation(img) in (5, 6, 7, 8)
        img = fit_image(img, size[::-1] if sideways else size)
    img = to_8_bits(upright(img), what).convert(mode)
    if size is not None and img.size != size:  # an image upright already
        img = fit_image(img, size)
    return img


def decode_image(data: bytes | Path, what: str, mode: str = "RGB",
                 size: tuple[int, int] | None = None) -> np.ndarray:
    """One PNG or JPEG as ``H x W x C`` uint8, made by :func:`shaped`.

    Pillow's decompression-bomb limit stays on: an image over it is an error here.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as img:
            if img.format not in ("PNG", "JPEG"):
                raise HarnessError(f"{what} is {img.format}, not PNG or JPEG: convert or remove it")
            arr = np.asarray(shaped(img, what, mode, size), dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise HarnessError(f"{what} is refused by Pillow's decompression-bomb limit ({exc}): "
                           "shrink it or remove it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise HarnessError(f"{what} is not a readable PNG or JPEG image ({exc}): "
                           "remove it or replace it") from None
    return arr if arr.ndim == 3 else arr[..., None]


def stored_size(img) -> tuple[int, int]:
    """(width, height) of an open image as it is shown: turned by its EXIF orientation."""
    width, height = img.size
    return (height, width) if _orientation(img) in (5, 6, 7, 8) else (width, height)


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``images`` (uint8, N x H x W x C) at ``size`` (width, height): each cropped about
    its centre to that aspect and resized (:func:`fit_image`), in threads."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    n, height, width, channels = images.shape
    if (width, height) == tuple(size):
        return images
    out = np.empty((n, size[1], size[0], channels), np.uint8)

    def some(start: int) -> None:
        for i in range(start, min(start + 256, n)):
            pixels = np.asarray(images[i])
            img = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
            resized = np.asarray(fit_image(img, tuple(size)), np.uint8)
            out[i] = resized[..., None] if channels == 1 else resized

    with ThreadPoolExecutor(decode_threads()) as pool:
        list(pool.map(some, range(0, n, 256)))
    return out


def decode_threads() -> int:
    """Threads that decode images: the cores this process may use, at most 8
    (``$HARNESS_DECODE_THREADS`` sets it)."""
    import os

    wanted = os.environ.get("HARNESS_DECODE_THREADS", "")
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return max(1, min(8, len(os.sched_getaffinity(0))))


def tiny_imagenet(archive: Path) -> tuple[tuple[np.ndarray, np.ndarray],
                                          tuple[np.ndarray, np.ndarray], list[str]]:
    """cs231n's zip: ``train/<wnid>/images/*.JPEG``; the labelled ``val/`` is the test part."""
    from concurrent.futures import ThreadPoolExecutor

    base = "tiny-imagenet-200/"
    with archives.open_zip(archive) as zf:
        wnids = archives.read_zip_member(zf, f"{base}wnids.txt").decode().split()
        words = dict(line.split("\t", 1) for line in
                     archives.read_zip_member(zf, f"{base}words.txt").decode().splitlines()
                     if "\t" in line)
        index = {w: i for i, w in enumerate(wnids)}
        train_members: list[tuple[str, int]] = []
        for name in sorted(zf.namelist()):
            parts = name[len(base):].split("/")
            if (name.startswith(f"{base}train/") and len(parts) == 4 and parts[2] == "images"
                    and parts[3].upper().endswith(".JPEG")):
                if parts[1] not in index:
                    raise HarnessError(f"{archive}: {name} is of a class missing from wnids.txt:"
                                       " delete the archive and download it again")
                train_members.append((name, index[parts[1]]))
        annotations = archives.read_zip_member(zf, f"{base}val/val_annotations.txt").decode()
        test_members = []
        for line in annotations.splitlines():
            fields = line.split("\t")
            if len(fields) >= 2 and fields[1] in index:
                test_members.append((f"{base}val/images/{fields[0]}", index[fields[1]]))
            elif line.strip():
                raise HarnessError(f"{archive}: val_annotations.txt line {line!r} names no "
                                   "known class: delete the archive and download it again")

        def decode(members: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray]:
            images = np.empty((len(members), 64, 64, 3), np.uint8)

            def fill(start: int) -> None:
                for i in range(start, min(start + 256, len(members))):
                    name = members[i][0]
                    # a few images are grayscale: converted to RGB like the rest
                    images[i] = decode_image(archives.read_zip_member(zf, name),
                                             f"{archive}:{name}", "RGB", (64, 64))

            # Pillow decodes with the interpreter lock released; the zip file's reads
            # are serialised by zipfile's own lock
            with ThreadPoolExecutor(decode_threads()) as pool:
                list(pool.map(fill, range(0, len(members), 256)))
            return images, np.array([label for _, label in members], np.int64)

        if not train_members or not test_members:
            raise HarnessError(f"{archive} holds no train or val images: delete it and "
                               "download it again")
        train, test = decode(train_members), decode(test_members)
    names = [words.get(w, w).split(",")[0].strip() for w in wnids]
    return train, test, names
