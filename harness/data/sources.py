"""Where each dataset's files come from: official URL first unless it is known dead.

Every file carries the checksum its publisher (or torchvision/TFDS, which checked it
against the publisher) gives, and nothing is parsed before it matches.

``$HARNESS_DATA_SOURCES`` may name a TOML file whose tables replace entries of this
one, for an internal mirror (or the tests' local server)::

    [[cifar10]]
    name = "cifar-10-binary.tar.gz"
    urls = ["https://mirror.example/cifar-10-binary.tar.gz"]
    checksum = "md5:c32a1d4ab5d03f1284b67883e8d87530"
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError

SOURCES_ENV = "HARNESS_DATA_SOURCES"


@dataclass(frozen=True)
class RemoteFile:
    name: str  # the file's name on disk
    urls: tuple[str, ...]  # tried in order
    checksum: str  # "md5:<hex>" or "sha256:<hex>"
    size: int | None = None  # bytes, for the progress bar before the server says

    @property
    def algorithm(self) -> str:
        return self.checksum.partition(":")[0]

    @property
    def digest(self) -> str:
        return self.checksum.partition(":")[2].lower()


def _mirrored(bases: tuple[str, ...], files: dict[str, str]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(n, tuple(b + n for b in bases), f"md5:{md5}")
                 for n, md5 in files.items())


# yann.lecun.com answers 403 now: torchvision's and TensorFlow's copies go first.
_MNIST_BASES = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_FASHION_BASES = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

BUILTIN: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": _mirrored(_MNIST_BASES, {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }),
    "fashion_mnist": _mirrored(_FASHION_BASES, {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }),
    # The binary releases: fixed-size records, so no pickle is ever loaded.
    "cifar10": (RemoteFile(
        "cifar-10-binary.tar.gz",
        ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
         "https://storage.googleapis.com/s4tf-hosted-binaries/datasets/CIFAR10/"
         "cifar-10-binary.tar.gz"),
        "md5:c32a1d4ab5d03f1284b67883e8d87530", 170_052_171),),
    "cifar100": (RemoteFile(
        "cifar-100-binary.tar.gz",
        ("https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",),
        "md5:03b5dce01913d631647c71ecec9e9cb8", 168_513_733),),
    "tiny_imagenet": (RemoteFile(
        "tiny-imagenet-200.zip",
        ("http://cs231n.stanford.edu/tiny-imagenet-200.zip",),
        "md5:90528d7ca1a48142e341f4ef8d21d0de"),),
}


def _override(path: Path) -> dict[str, tuple[RemoteFile, ...]]:
    import tomllib

    try:
        table = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HarnessError(f"cannot read ${SOURCES_ENV} file {path}: {exc}; "
                           "fix the file or unset the variable") from None
    out = {}
    for group, entries in table.items():
        try:
            out[group] = tuple(
                RemoteFile(e["name"], tuple(e["urls"]), e["checksum"], e.get("size"))
                for e in entries
            )
        except (KeyError, TypeError) as exc:
            raise HarnessError(f"${SOURCES_ENV} file {path}: [[{group}]] entries need name, "
                               f"urls and checksum ({exc})") from None
        bad = [f.checksum for f in out[group] if f.algorithm not in ("md5", "sha256")]
        if bad:
            raise HarnessError(f"${SOURCES_ENV} file {path}: checksum {bad[0]!r} must be "
                               "md5:<hex> or sha256:<hex>")
    return out


def remote_files(group: str) -> tuple[RemoteFile, ...]:
    """The files of ``group``, from ``$HARNESS_DATA_SOURCES`` where it has them."""
    env = os.environ.get(SOURCES_ENV)
    if env:
        override = _override(Path(env).expanduser())
        if group in override:
            return override[group]
    return BUILTIN[group]


def data_root() -> Path:
    """Where downloaded datasets are cached: ``$HARNESS_DATA`` or the user cache dir."""
    env = os.environ.get("HARNESS_DATA")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("harness")) / "datasets"
