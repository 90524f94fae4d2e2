"""The datasets the harness knows by name, and the one way to load any of them.

Built-in datasets come from :mod:`harness.data.official`; ``folder:PATH`` and
``csv:FILE`` (the user's own images) from :mod:`harness.data.local`. Both are
imported inside the functions, so that ``harness --help`` stays free of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.errors import HarnessError

if TYPE_CHECKING:
    from harness.data.splits import Dataset, DatasetSpec

LOCAL_PREFIXES = ("folder:", "csv:")


def _builtin() -> dict[str, DatasetSpec]:
    from harness.data.official import SPECS

    return {s.name: s for s in SPECS}


def is_local(name: str) -> bool:
    """``folder:PATH`` or ``csv:FILE``: the user's own images."""
    return name.startswith(LOCAL_PREFIXES)


def dataset_specs() -> list[DatasetSpec]:
    """The registered datasets (not ``folder:``/``csv:``, which are made per path)."""
    specs = _builtin()
    return [specs[n] for n in sorted(specs)]


def get_spec(name: str, image_size: int | None = None) -> DatasetSpec:
    """The spec of a registered dataset, or of ``folder:PATH``/``csv:FILE`` (scans it);
    its image shape the working size (``image_size`` square where it is given)."""
    from dataclasses import replace

    if is_local(name):
        from harness.data import local

        return local.spec(name, image_size)
    specs = _builtin()
    try:
        spec = specs[name]
    except KeyError:
        known = ", ".join([*sorted(specs), "folder:PATH", "csv:FILE"])
        raise HarnessError(
            f"unknown dataset {name!r}; known: {known} (`harness datasets` lists them)"
        ) from None
    if image_size:
        spec = replace(spec, image_shape=(image_size, image_size, spec.image_shape[-1]))
    return spec


def load_dataset(name: str, data_dir: Path | None = None,
                 image_size: int | None = None) -> Dataset:
    """The dataset, from the cache when it is there, else downloaded/decoded and cached;
    with ``image_size``, its images at that size square (centre-cropped and resized)."""
    if is_local(name):
        from harness.data import local

        return local.load(name, data_dir, image_size)  # no spec: it reads every header
    dataset = get_spec(name).loader(data_dir)
    if not image_size:
        return dataset
    from dataclasses import replace

    from harness.data.formats import resize_images

    def resized(split):
        return replace(split, images=resize_images(split.images, (image_size, image_size)))

    return replace(dataset, train=resized(dataset.train), test=resized(dataset.test))


def prepare_dataset(name: str, data_dir: Path | None = None, *, folds: int = 1,
                    max_per_class: int | None = None, image_size: int | None = None
                    ) -> Dataset:
    """Load (download, decode, cache) once before any job starts, and check the protocol.

    Done in the CLI's process so that a download shows its progress bar and happens
    once, and so that a dataset too small for ``--folds`` fails before any job runs.
    """
    import numpy as np

    from harness.data.splits import check_class_counts

    # a built-in set is resized in each job (its own cache stays at its native size)
    dataset = load_dataset(name, data_dir, image_size if is_local(name) else None)
    counts = np.bincount(dataset.train.labels, minlength=dataset.num_classes)
    if max_per_class:
        counts = np.minimum(counts, max_per_class)  # what cap_per_class leaves
    check_class_counts(counts, folds)
    return dataset
