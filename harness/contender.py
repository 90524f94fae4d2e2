"""The contender contract and the registry that names contenders.

A contender is a small class in ``baselines/`` (or in a module named by
``HARNESS_PLUGINS``) registered under a name::

    @register("keras-shallow")
    class KerasShallow(Contender):
        family = "keras-cnn"
        requires = ("tensorflow",)
        extra = "keras"

        def fit(self, train, val, budget, workdir): ...
        def predict_proba(self, images): ...

The harness scores every contender from ``predict_proba``; contenders never compute
their own metrics. Heavy libraries are imported inside the methods, never at module
level, so that listing contenders stays instant.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import HarnessError

if TYPE_CHECKING:
    import numpy as np

    from harness.budget import Budget
    from harness.data import Split


class ContenderUnavailable(Exception):
    """Raised from ``fit`` when the contender finds it cannot run here after all.

    For what ``unavailable()`` cannot know before the job starts, such as pretrained
    weights that are neither on disk nor downloadable. The worker records the row as
    ``skipped`` with this message, which must say what to install or which file to put
    where.
    """


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

    def best(self) -> Epoch | None:
        scored = [e for e in self.history if e.val_accuracy is not None]
        return max(scored, key=lambda e: e.val_accuracy) if scored else None


class Contender:
    """Base class of every contender. Subclasses implement the three methods below.

    Class attributes declare what the contender needs:

    - ``family``: the approach it belongs to (``sklearn``, ``keras-cnn``, ...).
    - ``requires``: importable module names; missing ones make the row ``skipped``.
    - ``extra``: the ``pip install 'harness[EXTRA]'`` that provides them.
    - ``pretrained``: whether it needs pretrained weights.
    - ``in_default_set``: run when ``--contenders`` is not given. Slow or
      specialised contenders set it to False and run when named.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = "other"
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    pretrained: ClassVar[bool] = False
    in_default_set: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {}
    #: typical seconds of setup plus evaluation, for the plan's wall-time estimate
    overhead_seconds: ClassVar[float] = 20.0

    def __init__(self, seed: int = 0, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise HarnessError(
                f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(self.defaults)) or 'none'}"
            )
        self.seed = seed
        self.params: dict[str, Any] = {**self.defaults, **params}

    def fit(self, train: Split, val: Split, budget: Budget, workdir: Path) -> FitReport:
        """Train on ``train`` (tune or stop early on ``val``) and return by ``budget.deadline``."""
        raise NotImplementedError

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, shape ``(n, classes)``, each row summing to 1.

        ``images`` is uint8, ``N x H x W x C``, as in :class:`harness.data.Split`.
        """
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Parameters, input size, backbone...; ``parameters`` counts trainable weights."""
        return {"params": dict(self.params)}

    def prepare(self, train: Split, val: Split, workdir: Path, gpus: int = 0) -> None:
        """Optional work before the clock starts: heavy imports, weights, data conversion.

        The worker times it as setup (under the setup cap), not as training. It may
        raise :class:`ContenderUnavailable` (missing weights, say) for a ``skipped`` row.
        """

    def save(self, path: Path) -> Path | None:
        """Write the fitted model under ``path`` (a directory); return the file or folder."""
        return None

    def explain(self, images: np.ndarray, path: Path) -> None:
        """Optionally write ``path`` (npz) explaining the predictions on ``images``.

        Called after evaluation while the model is in memory (the worker deletes it
        afterwards); the reports draw what is there. Keras contenders write Grad-CAM
        heatmaps and feature maps (:mod:`baselines.keras_explain`); others nothing.
        """

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this contender cannot run here, with the fix; ``None`` when it can."""
        missing = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if not missing:
            return None
        fix = f"pip install 'harness[{cls.extra}]'" if cls.extra else f"pip install {missing[0]}"
        return f"{', '.join(missing)} not installed: {fix}"


_REGISTRY: dict[str, type[Contender]] = {}
_LOADED = False


def register(name: str):
    """Class decorator: make a :class:`Contender` subclass known as ``name``."""

    def wrap(cls: type[Contender]) -> type[Contender]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise HarnessError(f"contender {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def load_plugins() -> None:
    """Import ``baselines`` and the modules named in ``HARNESS_PLUGINS`` (comma list)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    importlib.import_module("baselines")
    for module in filter(None, os.environ.get("HARNESS_PLUGINS", "").split(",")):
        try:
            importlib.import_module(module.strip())
        except ImportError as exc:
            raise HarnessError(
                f"cannot import plugin {module!r} from HARNESS_PLUGINS ({exc}); "
                "check the module name and PYTHONPATH"
            ) from exc


def get(name: str) -> type[Contender]:
    load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise HarnessError(
            f"unknown contender {name!r}; `harness contenders` lists them"
        ) from None


def list_contenders(pattern: str = "*") -> list[str]:
    """Registered names matching a comma list of names or wildcards (``keras-*``)."""
    load_plugins()
    names: list[str] = []
    for part in filter(None, (p.strip() for p in pattern.split(","))):
        if part in ("all", "*"):
            hits = sorted(_REGISTRY)
        elif any(c in part for c in "*?["):
            hits = sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, part))
        else:
            hits = [part] if part in _REGISTRY else []
        if not hits:
            raise HarnessError(
                f"unknown contender {part!r}; `harness contenders` lists them"
            )
        names += [h for h in hits if h not in names]
    return names


def default_contenders() -> list[str]:
    """The default set: every contender of the default set that can run here."""
    load_plugins()
    return [
        n for n, c in sorted(_REGISTRY.items()) if c.in_default_set and c.unavailable() is None
    ]


def create(name: str, seed: int = 0, **params: Any) -> Contender:
    """Instantiate ``name``; ``None`` keywords are dropped so each keeps its own defaults."""
    return get(name)(seed=seed, **{k: v for k, v in params.items() if v is not None})
