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

from harness.contender import Contender, FitReport, register


class _Fault(Contender):
    family = "test"
    in_default_set = False
    overhead_seconds = 2.0

    def predict_proba(self, images):
        return np.full((len(images), self.num_classes), 1.0 / self.num_classes)

    def fit(self, train, val, budget, workdir):
        self.num_classes = train.num_classes
        self.misbehave(workdir)
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
    """Allocates (and touches) memory until something kills it."""

    def misbehave(self, workdir):
        hoard = []
        while True:
            hoard.append(np.ones(25 * 2**20, dtype=np.uint8))
            time.sleep(0.02)


@register("test-quick")
class Quick(_Fault):
    """Nearest class mean: finishes in a blink and scores well above chance."""

    def fit(self, train, val, budget, workdir):
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

    def fit(self, train, val, budget, workdir):
        (workdir.parent / "worker.pid").write_text(str(os.getpid()))
        while os.environ.get("HARNESS_TEST_SLEEP") and not budget.expired():
            time.sleep(0.05)
        return super().fit(train, val, budget, workdir)
