"""Images and labels, and the evaluation protocol that splits them.

Every dataset comes as uint8 ``N x H x W x C`` images with integer labels, split into
the official train and test parts. The protocol then holds a stratified validation
part out of train (or takes one fold of a stratified K-fold), so that every contender
sees the same images for the same (fold, seed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.errors import HarnessError

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Split:
    """Images (uint8, N x H x W x C), their integer labels and the dataset's class count.

    ``num_classes`` is the dataset's, not this split's: a split may lack a class, and
    ``predict_proba`` must still return one column per class of the dataset.
    """

    images: np.ndarray
    labels: np.ndarray
    num_classes: int = 0

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must be N x H x W x C, got shape {self.images.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")
        if not self.num_classes:
            object.__setattr__(self, "num_classes", int(self.labels.max()) + 1 if len(self) else 0)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> Split:
        return Split(self.images[index], self.labels[index], self.num_classes)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    test: Split
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class DatasetSpec:
    """What ``harness datasets`` shows before anything is loaded."""

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    n_train: int
    n_test: int
    description: str
    loader: Callable[[Path | None], Dataset] = field(repr=False)
    cached: Callable[[Path | None], Path | None] = field(repr=False, default=lambda d: None)


def cap_per_class(split: Split, max_per_class: int | None, seed: int) -> Split:
    """At most ``max_per_class`` images of each class, drawn with ``seed``."""
    import numpy as np

    if not max_per_class:
        return split
    rng = np.random.default_rng(seed)
    keep = [
        rng.permutation(np.flatnonzero(split.labels == c))[:max_per_class]
        for c in np.unique(split.labels)
    ]
    return split.subset(np.sort(np.concatenate(keep)))


def protocol_split(
    train: Split,
    *,
    folds: int = 1,
    fold: int = 0,
    seed: int = 0,
    val_fraction: float = 0.1,
    max_per_class: int | None = None,
) -> tuple[Split, Split]:
    """The (train, validation) pair for one job.

    ``folds == 1``: a stratified ``val_fraction`` of train is held out. ``folds > 1``:
    fold ``fold`` of a stratified K-fold is the validation part. Both depend on
    ``seed`` only, so every contender of a run gets the same images.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

    train = cap_per_class(train, max_per_class, seed)
    counts = np.bincount(train.labels)
    n_classes = check_class_counts(counts, folds)
    if folds > 1:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        tr, va = list(splitter.split(np.zeros(len(train)), train.labels))[fold]
    else:
        n_val = max(round(val_fraction * len(train)), n_classes)
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
        tr, va = next(splitter.split(np.zeros(len(train)), train.labels))
    return train.subset(np.sort(tr)), train.subset(np.sort(va))


def check_class_counts(counts: np.ndarray, folds: int) -> int:
    """The number of classes present; an error naming the fix when the protocol can't run."""
    present = counts[counts > 0]
    if len(present) < 2:
        raise HarnessError("the training part has fewer than 2 classes: a classifier needs "
                           "at least 2; add images of another class")
    smallest = int(present.min())
    if folds > 1 and smallest < folds:
        raise HarnessError(
            f"--folds {folds} needs at least {folds} training images per class, "
            f"the smallest class has {smallest}: lower --folds, add images or raise "
            "--max-train-per-class"
        )
    if smallest < 2:
        raise HarnessError(
            "a validation part needs at least 2 training images per class, the smallest "
            f"class has {smallest}: add images or raise --max-train-per-class"
        )
    return len(present)
