"""Tiny files in each official dataset format, a loopback HTTP server, a sources file.

The builders write what the publishers publish (IDX gz, CIFAR binary tarballs, the
Tiny-ImageNet zip), only with a handful of images, and return the arrays they wrote so
that tests can compare what the loader decoded with what went in.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import io
import struct
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image


def md5(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def write_idx(path: Path, array: np.ndarray) -> Path:
    header = struct.pack(">4B", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                        *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


def mnist_files(folder: Path, n_train: int = 30, n_test: int = 10, seed: int = 0) -> dict:
    """The four MNIST ``.gz`` files; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test, dtype=np.uint8) % 10,
    }
    for name, arr in arrays.items():
        write_idx(folder / name, arr)
    return arrays


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _cifar_records(images: np.ndarray, labels: list[np.ndarray]) -> bytes:
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # R, G, B planes
    return np.hstack([*(lab[:, None] for lab in labels), planes]).astype(np.uint8).tobytes()


CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]


def cifar10_tar(path: Path, per_batch: int = 10, seed: int = 0,
                extra: dict[str, bytes] | None = None) -> dict:
    rng = np.random.default_rng(seed)
    members, train_x, train_y = {}, [], []
    base = "cifar-10-batches-bin/"
    for i in range(1, 7):
        x = rng.integers(0, 256, (per_batch, 32, 32, 3), np.uint8)
        y = (np.arange(per_batch) + i) % 10
        name = f"data_batch_{i}.bin" if i < 6 else "test_batch.bin"
        members[base + name] = _cifar_records(x, [y])
        if i < 6:
            train_x.append(x)
            train_y.append(y)
        else:
            test = (x, y)
    members[base + "batches.meta.txt"] = ("\n".join(CIFAR10_NAMES) + "\n\n").encode()
    members.update(extra or {})
    _tar(path, members)
    return {"train": (np.concatenate(train_x), np.concatenate(train_y)), "test": test}


def cifar100_tar(path: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    base = "cifar-100-binary/"
    out, members = {}, {}
    for part, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (n, 32, 32, 3), np.uint8)
        fine = np.arange(n) % 100
        coarse = fine % 20
        members[f"{base}{part}.bin"] = _cifar_records(x, [coarse, fine])
        out[part] = (x, fine, coarse)
    members[base + "fine_label_names.txt"] = "\n".join(f"fine{i}" for i in range(100)).encode()
    members[base + "coarse_label_names.txt"] = "\n".join(f"coarse{i}" for i in range(20)).encode()
    _tar(path, members)
    return out


def _png(color, size=(64, 64), mode="RGB", fmt="JPEG") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, fmt)
    return buf.getvalue()


def tiny_imagenet_zip(path: Path, per_class: int = 3, extra: dict[str, bytes] | None = None,
                      ) -> dict:
    """Three classes; each image one flat colour (JPEG keeps flat colours nearly exact)."""
    wnids = ["n01443537", "n01629819", "n01641577"]
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    base = "tiny-imagenet-200/"
    members = {
        base + "wnids.txt": "\n".join(wnids).encode(),
        base + "words.txt": ("n00001740\tentity\n" + "\n".join(
            f"{w}\t{n}, other name" for w, n in zip(wnids, ["goldfish", "newt", "frog"],
                                                      strict=True))).encode(),
    }
    for c, w in enumerate(wnids):
        members[f"{base}train/{w}/{w}_boxes.txt"] = b""
        for i in range(per_class):
            members[f"{base}train/{w}/images/{w}_{i}.JPEG"] = _png(colors[c])
    # one grayscale image, as the real archive has a few
    members[f"{base}train/{wnids[0]}/images/{wnids[0]}_gray.JPEG"] = _png(128, mode="L")
    lines = []
    for i, c in enumerate([0, 1, 2, 2]):
        members[f"{base}val/images/val_{i}.JPEG"] = _png(colors[c])
        lines.append(f"val_{i}.JPEG\t{wnids[c]}\t0\t0\t63\t63")
    members[base + "val/val_annotations.txt"] = "\n".join(lines).encode()
    members[base + "test/images/test_0.JPEG"] = _png((0, 0, 0))  # unlabelled: ignored
    members.update(extra or {})
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return {"colors": colors, "test_labels": [0, 1, 2, 2], "n_train": 3 * per_class + 1}


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()


@contextlib.contextmanager
def http_server(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``folder`` on 127.0.0.1: yields (base URL, the paths requested so far)."""
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})

    def factory(*args, **kwargs):
        return handler(*args, directory=str(folder), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", requests
    finally:
        server.shutdown()
        server.server_close()


def write_sources(path: Path, groups: dict[str, list[tuple[str, list[str], str]]]) -> Path:
    """A ``$HARNESS_DATA_SOURCES`` file: group -> [(file name, urls, checksum)]."""
    lines = []
    for group, files in groups.items():
        for name, urls, checksum in files:
            quoted = ", ".join(f'"{u}"' for u in urls)
            lines += [f"[[{group}]]", f'name = "{name}"', f"urls = [{quoted}]",
                      f'checksum = "{checksum}"', ""]
    path.write_text("\n".join(lines))
    return path


def dead_url() -> str:
    """A loopback URL nobody answers on: connection refused at once, like being offline."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
