"""The scores every contender gets: the same code for all, from ``predict_proba``."""

from __future__ import annotations

import numpy as np

from harness.contenders.contract import check_proba

__all__ = ["check_proba", "score"]

TOP5_MIN_CLASSES = 20


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
