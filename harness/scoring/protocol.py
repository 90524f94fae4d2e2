"""The evaluation protocol: run a contender on a split under a budget and measure it.

One function, :func:`evaluate`, does it for every caller: the worker (a job of a run,
local or on a Ray node) and the contract check (:mod:`harness.scoring.check`). It sets
the contender's family up (its switches, its backend), creates the contender, prepares
it (setup, off the clock), fits it under the budget, predicts the test and validation
splits, scores the probabilities, times inference (watching for image encoders on the
timed path), asks it to describe itself and saves it; every failure, whatever the
stage, becomes the :class:`Outcome`'s status and message. :func:`to_result` turns an
outcome into the store's :class:`~harness.core.jobs.Result`: the one place that does.
"""

from __future__ import annotations

import faulthandler
import os
import random
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from harness.core.context import HISTORY_FILE, MODEL_DIR, PREDICTIONS_FILE
from harness.core.errors import ContenderUnavailable, GpuMismatch, HarnessError
from harness.core.jobs import Job, Result, Runtime, Status, failure_status

if TYPE_CHECKING:
    import numpy as np

    from harness.contenders import Contender, Epoch
    from harness.core.context import JobContext
    from harness.data import Split


class ContractBroken(HarnessError):
    """A contender returned something the contract does not allow (the message says what)."""


@dataclass(frozen=True)
class Data:
    """The three splits a contender meets, and the dataset's class names."""

    train: Split
    val: Split
    test: Split
    class_names: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return self.test.num_classes


@dataclass(frozen=True)
class Outcome:
    """What :func:`evaluate` measured of one contender, typed; also on failure (then the
    fields of the stages it did not reach are ``None``)."""

    status: Status = Status.OK
    message: str = ""
    #: the stage a failure happened in: setup, fit or evaluation
    stage: str = "setup"
    traceback_tail: str = ""
    family: str | None = None
    #: what the family says of how the model trained (backend, precision, compiler)
    runtime: Runtime = field(default_factory=Runtime)
    # the data
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    num_classes: int | None = None
    image_shape: list[int] | None = None
    # time
    setup_seconds: float | None = None
    train_seconds: float | None = None
    eval_seconds: float | None = None
    time_to_best_seconds: float | None = None
    epochs: int | None = None
    history: tuple[Epoch, ...] = ()
    # scores, from predict_proba: test_accuracy, test_macro_f1, ... and val_accuracy
    scores: dict[str, Any] = field(default_factory=dict)
    # inference: latency_p50_ms, latency_mean_ms, throughput_per_s, ...
    timing: dict[str, Any] = field(default_factory=dict)
    #: image encoders the timed path called (:data:`harness.scoring.inference.ENCODERS`)
    encoders_called: tuple[str, ...] = ()
    # the model
    description: dict[str, Any] = field(default_factory=dict)
    parameters: int | None = None
    trainable_parameters: int | None = None
    gpus_used: int | None = None
    saved: Path | None = None
    model_bytes: int | None = None
    #: the test probabilities (not part of a row)
    proba: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


def _tree_bytes(path: Path | None) -> int | None:
    if path is None or not path.exists():
        return None
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _write_history(path: Path, history: tuple[Epoch, ...]) -> None:
    import csv

    from harness.contenders import Epoch

    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(Epoch)])
        writer.writeheader()
        writer.writerows(asdict(e) for e in history)


def choose_backend(cls: type[Contender], wanted: str | None, gpus: int = 0) -> str | None:
    """Set the family's backend variable to ``wanted`` (or the first installed backend
    the contender runs on), before the framework is first imported.

    A backend that is not installed here, or that the contender cannot run on, raises
    :class:`ContenderUnavailable` naming the fix (a ``skipped`` row).
    """
    family = cls.framework
    if not family.backend_variable:
        return None
    installed = family.installed_backends(gpus)
    usable = [b for b in installed if b not in cls.unsupported_backends]
    backend = wanted or (usable[0] if usable else None)
    if backend is None:
        return None  # the family's own modules are missing: its check says so
    if backend in cls.unsupported_backends:
        others = ", ".join(b for b in family.backends if b not in cls.unsupported_backends)
        raise ContenderUnavailable(f"{cls.unsupported_backends[backend]}: --keras-backend "
                                   f"{others or 'another backend'}")
    if backend not in installed:
        module = family.backend_modules.get(backend, backend)
        others = f"; installed here: {', '.join(installed)}" if installed else ""
        raise ContenderUnavailable(
            f"the {backend} backend is not installed ({module} cannot be imported): "
            f"pip install 'harness[{family.extra}]'{others}")
    os.environ[family.backend_variable] = backend
    return backend


