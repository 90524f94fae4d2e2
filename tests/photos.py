"""A real-image dataset available offline: patches of scikit-image's bundled photographs.

Each class is one photograph (a cat, a cup of coffee, a rocket, bricks, grass...);
training patches come from its top half and test patches from its bottom half, so
that no test pixel was seen in training. Real photographs are what pretrained weights
are for: the tests use them to show that real ImageNet weights learn faster than the
same backbone from random weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
                  seed: int = 0, photos: tuple[str, ...] = PHOTOS,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n_train`` training patches (classes as even as can be) and ``n_test_per_class``
    test patches per photograph, uint8 ``size`` x ``size`` x 3, with their labels."""
    rng = np.random.default_rng(seed)
    per_class = [n_train // len(photos) + (i < n_train % len(photos))
                 for i in range(len(photos))]
    images = {"train": [], "test": []}
    labels = {"train": [], "test": []}
    for label, name in enumerate(photos):
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


def write_folder(root: str | Path, n_train_per_class: int = 50, n_test_per_class: int = 25,
                 size: int = 32, photos: tuple[str, ...] = PHOTOS, seed: int = 0) -> Path:
    """The patches as a ``folder:`` dataset: ``root/{train,test}/<photograph>/NNNN.png``."""
    from PIL import Image

    root = Path(root)
    images, labels, test_images, test_labels = photo_patches(
        n_train_per_class * len(photos), n_test_per_class, size, seed, photos)
    for part, xs, ys in (("train", images, labels), ("test", test_images, test_labels)):
        for i, (image, label) in enumerate(zip(xs, ys, strict=True)):
            folder = root / part / photos[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:04d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Write patches of scikit-image's photographs as a folder: dataset "
                    "(train patches from the top half of each photograph, test patches "
                    "from the bottom half).")
    parser.add_argument("root", help="the folder to write (harness run --dataset folder:ROOT)")
    parser.add_argument("--train", type=int, default=50, help="training patches per class")
    parser.add_argument("--test", type=int, default=25, help="test patches per class")
    parser.add_argument("--size", type=int, default=32, help="patch size in pixels")
    parser.add_argument("--photos", default=",".join(PHOTOS),
                        help="scikit-image photographs, one class each")
    args = parser.parse_args()
    root = write_folder(args.root, args.train, args.test, args.size,
                        tuple(args.photos.split(",")))
    print(f"wrote {root}: {len(list(root.rglob('*.png')))} images")


if __name__ == "__main__":
    main()
