"""Training throughput of the backend-neutral input pipeline against the old ``tf.data`` one.

    .venv/bin/python tests/bench/bench_keras_throughput.py [--model keras-cnn6]
        [--size 32 --channels 3 --train 5000 --val 1000] [--seconds 20 --repeats 3]
        [--backends tensorflow,jax,torch]

The same model (a contender's builder, freshly built and seeded for each run), the
same data, batch size and augmentation (the contender's own translation), trained by
:func:`baselines.keras_common.fit_within_budget` (budget-sized schedule, deadline
checks, per-epoch validation, best weights) with one of two input pipelines:

- ``tf.data``: the pipeline the harness had before it ran on every Keras backend
  (kept below, verbatim but for its name): cache, shuffle, repeat, batch, augment
  and one-hot in ``tf.data``, prefetched; TensorFlow backend only;
- ``numpy``: today's :func:`baselines.keras_common.make_batches`, a Keras
  ``PyDataset`` of NumPy batches, on each backend asked for.

Each run is its own process (a Keras backend is chosen once per process), the ways
taken in turns so that a busy machine slows all of them alike. Throughput is training
images per second of wall time after the first (traced) step, validation included.
A benchmark, not a test: it prints the median of the runs and the ratio of each way
to ``tf.data`` on TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def synthetic(n: int, size: int, channels: int, classes: int, seed: int):
    from harness.data import Split

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 256, (n, size, size, channels)).astype(np.uint8)
    images[np.arange(n), labels % size, :, 0] = 255  # learnable, not trivially so
    return Split(images, labels, classes)


def tf_data_pipeline(split, batch_size: int, *, training: bool, augment, seed: int = 0,
                     flip_switch=None):
    """The old ``make_dataset``: tf.data, cache, shuffle, batch, augment, one-hot, prefetch."""
    import tensorflow as tf

    num_classes = split.num_classes
    ds = tf.data.Dataset.from_tensor_slices((split.images, split.labels)).cache()
    if training:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=training, num_parallel_calls=tf.data.AUTOTUNE)
    pad = augment.translate
    height, width = split.images.shape[1:3]

    def transform(images, labels):
        if training and pad:
            padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
            shape = tf.stack([tf.shape(images)[0], height, width, tf.shape(images)[3]])
            images = tf.image.random_crop(padded, shape, seed=seed)
        return images, tf.one_hot(labels, num_classes)

    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def child(args) -> None:
    """One run in this process: print ``{"rate": images/s}`` as the last line."""
    from baselines import keras_common as kc
    from harness.contenders import get
    from harness.core.budget import Budget

    train = synthetic(args.train, args.size, args.channels, args.classes, 0)
    val = synthetic(args.val, args.size, args.channels, args.classes, 1)
    keras = kc.import_keras(0)
    cls = get(args.model)
    model = cls.build(keras, train.images.shape[1:], train.num_classes, cls.defaults)
    kc.compile_model(keras, model, learning_rate=cls.defaults["learning_rate"])
    batch_size = cls.defaults["batch_size"]
    state = {"start": None, "batches": 0, "end": 0.0}

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if state["start"] is None:  # the first step traced the graph
                state["start"] = time.perf_counter()
            else:
                state["batches"] += 1

        def on_train_end(self, logs=None):
            state["end"] = time.perf_counter()

    if args.way == "tf.data":
        kc.make_batches = tf_data_pipeline  # the only difference between the two ways
    kc.fit_within_budget(model, train, val, Budget(args.seconds), batch_size=batch_size,
                         base_lr=cls.defaults["learning_rate"], callbacks=[Clock()],
                         augment=kc.Augment(False, cls.defaults.get("translate", 0)))
    rate = state["batches"] * batch_size / (state["end"] - state["start"])
    print(json.dumps({"rate": rate}))


def run_child(args, backend: str, way: str) -> float:
    command = [sys.executable, __file__, "--child", "--way", way, "--model", args.model,
               *(f"--{k}={getattr(args, k)}" for k in ("size", "channels", "classes", "train",
                                                       "val", "seconds"))]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"{backend}/{way} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])["rate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="keras-cnn6")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--val", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--way", default="numpy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    ways = [("tensorflow", "tf.data")] + [(b, "numpy") for b in args.backends.split(",")]
    rates: dict[tuple[str, str], list[float]] = {w: [] for w in ways}
    for r in range(args.repeats):
        for backend, way in ways:
            rates[(backend, way)].append(run_child(args, backend, way))
            print(f"run {r + 1}: {backend:10s} {way:8s} {rates[(backend, way)][-1]:8.0f} "
                  "images/s", flush=True)
    base = statistics.median(rates[ways[0]])
    print(f"\n{args.model}, {args.train} images {args.size}x{args.size}x{args.channels}, "
          f"{args.seconds:g} s each, median of {args.repeats}:")
    for backend, way in ways:
        median = statistics.median(rates[(backend, way)])
        print(f"  {backend:10s} {way:8s} {median:8.0f} images/s  "
              f"ratio to tf.data on tensorflow {median / base:.3f}")


if __name__ == "__main__":
    main()
