"""Inference cost of each transfer backbone on this CPU.

``python tests/bench/bench_keras_transfer.py``: per backbone, the whole transfer
model at 224x224 (stem, backbone, a 10-class head): parameters, single-image latency
p50/p95 and throughput, both from
``harness.scoring.inference.measure`` as the leaderboard measures every contender, and
the time of one batch-32 inference step, the unit of the Keras applications table's
CPU column. Weights are random (speed does not depend on their values), so no
download. Not collected by pytest; no timed test anywhere.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

#: the Keras applications table (keras.io/api/applications), "Time (ms) per inference
#: step (CPU)", batch 32, on their machine
PUBLISHED_MS = {"mobilenet": 22.6, "nasnetmobile": 27.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seconds", type=float, default=6.0, help="cap per measurement")
    parser.add_argument("--backbones", default="all")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    from baselines import keras as kc
    from baselines.keras.transfer import BACKBONES, build_backbone
    from harness.scoring.inference import measure as measure_inference

    keras = kc.import_keras(0)
    keys = list(BACKBONES) if args.backbones == "all" else args.backbones.split(",")
    size = args.size
    images = np.random.default_rng(0).integers(0, 256, (64, size, size, 3), dtype=np.uint8)
    print(f"CPU threads: {os.cpu_count()}, TensorFlow {tf.__version__}, input {size}x{size}")
    print(f"{'backbone':18s} {'params':>11s} {'p50 ms':>8s} {'p95 ms':>8s} {'img/s':>7s} "
          f"{'b32 step ms':>12s} {'published':>10s}")
    for key in keys:
        spec = BACKBONES[key]
        backbone = build_backbone(keras, spec, size, None)
        inputs, x = kc.pretrained_stem(keras, (size, size, 3), (size, size), spec.scale)
        out = keras.layers.Dense(10, activation="softmax")(backbone(x, training=False))
        model = keras.Model(inputs, out)

        def predict(batch, model=model):
            return kc.predict_in_batches(model, batch, batch_size=32)

        got = measure_inference(predict, images, batch_size=32, seconds=args.seconds)
        batch = images[:32]
        model(batch, training=False)
        steps = []
        stop = time.perf_counter() + args.seconds / 2
        while len(steps) < 3 or (time.perf_counter() < stop and len(steps) < 20):
            t0 = time.perf_counter()
            model(batch, training=False)
            steps.append(time.perf_counter() - t0)
        published = PUBLISHED_MS.get(key)
        print(f"{key:18s} {model.count_params():>11,d} {got['latency_p50_ms']:>8.1f} "
              f"{got['latency_p95_ms']:>8.1f} {got['throughput_per_s']:>7.1f} "
              f"{1000 * statistics.median(steps):>12.1f} "
              f"{f'{published} ms' if published else '-':>10s}", flush=True)
        del model, backbone
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
