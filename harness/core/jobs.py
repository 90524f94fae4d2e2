"""Jobs (the unit of work), result rows (what a job produced) and their statuses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from harness.core.errors import ContenderUnavailable, Diverged, GpuMismatch, OutOfMemory


class Status(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    OOM = "oom"
    SKIPPED = "skipped"
    #: not the contender's fault (a lost node, a job that could not be started): tried
    #: again once, and never counted as a regression
    INFRA = "infra"


#: Job fields that are left out of its key while ``None`` (see :attr:`Job.key`)
_LATER_FIELDS = ("backend", "image_size")
#: fields renamed since keys and rows were first written, by their first names: a job
#: hashes them under that name (so that it keeps its key, and its stored rows stay its
#: own), and rows and job files written before are read under the new one
_FIRST_NAMES = {"backend": "keras_backend"}
_RENAMED = {"keras_backend": "backend", "jit_compile": "compiler"}


@dataclass(frozen=True)
class Job:
    """``(dataset, contender, fold, seed, budget)`` plus what changes the result."""

    dataset: str
    contender: str
    fold: int
    folds: int
    seed: int
    budget_seconds: float
    gpus: int = 0
    max_train_per_class: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: the family's backend where it has several (a framework its models run on);
    #: ``None``: the family's own choice
    backend: str | None = None
    #: ``--image-size``: every image decoded to this side, square; ``None``: the
    #: dataset's working size (:func:`harness.data.local.working_size`)
    image_size: int | None = None

    @property
    def key(self) -> str:
        """A stable hash: the same job always has the same key, on any machine.

        Fields added later count only when set, so a job that does not use them keeps
        the key it had before they existed (and its stored rows stay its own).
        """
        data = asdict(self)
        for name in _LATER_FIELDS:
            if data.get(name) is None:
                data.pop(name, None)
        for name, first in _FIRST_NAMES.items():
            if name in data:
                data[first] = data.pop(name)
        blob = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def label(self) -> str:
        fold = f" fold {self.fold + 1}/{self.folds}" if self.folds > 1 else ""
        on = f" [{self.backend}]" if self.backend else ""
        return f"{self.contender}{on} on {self.dataset}{fold} seed {self.seed}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        data = _renamed(data)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _renamed(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with fields written under an earlier name under today's."""
    if not any(old in data for old in _RENAMED):
        return data
    out = dict(data)
    for old, new in _RENAMED.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
    return out


@dataclass(frozen=True)
class Runtime:
    """How a model trained, as its family says in ``describe()``: the one place a
    family's own facts enter a row. Keras: its backend (tensorflow, jax, torch), dtype
    policy (float32, mixed_bfloat16, ...) and compiler (xla, torch.compile, off)."""

    backend: str | None = None
    precision: str | None = None
    compiler: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Runtime:
        data = _renamed(data or {})
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Result:
    """One row of the store and of the leaderboard's raw table."""

    job_key: str
    dataset: str
    contender: str
    family: str
    fold: int
    folds: int
    seed: int
    budget_seconds: float
    gpus: int
    status: Status
    message: str = ""
    run_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    max_train_per_class: int | None = None
    #: the job's ``--image-size`` (``None``: the dataset's working size); the size the
    #: model trained at is ``image_shape``
    image_size: int | None = None
    # accuracy, computed by the harness from predict_proba
    test_accuracy: float | None = None
    test_top5_accuracy: float | None = None
    test_macro_f1: float | None = None
    test_log_loss: float | None = None
    val_accuracy: float | None = None
    # time
    setup_seconds: float | None = None
    train_seconds: float | None = None
    eval_seconds: float | None = None
    time_to_best_seconds: float | None = None
    epochs: int | None = None
    # inference
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    throughput_per_s: float | None = None
    # size
    parameters: int | None = None
    model_bytes: int | None = None
    peak_rss_mb: float | None = None
    peak_gpu_mb: float | None = None
    # data
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    num_classes: int | None = None
    image_shape: list[int] | None = None
    description: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    traceback_tail: str = ""
    artifacts: str = ""
    started_at: str = ""
    finished_at: str = ""
    # how a model trained: the GPUs it really used, and what its family says of it
    gpus_used: int | None = None
    runtime: Runtime = field(default_factory=Runtime)
    #: DAWNBench's inference time: the mean time to classify the test set one image at
    #: a time (ms), over ``latency_images`` images
    latency_mean_ms: float | None = None
    latency_images: int | None = None
    #: ``parameters`` counts every weight, in every family; these are those that trained
    trainable_parameters: int | None = None
    #: the expected calibration error on the test split over ``test_ece_bins``
    #: equal-width confidence bins (:func:`harness.scoring.metrics.reliability`)
    test_ece: float | None = None
    test_ece_bins: int | None = None
    #: each class's test accuracy (its recall), by class name in class order; ``None``
    #: for a class without test images
    test_class_accuracy: dict[str, float | None] | None = None

    @property
    def over_budget(self) -> bool:
        """Training ran more than 5 % over the budget: the row is flagged."""
        return self.train_seconds is not None and self.train_seconds > 1.05 * self.budget_seconds

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """A row from :meth:`to_dict` (or as rows were written before: a family's facts
        as top-level fields). Every row is made here, :meth:`for_job`'s too."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = Status(values["status"])
        runtime = data.get("runtime")
        values["runtime"] = (runtime if isinstance(runtime, Runtime)
                             else Runtime.from_dict(runtime if isinstance(runtime, dict)
                                                    else data))
        return cls(**values)

    @classmethod
    def for_job(cls, job: Job, status: Status, message: str = "", family: str = "unknown",
                **extra: Any) -> Result:
        """The row of ``job``: its fields, then ``extra`` (any field of a row)."""
        return cls.from_dict({
            "job_key": job.key, "dataset": job.dataset, "contender": job.contender,
            "family": family, "fold": job.fold, "folds": job.folds, "seed": job.seed,
            "budget_seconds": job.budget_seconds, "gpus": job.gpus, "status": status,
            "message": message, "params": dict(job.params),
            "max_train_per_class": job.max_train_per_class, "image_size": job.image_size,
            "runtime": Runtime(backend=job.backend), **extra,
        })


def failure_status(exc: BaseException,
                   oom: Callable[[BaseException], bool] = lambda exc: False,
                   stage: str = "") -> tuple[Status, str]:
    """The status and message of a job that raised ``exc``: the one mapping.

    ``oom`` says whether a framework's own exception is out-of-memory (the families
    know; see :func:`harness.contenders.is_out_of_memory`).
    """
    if isinstance(exc, ContenderUnavailable):  # this machine lacks something: no failure
        return Status.SKIPPED, str(exc)[:500]
    if isinstance(exc, Diverged):  # say so first: the fix is the recipe
        return Status.ERROR, (f"diverged: {exc} after training; lower the learning rate "
                              "or clip gradients")
    where = f"{stage}: " if stage else ""
    if isinstance(exc, GpuMismatch):  # the message is the fix: no exception name
        return Status.ERROR, f"{where}{exc}"[:500]
    message = f"{where}{type(exc).__name__}: {exc}".splitlines()[0][:500]
    if isinstance(exc, OutOfMemory | MemoryError) or oom(exc):
        return Status.OOM, message
    return Status.ERROR, message