def at_input_side(splits: Data, cls: type[Contender], job: Job) -> Data:
    """``splits`` at the size the contender trains at for the job's budget and GPUs
    (:meth:`~harness.contenders.Contender.input_side`), the working size's aspect kept."""
    from harness.contenders import trained_side
    from harness.data.formats import resize_images

    height, width = splits.train.images.shape[1:3]
    side = trained_side(cls, min(height, width), job.budget_seconds, job.gpus)
    if side is None:
        return splits
    scale = side / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))

    def resized(split: Split) -> Split:
        return replace(split, images=resize_images(split.images, size))

    return replace(splits, train=resized(splits.train), val=resized(splits.val),
                   test=resized(splits.test))


def evaluate(job: Job, data: Callable[[], Data], context: JobContext, *,
             phase: Callable[[str], None] = lambda name: None,
             outputs: Path | None = None, pictures: bool = True,
             timing: Mapping[str, Any] | None = MappingProxyType({})) -> Outcome:
    """Run ``job``'s contender on ``data()`` under ``job``'s budget; measure it.

    ``data`` is called in setup, after the family's switches are set (loading may
    import its libraries). ``phase`` is told ``setup``, ``train`` and ``eval`` as each
    begins. Where ``outputs`` is a folder, the learning curve, the test predictions, the
    report's example pictures (``pictures``) and the saved model go there.
    ``timing``: keywords for the inference timing (:func:`harness.scoring.inference.measure`);
    ``None`` measures nothing, but still runs the timed path once under the watch for
    image encoders.
    """
    import numpy as np

    from harness.contenders import FitReport, create, get, is_out_of_memory, load_plugins
    from harness.core.budget import Budget
    from harness.scoring import inference, metrics

    found: dict[str, Any] = {}
    stage = "setup"
    clock = time.monotonic()
    try:
        phase("setup")
        random.seed(job.seed)
        np.random.seed(job.seed)
        load_plugins()
        cls = get(job.contender)
        found["family"] = cls.family
        for name, value in cls.framework.environment:  # before its modules are imported
            os.environ.setdefault(name, value)
        backend = choose_backend(cls, job.backend, job.gpus)
        found["runtime"] = Runtime(backend=backend)
        if context.offline:  # the Hugging Face libraries read their own switch
            os.environ["HF_HUB_OFFLINE"] = "1"
        splits = at_input_side(data(), cls, job)
        train, val, test = splits.train, splits.val, splits.test
        found.update(n_train=len(train), n_val=len(val), n_test=len(test),
                     num_classes=splits.num_classes, image_shape=list(train.images.shape[1:]))
        contender = create(job.contender, seed=job.seed, **job.params)
        if job.gpus:  # the GPU guard: before the clock starts, never a silent CPU run
            problem = cls.framework.check_gpus(job.gpus)
            if problem:
                raise GpuMismatch(problem)
        context.work_dir.mkdir(parents=True, exist_ok=True)
        contender.prepare(train, val, context)
        found["setup_seconds"] = time.monotonic() - clock

        stage = "fit"
        phase("train")
        budget = Budget(job.budget_seconds, gpus=job.gpus)
        # a fit still running well past its deadline leaves every thread's stack in the
        # log: where a contender overruns its budget, the log says where
        faulthandler.dump_traceback_later(job.budget_seconds * 1.05 + 5, exit=False)
        try:
            report = contender.fit(train, val, budget, context)
        finally:
            faulthandler.cancel_dump_traceback_later()
        found["train_seconds"] = budget.elapsed()
        if not isinstance(report, FitReport):
            raise ContractBroken(f"fit must return a FitReport, not {type(report).__name__}")
        best = report.best()
        found.update(time_to_best_seconds=best.elapsed_seconds if best else None,
                     epochs=len(report.history) or None, history=tuple(report.history))
        if report.notes:
            found["message"] = "; ".join(report.notes)
        if outputs is not None:
            _write_history(outputs / HISTORY_FILE, found["history"])

        stage = "evaluation"
        phase("eval")
        clock = time.monotonic()
        proba = metrics.check_proba(contender.predict_proba(test.images), len(test),
                                    splits.num_classes)
        found["proba"] = proba
        scores = metrics.score(proba, test.labels, splits.num_classes,
                               splits.class_names or None)
        val_scores = metrics.score(contender.predict_proba(val.images), val.labels,
                                   splits.num_classes)
        found["scores"] = {**{f"test_{k}": v for k, v in scores.items()},
                           "val_accuracy": val_scores["accuracy"]}
        if outputs is not None:
            np.savez_compressed(outputs / PREDICTIONS_FILE, proba=proba.astype(np.float32),
                                labels=test.labels, class_names=np.array(splits.class_names))
            if pictures:
                from harness.scoring.examples import write_examples

                try:  # pictures for the reports; never worth the row
                    write_examples(outputs, contender, test.images, proba, test.labels,
                                   seed=job.seed)
                except Exception:
                    traceback.print_exc()
        with inference.encoders_watched() as called:  # the path the harness times
            one = np.shape(contender.predict_proba(test.images[:1]))
            if one != (1, splits.num_classes):
                raise ContractBroken(f"predict_proba of one image returned shape {one}, "
                                     f"expected (1, {splits.num_classes})")
            if timing is None:  # no measurement: the timed path, once
                contender.predict_proba(test.images)
            else:
                found["timing"] = inference.measure(contender.predict_proba, test.images,
                                                    **timing)
        found["encoders_called"] = tuple(sorted(set(called)))
        if called:  # honest about what the latency measured
            note = (f"its timed prediction encodes images ({', '.join(found['encoders_called'])}),"
                    " work the latency includes and other contenders do not do")
            found["message"] = "; ".join(filter(None, [found.get("message"), note]))
        description = contender.describe()
        if not isinstance(description, dict) or "params" not in description:
            raise ContractBroken("describe() must return a dict with 'params'")
        if report.images_seen:  # with train_seconds, the training images per second
            description = {**description, "images_seen": report.images_seen}
        found["description"] = description
        said = Runtime.from_dict(description)  # the family's own facts, typed
        found["runtime"] = replace(found["runtime"], **{
            k: v for k, v in asdict(said).items() if v is not None})
        found["parameters"] = description.get("parameters")
        found["trainable_parameters"] = description.get("trainable_parameters")
        found["gpus_used"] = description.get("gpus_used")
        if found["gpus_used"] is None:  # the guard passed: all, if it can
            found["gpus_used"] = job.gpus if cls.framework.uses_gpus else 0
        if outputs is not None:
            # kept until the run ends, where the runner keeps each table's leader's
            # model (all of them with --keep-models): harness.execution.models
            saved = contender.save(outputs / MODEL_DIR)
            if saved is not None and not saved.exists():
                raise ContractBroken(f"save() returned {saved}, which does not exist")
            found.update(saved=saved, model_bytes=_tree_bytes(saved))
        found["eval_seconds"] = time.monotonic() - clock
    except BaseException as exc:  # every failure is an outcome; the caller decides next
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        status, message = failure_status(exc, is_out_of_memory, stage)
        tail = ""
        if status is not Status.SKIPPED:
            tail = "\n".join(traceback.format_exc().strip().splitlines()[-15:])
            traceback.print_exc()
        return Outcome(**{**found, "status": status, "message": message, "stage": stage,
                          "traceback_tail": tail})
    return Outcome(**found, stage=stage)


def to_result(job: Job, outcome: Outcome, **facts: Any) -> Result:
    """The store's row for ``job`` from what :func:`evaluate` measured, plus ``facts``
    of the process that ran it (``artifacts``, ``started_at``, ``peak_rss_mb``, ...)."""
    from harness.contenders import family_of

    row = {name: getattr(outcome, name) for name in (
        "message", "traceback_tail", "n_train", "n_val", "n_test", "num_classes",
        "image_shape", "setup_seconds", "train_seconds", "eval_seconds",
        "time_to_best_seconds", "epochs", "description", "parameters",
        "trainable_parameters", "gpus_used", "model_bytes")}
    # the job's backend where the outcome says none (a failure before it was chosen)
    runtime = replace(outcome.runtime, backend=outcome.runtime.backend or job.backend)
    return Result.for_job(job, outcome.status, family=outcome.family or family_of(job.contender),
                          **{**row, **outcome.scores, **outcome.timing, **facts,
                             "runtime": runtime})
