"""The scores every contender gets: the same code for all, from ``predict_proba``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.contenders.contract import check_proba

__all__ = ["ECE_BINS", "Reliability", "check_proba", "class_accuracy", "reliability",
           "score", "worst_class"]

TOP5_MIN_CLASSES = 20
#: equal-width confidence bins of the expected calibration error (Guo et al., 2017)
ECE_BINS = 15


def score(proba: np.ndarray, labels: np.ndarray, num_classes: int,
          class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Top-1, top-5 (20+ classes), macro-F1, log-loss, the expected calibration error
    over :data:`ECE_BINS` bins and the accuracy of each class (by name)."""
    from sklearn.metrics import f1_score, log_loss

    proba = check_proba(proba, len(labels), num_classes)
    labels = np.asarray(labels).astype(int)
    predicted = proba.argmax(axis=1)
    out: dict[str, Any] = {
        "accuracy": float(np.mean(predicted == labels)),
        "top5_accuracy": None,
        "macro_f1": float(
            f1_score(labels, predicted, average="macro", labels=np.arange(num_classes),
                     zero_division=0)
        ),
        "log_loss": float(log_loss(labels, np.clip(proba, 1e-15, 1.0),
                                   labels=np.arange(num_classes))),
        "ece": reliability(proba, labels).ece,
        "ece_bins": ECE_BINS,
        "class_accuracy": class_accuracy(labels, predicted, num_classes, class_names),
    }
    if num_classes >= TOP5_MIN_CLASSES:
        top5 = np.argsort(-proba, axis=1)[:, :5]
        out["top5_accuracy"] = float(np.mean((top5 == labels[:, None]).any(axis=1)))
    return out


def class_accuracy(labels: np.ndarray, predicted: np.ndarray, num_classes: int,
                   class_names: Sequence[str] | None = None) -> dict[str, float | None]:
    """Each class's accuracy (its recall: the share of its images predicted as it), by
    class name in class order; ``None`` for a class with no image to score."""
    labels, predicted = np.asarray(labels).astype(int), np.asarray(predicted).astype(int)
    names = [str(c) for c in class_names or ()]
    if len(names) != num_classes or len(set(names)) != num_classes:
        names = [str(i) for i in range(num_classes)]  # names that cannot key a dict
    support = np.bincount(labels, minlength=num_classes)
    right = np.bincount(labels[predicted == labels], minlength=num_classes)
    return {name: (round(float(right[i] / support[i]), 6) if support[i] else None)
            for i, name in enumerate(names)}


def worst_class(accuracy: dict[str, float | None] | None) -> tuple[str | None, float | None]:
    """The class of lowest accuracy and that accuracy (the first such class on a tie);
    ``(None, None)`` where no class was scored (a row from before they were)."""
    scored = [(a, i, name) for i, (name, a) in enumerate((accuracy or {}).items())
              if a is not None and a == a]
    if not scored:
        return None, None
    a, _, name = min(scored)
    return name, float(a)


@dataclass(frozen=True)
class Reliability:
    """Predictions binned by confidence (their top probability), as a reliability
    diagram draws them: bin ``m`` holds confidences in ``(edges[m], edges[m + 1]]``."""

    edges: np.ndarray       # bins + 1 edges from 0 to 1
    counts: np.ndarray      # images per bin
    accuracy: np.ndarray    # share right per bin (NaN where empty)
    confidence: np.ndarray  # mean confidence per bin (NaN where empty)

    @property
    def ece(self) -> float:
        """Σ_m |B_m| / n · |accuracy(B_m) − confidence(B_m)| over the non-empty bins."""
        n = self.counts.sum()
        full = self.counts > 0
        if not n:
            return float("nan")
        gaps = np.abs(self.accuracy[full] - self.confidence[full])
        return float(np.sum(self.counts[full] / n * gaps))


def reliability(proba: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> Reliability:
    """:class:`Reliability` of predictions ``proba`` (rows of probabilities) of ``labels``."""
    proba, labels = np.asarray(proba, dtype=np.float64), np.asarray(labels).astype(int)
    confidence = proba.max(axis=1)
    right = (proba.argmax(axis=1) == labels).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # right-closed bins: a confidence of exactly 0.6 with 5 bins is in (0.4, 0.6]
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(which, weights=right, minlength=bins) / counts
        conf = np.bincount(which, weights=confidence, minlength=bins) / counts
    return Reliability(edges, counts, acc, conf)
