"""Inference timing: the same measurement for every contender, on the device it trained on.

Every contender is timed by :func:`measure` from the same in-memory uint8 test images
to probabilities (its ``predict_proba``): what a contender does on the way (resizing,
normalising, batching) is part of its time, and none encodes images to files or bytes
(a test checks it).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def measure(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    *,
    warmup: int = 5,
    single_calls: int = 10_000,
    batch_size: int = 256,
    seconds: float = 10.0,
) -> dict[str, float]:
    """Single-image latency, and throughput at a large batch.

    - ``latency_mean_ms`` (DAWNBench's measure): the mean time to classify the test
      set one image at a time, in order, after ``warmup`` calls; over the whole test set
      where it fits in half of ``seconds`` (at least 10 images, at most
      ``single_calls``), ``latency_images`` says over how many.
    - ``latency_p50_ms``/``latency_p95_ms``: percentiles of the same calls.
    - ``throughput_per_s``: images per second at ``batch_size``, in the other half.
    """
    n = len(images)
    for i in range(warmup):
        predict(images[i % n : i % n + 1])
    times: list[float] = []
    stop = time.perf_counter() + seconds / 2
    for i in range(min(n, single_calls)):
        one = images[i : i + 1]
        t0 = time.perf_counter()
        predict(one)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > stop and len(times) >= 10:
            break
    while len(times) < 10:  # a test set of fewer than 10 images: go round again
        one = images[len(times) % n : len(times) % n + 1]
        t0 = time.perf_counter()
        predict(one)
        times.append(time.perf_counter() - t0)
    batch = np.resize(images, (batch_size, *images.shape[1:]))
    predict(batch)  # warm-up at this batch size
    done, elapsed = 0, 0.0
    stop = time.perf_counter() + seconds / 2
    while done < 3 * batch_size or (elapsed < 1.0 and time.perf_counter() < stop):
        t0 = time.perf_counter()
        predict(batch)
        elapsed += time.perf_counter() - t0
        done += batch_size
        if time.perf_counter() > stop:
            break
    ms = np.asarray(times) * 1000
    return {
        "latency_p50_ms": float(np.percentile(ms, 50)),
        "latency_p95_ms": float(np.percentile(ms, 95)),
        "latency_mean_ms": float(ms.mean()),
        "latency_images": len(ms),
        "throughput_per_s": float(done / elapsed) if elapsed > 0 else float("nan"),
    }


#: image encoders a prediction must not call: the harness times every contender from
#: the same in-memory arrays, and encoding them (PNG bytes, files) is work the others
#: do not do. ``(module, attribute path)``, watched where the module is loaded.
ENCODERS = (
    ("PIL.Image", "Image.save"),
    ("cv2", "imencode"),
    ("cv2", "imwrite"),
    ("torchvision.io", "encode_png"),
    ("torchvision.io", "encode_jpeg"),
    ("tensorflow", "io.encode_png"),
    ("tensorflow", "io.encode_jpeg"),
)


@contextlib.contextmanager
def encoders_watched():
    """Within ``with encoders_watched() as called:``, every :data:`ENCODERS` call is
    recorded in ``called`` (and still done)."""
    called: list[str] = []
    undo: list[tuple[Any, str, Any]] = []
    for module, path in ENCODERS:
        owner = sys.modules.get(module)
        *parents, attr = path.split(".")
        for part in parents:
            owner = getattr(owner, part, None)
        original = getattr(owner, attr, None) if owner is not None else None
        if original is None:
            continue

        def spy(*args, _original=original, _name=f"{module}.{path}", **kwargs):
            called.append(_name)
            return _original(*args, **kwargs)

        setattr(owner, attr, spy)
        undo.append((owner, attr, original))
    try:
        yield called
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)
