"""Contenders made for the tests: each misbehaves in one way the runner must survive.

Loaded in the runner and in its workers through ``HARNESS_PLUGINS=fault_contenders``
with this folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from baselines.keras import KERAS
from harness.contenders import Contender, FitReport, register


class _Fault(Contender):
    family = "test"
    overhead_seconds = 2.0

    def predict_proba(self, images):
        return np.full((len(images), self.num_classes), 1.0 / self.num_classes)

    def fit(self, train, val, budget, context):
        self.num_classes = train.num_classes
        self.misbehave(context.work_dir)
        return FitReport()

    def misbehave(self, workdir: Path) -> None:
        pass


@register("test-raise")
class Raises(_Fault):
    def misbehave(self, workdir):
        raise ValueError("boom: the contender failed on purpose")


@register("test-abort")
class Aborts(_Fault):
    def misbehave(self, workdir):
        os.abort()


@register("test-hang")
class Hangs(_Fault):
    """Ignores SIGTERM, and leaves a child that would outlive it: the group must die."""

    def misbehave(self, workdir):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        (workdir / "child.pid").write_text(str(child.pid))
        while True:
            time.sleep(0.1)


@register("test-alloc")
class Allocates(_Fault):
    """Allocates (and touches) memory until something kills it: 100 MiB at a time, so
    that it is over a cap of hundreds of MiB within a second even on a busy machine (at
    25 MiB it once was still under 600 MiB when the 3 s hard limit came)."""

    def misbehave(self, workdir):
        hoard = []
        while True:
            hoard.append(np.ones(100 * 2**20, dtype=np.uint8))
            time.sleep(0.02)


@register("test-quick")
class Quick(_Fault):
    """Nearest class mean: finishes in a blink and scores well above chance."""

    def fit(self, train, val, budget, context):
        self.num_classes = train.num_classes
        x = train.images.reshape(len(train), -1).astype(np.float32)
        self.means = np.stack([x[train.labels == c].mean(0) for c in range(self.num_classes)])
        return FitReport()

    def predict_proba(self, images):
        x = images.reshape(len(images), -1).astype(np.float32)
        d = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)
        e = np.exp(-(d - d.min(1, keepdims=True)) / d.std())
        return e / e.sum(1, keepdims=True)


@register("test-sleep")
class Sleeps(Quick):
    """Like test-quick, but first sleeps until its deadline while HARNESS_TEST_SLEEP is set."""

    def fit(self, train, val, budget, context):
        (context.job_dir / "worker.pid").write_text(str(os.getpid()))
        while os.environ.get("HARNESS_TEST_SLEEP") and not budget.expired():
            time.sleep(0.05)
        return super().fit(train, val, budget, context)


@register("test-noisy")
class Noisy(Quick):
    """test-quick with noise on its probabilities and a made-up learning curve; it
    "explains" itself with arrays shaped like Grad-CAM's, so the reports' Keras
    figures are drawn without TensorFlow."""

    def fit(self, train, val, budget, context):
        from harness.contenders import Epoch

        super().fit(train, val, budget, context)
        self.rng = np.random.default_rng(self.seed + len(train))
        history = [Epoch(e, 0.1 * e * budget.seconds, 1.0 / e, 0.6 + 0.05 * e, 1.2 / e,
                         0.55 + 0.05 * e) for e in range(1, 6)]
        return FitReport(history=history)

    def predict_proba(self, images):
        p = super().predict_proba(images) + self.rng.uniform(0, 0.5, (len(images),
                                                                      self.num_classes))
        return p / p.sum(1, keepdims=True)

    def explain(self, images, path):
        h, w = images.shape[1:3]
        maps = self.rng.random((h, w, 4)).astype(np.float16)
        np.savez_compressed(path, images=images, gradcam=self.rng.random((len(images), 2, 2)),
                            pred=np.zeros(len(images), int), gradcam_layer=np.array("conv"),
                            features_0=maps, features_0_name=np.array("conv"),
                            notes=np.array(""))


@register("test-bloat")
class Bloats(_Fault):
    """Writes 1 GB to its workdir, 8 MB at a time: the artifact cap must stop it first."""

    def misbehave(self, workdir):
        chunk = b"\0" * (8 * 2**20)
        with open(workdir / "bloat.bin", "wb") as fh:
            for _ in range(128):
                fh.write(chunk)
                fh.flush()
                time.sleep(0.04)


@register("test-keras-diverge")
class KerasDiverges(_Fault):
    """A tiny linear Keras model with a learning rate of 1e12: its weights, then its
    outputs, become NaN within a few steps (a ReLU would die instead, staying finite)."""

    framework = KERAS

    def prepare(self, train, val, context):
        # TensorFlow's import is setup: a 2 s budget would not even cover it
        import keras  # noqa: F401

    def fit(self, train, val, budget, context):
        import keras

        from harness.contenders import Epoch

        self.num_classes = train.num_classes
        self.model = keras.Sequential([
            keras.Input(train.images.shape[1:]), keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(), keras.layers.Dense(16),
            keras.layers.Dense(self.num_classes, activation="softmax"),
        ])
        self.model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e12),
                           loss="sparse_categorical_crossentropy")
        history = []
        while not history or not budget.expired():  # at least one epoch
            loss = self.model.fit(train.images, train.labels, epochs=1, batch_size=16,
                                  verbose=0).history["loss"][-1]
            history.append(Epoch(len(history) + 1, budget.elapsed(), train_loss=float(loss)))
        return FitReport(history=history)

    def predict_proba(self, images):
        return self.model.predict(images, verbose=0)
