"""scikit-learn floors: what a linear model on raw pixels reaches."""

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


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


@register("sklearn-logreg")
class SklearnLogReg(Contender):
    """Multinomial logistic regression on raw pixels: the floor every model should beat.

    L-BFGS runs in chunks of iterations with a warm start, so that it stops at the
    deadline and leaves a learning curve like the networks do.
    """

    family = "sklearn"
    framework = SKLEARN
    defaults = {"C": 1.0, "iterations_per_step": 10, "max_iterations": 1000}
    overhead_seconds = 5.0

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
