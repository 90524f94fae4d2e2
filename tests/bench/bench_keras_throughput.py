"""Training throughput of the harness's Keras plumbing against a bare ``model.fit``.

    .venv/bin/python tests/bench/bench_keras_throughput.py [--model keras-cnn6]
        [--size 32 --channels 3 --train 5000 --val 1000] [--seconds 20 --repeats 3]

The same model (a contender's builder, freshly built and seeded for each run), the
same data and batch size, trained three ways, in turns so that a busy machine slows
all of them alike:

- ``bare``: ``model.fit(x, y, batch_size=..., epochs=...)`` on numpy arrays;
- ``bare+val``: the same with ``validation_data``, as one would write it by hand;
- ``harness``: :func:`baselines.keras_common.fit_within_budget` (tf.data pipeline,
  budget-sized schedule, deadline checks, per-epoch validation, best weights).

Throughput is training images per second of wall time after the graph is traced (the
first step for the harness, a first one-epoch fit for the bare loop), validation
included. A benchmark,
not a test: timings on a shared CPU are noisy, so it prints the median of the runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def synthetic(n: int, size: int, channels: int, classes: int, seed: int):
    from harness.data import Split

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 256, (n, size, size, channels)).astype(np.uint8)
    images[np.arange(n), labels % size, :, 0] = 255  # learnable, not trivially so
    return Split(images, labels, classes)


def build(name: str, shape, classes: int, seed: int):
    from baselines import keras_common as kc
    from harness.contenders import get

    keras = kc.import_keras(seed)
    cls = get(name)
    model = cls.build(keras, shape, classes, cls.defaults)
    kc.compile_model(keras, model, learning_rate=cls.defaults["learning_rate"])
    return keras, model, cls.defaults["batch_size"]


class Clock:
    """Keras callback factory: images/s from the end of the first (traced) step to the end."""

    def __init__(self, keras, batch_size: int) -> None:
        outer = self

        class _Callback(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if outer.start is None:  # the first step traced the graph
                    outer.start = time.perf_counter()
                else:
                    outer.batches += 1

            def on_train_end(self, logs=None):
                outer.end = time.perf_counter()

        self.batch_size, self.batches = batch_size, 0
        self.start: float | None = None
        self.end = 0.0
        self.callback = _Callback()

    def rate(self) -> float:
        return self.batches * self.batch_size / (self.end - self.start)


def run(way: str, args, train, val) -> float:
    from baselines import keras_common as kc
    from harness.core.budget import Budget

    keras, model, batch_size = build(args.model, train.images.shape[1:], train.num_classes, 0)
    clock = Clock(keras, batch_size)
    if way == "harness":
        kc.fit_within_budget(model, train, val, Budget(args.seconds), batch_size=batch_size,
                             base_lr=1e-3, callbacks=[clock.callback])
        return clock.rate()
    y = keras.utils.to_categorical(train.labels, train.num_classes)
    extra = {}
    if way == "bare+val":
        extra["validation_data"] = (val.images, keras.utils.to_categorical(val.labels,
                                                                            val.num_classes))
    model.fit(train.images, y, batch_size=batch_size, epochs=1, verbose=0, **extra)  # traces
    t0 = time.perf_counter()
    model.fit(train.images, y, batch_size=batch_size, epochs=1, verbose=0, **extra)
    epochs = max(2, round((args.seconds - 2) / (time.perf_counter() - t0)))  # same time
    clock.start = time.perf_counter()
    model.fit(train.images, y, batch_size=batch_size, epochs=epochs, verbose=0, **extra)
    # images, not batches: the last batch of each epoch is a partial one here
    return epochs * len(train) / (time.perf_counter() - clock.start)


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
    args = parser.parse_args()
    train = synthetic(args.train, args.size, args.channels, args.classes, 0)
    val = synthetic(args.val, args.size, args.channels, args.classes, 1)
    ways = ("bare", "bare+val", "harness")
    rates: dict[str, list[float]] = {w: [] for w in ways}
    for r in range(args.repeats):
        for way in ways:
            rates[way].append(run(way, args, train, val))
            print(f"run {r + 1}: {way:9s} {rates[way][-1]:8.0f} images/s", flush=True)
    base = statistics.median(rates["bare"])
    print(f"\n{args.model}, {args.train} images {args.size}x{args.size}x{args.channels}, "
          f"median of {args.repeats}:")
    for way in ways:
        median = statistics.median(rates[way])
        print(f"  {way:9s} {median:8.0f} images/s  ({median / base - 1:+.1%} vs bare)")


if __name__ == "__main__":
    main()
