"""The scoring every contender gets: the same code for all, from ``predict_proba``."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

TOP5_MIN_CLASSES = 20


class Diverged(ValueError):
    """The model's outputs are NaN or infinite: training blew up (learning rate too high?)."""


def check_proba(proba: np.ndarray, n: int, num_classes: int) -> np.ndarray:
    """The contender's probabilities, validated: shape ``(n, classes)``, rows sum to 1."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape != (n, num_classes):
        raise ValueError(
            f"predict_proba returned shape {proba.shape}, expected ({n}, {num_classes})"
        )
    if not np.all(np.isfinite(proba)):
        raise Diverged("predict_proba returned NaN or infinite values")
    if np.any(proba < -1e-6) or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("predict_proba rows must be probabilities that sum to 1")
    return np.clip(proba, 0.0, 1.0)


def score(proba: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, float | None]:
    """Top-1, top-5 (20+ classes), macro-F1 and log-loss."""
    from sklearn.metrics import f1_score, log_loss

    proba = check_proba(proba, len(labels), num_classes)
    predicted = proba.argmax(axis=1)
    out: dict[str, float | None] = {
        "accuracy": float(np.mean(predicted == labels)),
        "top5_accuracy": None,
        "macro_f1": float(
            f1_score(labels, predicted, average="macro", labels=np.arange(num_classes),
                     zero_division=0)
        ),
        "log_loss": float(log_loss(labels, np.clip(proba, 1e-15, 1.0),
                                   labels=np.arange(num_classes))),
    }
    if num_classes >= TOP5_MIN_CLASSES:
        top5 = np.argsort(-proba, axis=1)[:, :5]
        out["top5_accuracy"] = float(np.mean((top5 == labels[:, None]).any(axis=1)))
    return out


def measure_inference(
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
