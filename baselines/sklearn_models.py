"""scikit-learn on raw pixels: the linear floor, and the strongest classical model on
small images (an RBF support-vector machine), each held to the budget."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from harness.contenders import Contender, Epoch, Family, FitReport, register
from harness.core.budget import Budget
from harness.core.context import JobContext
from harness.data import Split

#: scikit-learn: a core dependency, so nothing to install and nothing to probe
SKLEARN = Family("sklearn", modules=("sklearn",), packages=("scikit-learn",),
                 uses_gpus=False)


#: the side, in pixels, scikit-learn's models see larger images at: raw pixels of a
#: 224 px photo are 150,528 features, which a kernel or a linear model fits slowly and
#: no better (measured in ``make bench-scale``)
THUMBNAIL_SIDE = 32


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


class SklearnContender(Contender):
    """What the scikit-learn contenders share: small thumbnails of larger images."""

    family = "sklearn"
    framework = SKLEARN
    overhead_seconds = 5.0
    # measured (make bench-scale): 240-280 MiB on 1,000 to 10,000 images of 32 px;
    # the pixels as float32 (4 bytes each), the uint8 splits and the SVM's kernel cache
    memory_base_mb = 250.0
    memory_per_byte = 7.0

    @classmethod
    def input_side(cls, side: int, budget_seconds: float, gpus: int) -> int | None:
        return THUMBNAIL_SIDE


@register("sklearn-logreg")
class SklearnLogReg(SklearnContender):
    """Multinomial logistic regression on raw pixels: the floor every model should beat.

    L-BFGS runs in chunks of iterations with a warm start, so that it stops at the
    deadline and leaves a learning curve like the networks do.
    """

    defaults = {"C": 1.0, "iterations_per_step": 10, "max_iterations": 1000}

    def fit(self, train: Split, val: Split, budget: Budget, context: JobContext) -> FitReport:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        p = self.params
        self.model = LogisticRegression(
            C=p["C"], max_iter=p["iterations_per_step"], warm_start=True,
            random_state=self.seed,
        )
        x, xv = _flat(train.images), _flat(val.images)
        report = FitReport()
        best: tuple[float, Any] | None = None
        step_seconds = 0.0
        done = 0
        while done < p["max_iterations"]:
            if budget.remaining() < step_seconds * 1.2 and report.history:
                report.notes.append("stopped at the deadline")
                break
            t0 = time.monotonic()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.model.fit(x, train.labels)
            step_seconds = time.monotonic() - t0
            done += p["iterations_per_step"]
            proba = self.model.predict_proba(xv)
            val_acc = float(np.mean(proba.argmax(1) == val.labels))
            picked = np.clip(proba[np.arange(len(xv)), val.labels], 1e-15, 1)
            val_loss = float(-np.mean(np.log(picked)))
            report.history.append(Epoch(len(report.history) + 1, budget.elapsed(),
                                        val_loss=val_loss, val_accuracy=val_acc))
            if best is None or val_acc > best[0]:
                best = (val_acc, (self.model.coef_.copy(), self.model.intercept_.copy()))
            if int(np.max(self.model.n_iter_)) < p["iterations_per_step"]:
                break  # converged
        if best is not None:
            self.model.coef_, self.model.intercept_ = best[1]
        self.classes_ = self.model.classes_
        self.num_classes = train.num_classes
        return report

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        proba = self.model.predict_proba(_flat(images))
        if len(self.classes_) == self.num_classes:
            return proba
        full = np.zeros((len(images), self.num_classes))
        full[:, self.classes_] = proba
        return full

    def describe(self) -> dict[str, Any]:
        model = getattr(self, "model", None)
        n = int(model.coef_.size + model.intercept_.size) if model is not None else None
        return {"params": dict(self.params), "parameters": n, "trainable_parameters": n,
                "input": "raw pixels / 255"}

    def save(self, path: Path) -> Path | None:
        import pickle

        path.mkdir(parents=True, exist_ok=True)
        target = path / "model.pkl"
        target.write_bytes(pickle.dumps(self.model))
        return target

    def restore(self, path: Path, num_classes: int, manifest: dict[str, Any]) -> None:
        import pickle

        self.model = pickle.loads((path / "model.pkl").read_bytes())
        self.classes_, self.num_classes = self.model.classes_, num_classes


#: an SVM's fit grows about with the square of its images: the next, larger subsample
#: is started only if the last fit's seconds, scaled by that square, times this margin
#: still fit
SVC_GROWTH = 1.2


@register("sklearn-svc")
class SklearnSVC(SklearnContender):
    """An RBF support-vector machine on raw pixels (scikit-learn's ``SVC()`` defaults).

    On small images it beats every linear model and many a CNN in seconds (digits: 98.9 %
    in under a second). Its fit cannot stop halfway, and its cost grows about with the
    square of the images: it fits on a growing subsample (1,000 images, then doubling)
    while the next fit, predicted from the last, ends before the deadline, and keeps the
    fit that scored best on validation. Probabilities are a softmax of its one-vs-rest
    decision values with a temperature fitted on validation (Platt scaling would cost
    five more fits).
    """

    defaults = {"C": 1.0, "gamma": "scale", "start": 1000}

    def fit(self, train: Split, val: Split, budget: Budget, context: JobContext) -> FitReport:
        from sklearn.svm import SVC

        p = self.params
        x, xv = _flat(train.images), _flat(val.images)
        order = np.random.default_rng(self.seed).permutation(len(train))
        report = FitReport()
        n, seconds, best = min(len(train), p["start"]), 0.0, None
        report.images_seen = 0
        while True:
            part = order[:n]
            if len(np.unique(train.labels[part])) < 2:  # an SVM needs two classes
                n = min(len(train), 2 * n)
                continue
            started = time.monotonic()
            model = SVC(C=p["C"], gamma=p["gamma"], decision_function_shape="ovr",
                        random_state=self.seed).fit(x[part], train.labels[part])
            val_scores = _decisions(model, xv)
            seconds = time.monotonic() - started
            report.images_seen += n
            val_acc = float(np.mean(model.classes_[val_scores.argmax(1)] == val.labels))
            report.history.append(Epoch(len(report.history) + 1, budget.elapsed(),
                                        val_accuracy=val_acc))
            if best is None or val_acc >= best[0]:
                best = (val_acc, model, val_scores, n)
            if n == len(train):
                break
            grown = min(len(train), 2 * n)
            if budget.remaining() < SVC_GROWTH * (grown / n) ** 2 * seconds:
                report.notes.append(f"fitted on {best[3]} of {len(train)} training images: "
                                    "a larger fit would not end before the deadline")
                break
            n = grown
        _, self.model, val_scores, used = best
        self.images_used = used
        self.num_classes = train.num_classes
        self.temperature = _temperature(val_scores, np.searchsorted(self.model.classes_,
                                                                    val.labels),
                                        np.isin(val.labels, self.model.classes_))
        return report

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        proba = _softmax(_decisions(self.model, _flat(images)) / self.temperature)
        full = np.zeros((len(images), self.num_classes))
        full[:, self.model.classes_] = proba
        return full

    def describe(self) -> dict[str, Any]:
        model = getattr(self, "model", None)
        return {"params": dict(self.params), "input": "raw pixels / 255",
                "parameters": int(model.support_vectors_.size + model.dual_coef_.size)
                if model is not None else None,
                "support_vectors": len(model.support_) if model is not None else None,
                "images_fitted": getattr(self, "images_used", None),
                "temperature": getattr(self, "temperature", None)}

    def save(self, path: Path) -> Path | None:
        import pickle

        path.mkdir(parents=True, exist_ok=True)
        target = path / "model.pkl"
        target.write_bytes(pickle.dumps({"svc": self.model, "temperature": self.temperature}))
        return target

    def restore(self, path: Path, num_classes: int, manifest: dict[str, Any]) -> None:
        import pickle

        saved = pickle.loads((path / "model.pkl").read_bytes())
        self.model, self.temperature = saved["svc"], saved["temperature"]
        self.num_classes = num_classes


def _decisions(model, x: np.ndarray) -> np.ndarray:
    """One-vs-rest decision values, one column per class the model saw."""
    scores = model.decision_function(x)
    return np.stack([-scores, scores], axis=1) if scores.ndim == 1 else scores


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _temperature(scores: np.ndarray, columns: np.ndarray, known: np.ndarray) -> float:
    """The softmax temperature that minimises the validation log-loss (a grid)."""
    if not known.any():
        return 1.0
    rows = np.flatnonzero(known)
    grid = np.logspace(-2, 1.5, 36)
    losses = [-np.mean(np.log(_softmax(scores[rows] / t)[np.arange(len(rows)),
                                                          columns[rows]] + 1e-12))
              for t in grid]
    return float(grid[int(np.argmin(losses))])
