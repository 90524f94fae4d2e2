"""What the report pictures need from a fitted model, saved before the model is gone.

The worker deletes models unless ``--keep-models``, so the few things the pages show
about a model (confident correct and wrong test predictions; for Keras, Grad-CAM and
feature maps) are saved in the job folder while it is still in memory. Raw arrays,
not figures: the worker stays free of matplotlib and the leaderboard re-renders them
at will. Nothing here imports TensorFlow: a contender fills ``explain.npz`` itself
through :meth:`harness.contenders.Contender.explain`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.core.context import EXAMPLES_FILE, EXPLAIN_FILE

if TYPE_CHECKING:
    from harness.contenders import Contender

PER_KIND = 8  # correct and wrong examples each, for the prediction grids
EXPLAINED = 6  # test images given to Grad-CAM


def pick_examples(proba: np.ndarray, labels: np.ndarray, per_kind: int = PER_KIND,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of up to ``per_kind`` correct and ``per_kind`` wrong test predictions.

    Wrong ones are the most confident mistakes (the instructive ones); correct ones a
    random draw, since the most confident correct predictions all look alike.
    """
    pred = proba.argmax(1)
    conf = proba.max(1)
    wrong = np.flatnonzero(pred != labels)
    wrong = wrong[np.argsort(-conf[wrong], kind="stable")][:per_kind]
    right = np.flatnonzero(pred == labels)
    rng = np.random.default_rng(seed)
    right = np.sort(rng.choice(right, size=min(per_kind, len(right)), replace=False))
    return right, wrong


def write_examples(jobdir: Path, contender: Contender, images: np.ndarray, proba: np.ndarray,
                   labels: np.ndarray, seed: int = 0) -> None:
    """Save the example predictions, then let the contender explain a few of them."""
    right, wrong = pick_examples(proba, labels, seed=seed)
    chosen = np.concatenate([right, wrong]).astype(int)
    # half right, half wrong where possible: Grad-CAM on mistakes is the telling part
    half = EXPLAINED // 2
    few = [*right[:half], *wrong[:half], *right[half:], *wrong[half:]][:EXPLAINED]
    few = np.array(few, dtype=int)
    np.savez_compressed(
        jobdir / EXAMPLES_FILE, index=chosen, correct=np.isin(chosen, right),
        images=images[chosen], labels=labels[chosen], pred=proba[chosen].argmax(1),
        confidence=proba[chosen].max(1).astype(np.float32),
        explained=few, explained_labels=labels[few],
    )
    if len(few):
        contender.explain(images[few], jobdir / EXPLAIN_FILE)
