"""A real-image dataset available offline: patches of scikit-image's bundled photographs.

Each class is one photograph (a cat, a cup of coffee, a rocket, bricks, grass...);
training patches come from its top half and test patches from its bottom half, so
that no test pixel was seen in training. Real photographs are what pretrained weights
are for: the tests use them to show that real ImageNet weights learn faster than the
same backbone from random weights.
"""

from __future__ import annotations

import numpy as np

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "brick", "grass", "gravel",
          "immunohistochemistry")


def _photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return image[..., :3].astype(np.uint8)


def photo_patches(n_train: int, n_test_per_class: int = 20, size: int = 64,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n_train`` training patches (classes as even as can be) and ``n_test_per_class``
    test patches per photograph, uint8 ``size`` x ``size`` x 3, with their labels."""
    rng = np.random.default_rng(seed)
    per_class = [n_train // len(PHOTOS) + (i < n_train % len(PHOTOS))
                 for i in range(len(PHOTOS))]
    images = {"train": [], "test": []}
    labels = {"train": [], "test": []}
    for label, name in enumerate(PHOTOS):
        photo = _photo(name)
        half = photo.shape[0] // 2
        for part, rows, count in (("train", (0, half), per_class[label]),
                                  ("test", (half, photo.shape[0]), n_test_per_class)):
            top = rng.integers(rows[0], rows[1] - size, count)
            left = rng.integers(0, photo.shape[1] - size, count)
            images[part] += [photo[t:t + size, x:x + size] for t, x in zip(top, left,
                                                                           strict=True)]
            labels[part] += [label] * count
    return (np.stack(images["train"]), np.asarray(labels["train"]),
            np.stack(images["test"]), np.asarray(labels["test"]))
