"""Images for AutoMM, which trains from a DataFrame of image paths: each array written
once as RGB PNG files (grey levels repeated on three channels, which every timm backbone
takes) under a folder named by its content hash, and reused by later jobs on the same
data (setup, not training)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.data import Split

if TYPE_CHECKING:
    import pandas as pd


def rgb(images: np.ndarray) -> np.ndarray:
    channels = images.shape[-1]
    if channels == 1:
        return np.repeat(images, 3, axis=-1)
    if channels in (3, 4):
        return images[..., :3]
    raise ValueError(f"cannot make RGB images of {channels} channels")


def png_paths(images: np.ndarray, root: Path) -> list[str]:
    """Paths of ``images`` as PNG files under ``root``, written once per content."""
    from PIL import Image

    digest = hashlib.sha256(str(images.shape).encode())
    digest.update(np.ascontiguousarray(images).data)
    folder = root / digest.hexdigest()[:24]
    paths = [str(folder / f"{i:07d}.png") for i in range(len(images))]
    if not folder.is_dir():
        # Written aside and renamed, so that a folder that exists is complete even when
        # two jobs on the same data race.
        tmp = root / f".{folder.name}.{os.getpid()}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(rgb(images)):
            Image.fromarray(image).save(tmp / f"{i:07d}.png", compress_level=1)
        try:
            tmp.rename(folder)
        except OSError:  # another job got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return paths


def frame(split: Split, root: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"image": png_paths(split.images, root), "label": split.labels})

