"""Inference timing: the same measurement for every contender, on the device it trained on."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def measure(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    *,
    warmup: int = 5,
    single_calls: int = 100,
    batch_size: int = 256,
    seconds: float = 10.0,
) -> dict[str, float]:
    """Single-image latency p50/p95 after warm-up, and throughput at a large batch.

    Every contender is measured by this same function on the device it trained on;
    ``seconds`` caps each of the two measurements.
    """
    n = len(images)
    for i in range(warmup):
        predict(images[i % n : i % n + 1])
    times: list[float] = []
    stop = time.perf_counter() + seconds / 2
    for i in range(single_calls):
        one = images[i % n : i % n + 1]
        t0 = time.perf_counter()
        predict(one)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > stop and len(times) >= 10:
            break
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
        "throughput_per_s": float(done / elapsed) if elapsed > 0 else float("nan"),
    }
