"""The contender contract: the few methods the harness calls, documented once.

A contender is a small class in ``baselines/`` (or in a plugin) registered under a
name (:mod:`harness.contenders.registry`)::

    @register("keras-shallow")
    class KerasShallow(Contender):
        family = "keras-cnn"          # its approach, as the leaderboard groups it
        framework = KERAS             # its Family: extra, modules, OOM, GPU probes

        def fit(self, train, val, budget, context): ...
        def predict_proba(self, images): ...

The harness scores every contender from ``predict_proba``; contenders never compute
their own metrics. Heavy libraries are imported inside the methods, never at module
level, so that listing contenders stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.contenders.family import CORE, Family
from harness.core.errors import Diverged, HarnessError

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from harness.core.budget import Budget
    from harness.core.context import JobContext
    from harness.data import Split


@dataclass(frozen=True)
class Epoch:
    """One point of the learning curve: where the contender stood after an epoch."""

    epoch: int
    elapsed_seconds: float
    train_loss: float | None = None
    train_accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None


@dataclass
class FitReport:
    """What ``fit`` says about its training; the harness times it independently."""

    history: list[Epoch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: training images processed (steps times batch size), where the contender counts
    #: them: with the training seconds, the images per second the row reports
    images_seen: int | None = None

    def best(self) -> Epoch | None:
        scored = [e for e in self.history if e.val_accuracy is not None]
        return max(scored, key=lambda e: e.val_accuracy) if scored else None


class Contender:
    """Base class of every contender. Subclasses implement the three methods below.

    Class attributes declare what the contender needs:

    - ``family``: the approach it belongs to (``sklearn``, ``keras-cnn``, ...), as the
      leaderboard shows it.
    - ``framework``: its :class:`~harness.contenders.family.Family` (the extra and
      modules it needs, how its out-of-memory errors look, its GPU memory peak).
    - ``requires``: importable modules it needs beyond its framework's; missing ones
      make the row ``skipped``, naming the framework's extra.
    - ``pretrained``: whether it needs pretrained weights.

    Which contenders a run gets when none is named is the lineups' business
    (:mod:`harness.contenders.lineups`), not the contenders'.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = "other"
    framework: ClassVar[Family] = CORE
    requires: ClassVar[tuple[str, ...]] = ()
    pretrained: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = {}
    #: typical seconds of setup plus evaluation, for the plan's wall-time estimate
    overhead_seconds: ClassVar[float] = 20.0
    #: backends of its family it cannot run on, each with the reason (a ``skipped``
    #: row there, and ``auto`` picks another)
    unsupported_backends: ClassVar[dict[str, str]] = {}
    #: its declared memory footprint, for the preflight (:mod:`harness.execution.memory`):
    #: resident MiB of its process before any image (interpreter, framework, model) ...
    memory_base_mb: ClassVar[float] = 200.0
    #: ... and bytes it holds per byte of its images at its input size (copies, float
    #: conversions, features)
    memory_per_byte: ClassVar[float] = 4.0

    def __init__(self, seed: int = 0, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise HarnessError(
                f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(self.defaults)) or 'none'}"
            )
        self.seed = seed
        self.params: dict[str, Any] = {**self.defaults, **params}

    @classmethod
    def input_side(cls, side: int, budget_seconds: float, gpus: int) -> int | None:
        """The short side, in pixels, it trains and predicts at, for images whose
        working size has short side ``side``, on this budget and these GPUs; ``None``
        (the default) takes the images as they come.

        Where it is smaller, the harness resizes train, validation and test to it before
        :meth:`prepare` (setup, off the clock): the size is the contender's, and its
        row's ``image_shape`` says it. A contender never gets images larger than the
        working size, and images of at most ``KEEP_SIDE`` px (the built-in datasets,
        small images of one's own) reach every contender as they are
        (:func:`trained_side`).
        """
        return None

    def fit(self, train: Split, val: Split, budget: Budget, context: JobContext) -> FitReport:
        """Train on ``train`` (tune or stop early on ``val``) and return by ``budget.deadline``.

        ``context`` says where to write (``context.work_dir``), which GPUs it has, where
        pretrained weights and caches are, and whether it may download: the contender's
        only configuration besides its parameters.
        """
        raise NotImplementedError

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, shape ``(n, classes)``, each row summing to 1.

        ``images`` is uint8, ``N x H x W x C``, as in :class:`harness.data.Split`.
        """
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Parameters, input size, backbone...; ``parameters`` counts all weights and
        ``trainable_parameters`` the trainable ones, where the contender knows them.
        ``backend``, ``precision`` and ``compiler``, where said, go to the row's
        :class:`~harness.core.jobs.Runtime`, and ``gpus_used`` to the row."""
        return {"params": dict(self.params)}

    def prepare(self, train: Split, val: Split, context: JobContext) -> None:
        """Optional work before the clock starts: heavy imports, weights, data conversion.

        The worker times it as setup (under the setup cap), not as training. It may
        raise :class:`~harness.core.errors.ContenderUnavailable` (missing weights, say)
        for a ``skipped`` row.
        """

    def save(self, path: Path) -> Path | None:
        """Write the fitted model under ``path`` (a directory); return the file or folder."""
        return None

    def restore(self, path: Path, num_classes: int, manifest: dict[str, Any]) -> None:
        """Load back what :meth:`save` wrote under ``path``, so that ``predict_proba``
        works again (``harness export-model``); ``manifest`` has the job's fields
        (``test_time_flip``, ``image_shape``...)."""
        raise HarnessError(f"{self.name} cannot load a saved model back yet")

    def explain(self, images: np.ndarray, path: Path) -> None:
        """Optionally write ``path`` (npz) explaining the predictions on ``images``.

        Called after evaluation while the model is in memory (the worker deletes it
        afterwards); the reports draw what is there. Keras contenders write Grad-CAM
        heatmaps and feature maps (:mod:`baselines.keras.explain`); others nothing.
        """

    @classmethod
    def weights_status(cls, context: JobContext) -> tuple[str, str]:
        """For a pretrained contender: ``("on disk" | "downloadable" | "missing", detail)``,
        the detail saying where they are, where from, or which file to put where.
        ``context`` gives the weights folder and whether the run is offline."""
        return ("on disk", "no pretrained weights needed") if not cls.pretrained else (
            "missing", "the contender does not say where its weights are")

    @classmethod
    def weights_files(cls, context: JobContext) -> list[WeightsFile]:
        """For a pretrained contender: each file (or folder) of weights it needs, where
        it comes from and where the run looks for it (``harness weights``)."""
        return []

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this contender cannot run here, with the fix; ``None`` when it can."""
        missing = cls.framework.missing(cls.requires)
        if not missing:
            return None
        extra = cls.framework.extra
        fix = f"pip install 'harness[{extra}]'" if extra else f"pip install {missing[0]}"
        return f"{', '.join(missing)} not installed: {fix}"


#: images whose short side is at most this reach every contender as they are: the sizes
#: every recipe was measured at (digits, MNIST, CIFAR). Above it, each contender's own:
#: Tiny-ImageNet's 64 px taken whole on 2 CPU cores at 30 s, scikit-learn's logistic
#: regression passed its hard limit and keras-fastnet ran 25 % over (make bench-scale)
KEEP_SIDE = 32


def trained_side(cls: type[Contender], side: int, budget_seconds: float,
                 gpus: int) -> int | None:
    """The short side ``cls`` trains at for images of short side ``side`` (``None``: as
    they are): its :meth:`Contender.input_side`, for images larger than ``KEEP_SIDE``."""
    if side <= KEEP_SIDE:
        return None
    own = cls.input_side(side, budget_seconds, gpus)
    return own if own and own < side else None


@dataclass(frozen=True)
class WeightsFile:
    """One pretrained weights file (or checkpoint folder) a contender needs.

    ``target`` is where a run looks for it (``--weights-dir`` or the library's cache);
    ``present`` whether it is there; ``fetch`` downloads it there (``mirror``: another
    base URL for the same files) and returns its path; ``note`` says what ``url`` is
    where it is not the file itself (a checkpoint built from a repository).
    """

    contender: str
    name: str
    url: str
    target: Path
    present: bool
    fetch: Callable[[str | None], Path] = field(repr=False, compare=False)
    note: str = ""


def check_proba(proba: np.ndarray, n: int, num_classes: int) -> np.ndarray:
    """The contender's probabilities, validated: shape ``(n, classes)``, rows sum to 1."""
    import numpy as np

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
