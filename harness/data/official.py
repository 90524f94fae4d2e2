"""The built-in datasets: scikit-learn's embedded ``digits`` and the seed projects'
benchmarks, downloaded from their official sources.

Listing them imports nothing heavy: the decoders run only when a dataset is loaded.
Files live in ``ROOT/<group>/`` (the archive, as published) and the decoded arrays in
``ROOT/<dataset>/arrays/``, where ROOT is ``--data-dir`` or ``$HARNESS_DATA``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from harness.data.sources import data_root, remote_files
from harness.data.splits import Dataset, DatasetSpec, Split

MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")


def _idx(name: str, class_names: tuple[str, ...], paths: dict[str, Path]) -> Dataset:
    from harness.data.formats import idx_dataset

    train = idx_dataset(paths[MNIST_FILES[0]], paths[MNIST_FILES[1]])
    test = idx_dataset(paths[MNIST_FILES[2]], paths[MNIST_FILES[3]])
    return _dataset(name, train, test, list(class_names))


def _cifar10(paths: dict[str, Path]) -> Dataset:
    from harness.data import formats

    return _dataset("cifar10", *formats.cifar10(paths["cifar-10-binary.tar.gz"]))


def _cifar100(name: str, coarse: bool, paths: dict[str, Path]) -> Dataset:
    from harness.data import formats

    return _dataset(name, *formats.cifar100(paths["cifar-100-binary.tar.gz"], coarse))


def _tiny_imagenet(paths: dict[str, Path]) -> Dataset:
    from harness.data import formats

    return _dataset("tiny_imagenet", *formats.tiny_imagenet(paths["tiny-imagenet-200.zip"]))


def _dataset(name: str, train, test, class_names: list[str]) -> Dataset:
    k = len(class_names)
    return Dataset(name, Split(*train, k), Split(*test, k), tuple(class_names))


def _root(data_dir: Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir else data_root()


def load(name: str, group: str, decode: Callable[[dict[str, Path]], Dataset],
         data_dir: Path | None) -> Dataset:
    from harness.data import cache
    from harness.data.download import fetch

    root = _root(data_dir)
    files = remote_files(group)
    sources = {f.name: f.checksum for f in files}

    def build() -> Dataset:
        # files the user already has may sit in DIR/<group>/ or straight in DIR/
        paths = fetch(files, root / group, search=(root,), label=name)
        return decode(paths)

    return cache.load_or_build(root / name / "arrays", name, sources, build)


def cached(name: str, group: str, data_dir: Path | None) -> Path | None:
    """The cache folder when the decoded arrays are there (not re-hashed: a listing)."""
    from harness.data import cache

    directory = _root(data_dir) / name / "arrays"
    meta = cache.manifest(directory)
    sources = {f.name: f.checksum for f in remote_files(group)}
    return directory if meta and meta.get("sources") == sources else None


def _official(name: str, group: str, classes: int, shape: tuple[int, int, int],
              sizes: tuple[int, int], description: str,
              decode: Callable[[dict[str, Path]], Dataset]) -> DatasetSpec:
    return DatasetSpec(
        name, classes, shape, *sizes, description,
        loader=partial(load, name, group, decode), cached=partial(cached, name, group),
    )


def _load_digits(data_dir: Path | None) -> Dataset:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    # 0..16 grey levels to the full uint8 range, one channel.
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    # digits has no official split: a fixed stratified quarter is the test part.
    tr, te = train_test_split(
        np.arange(len(labels)), test_size=0.25, stratify=labels, random_state=20
    )
    return Dataset(
        "digits",
        Split(images[tr], labels[tr], 10),
        Split(images[te], labels[te], 10),
        tuple(str(c) for c in bunch.target_names),
    )


#: every built-in dataset, as the registry lists them
SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec("digits", 10, (8, 8, 1), 1347, 450,
                "scikit-learn's embedded handwritten digits (no download)", _load_digits,
                cached=lambda d: Path("(embedded in scikit-learn)")),
    _official("mnist", "mnist", 10, (28, 28, 1), (60_000, 10_000),
              "MNIST handwritten digits (LeCun et al.), via torchvision's/TF's mirrors",
              partial(_idx, "mnist", tuple(str(i) for i in range(10)))),
    _official("fashion_mnist", "fashion_mnist", 10, (28, 28, 1), (60_000, 10_000),
              "Zalando's Fashion-MNIST clothing images", partial(_idx, "fashion_mnist",
                                                                  FASHION_NAMES)),
    _official("cifar10", "cifar10", 10, (32, 32, 3), (50_000, 10_000),
              "CIFAR-10 (Krizhevsky), binary release from cs.toronto.edu", _cifar10),
    _official("cifar100", "cifar100", 100, (32, 32, 3), (50_000, 10_000),
              "CIFAR-100, 100 fine labels", partial(_cifar100, "cifar100", False)),
    _official("cifar100_coarse", "cifar100", 20, (32, 32, 3), (50_000, 10_000),
              "CIFAR-100 with its 20 coarse (superclass) labels",
              partial(_cifar100, "cifar100_coarse", True)),
    _official("tiny_imagenet", "tiny_imagenet", 200, (64, 64, 3), (100_000, 10_000),
              "Tiny-ImageNet (cs231n), 200 classes; its labelled val/ is the test part",
              _tiny_imagenet),
)
