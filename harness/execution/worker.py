"""One job in its own process: ``python -m harness.execution.worker JOBDIR``.

The runner writes ``JOBDIR/job.json`` (the job and its whole :class:`JobContext`) and
starts this module in a new process group. The worker loads the data (setup), trains
under the budget (train), scores the model with the harness's own code (eval) and
writes ``result.json`` last, atomically:
a job directory without it never counts as finished. ``phase.json`` tells the runner
which phase is under way, so that each phase gets its own time cap.
"""

from __future__ import annotations

import csv
import faulthandler
import json
import os
import random
import resource
import shutil
import sys
import time
import traceback
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.core.context import (
    HISTORY_FILE,
    JOB_FILE,
    MODEL_DIR,
    PHASE_FILE,
    PREDICTIONS_FILE,
    RESULT_FILE,
    STORE_URL_VARIABLE,
    WORK_DIR,
    JobContext,
)
from harness.core.files import write_json_atomic


def _phase(jobdir: Path, name: str) -> None:
    write_json_atomic(jobdir / PHASE_FILE, {"phase": name, "time": time.time()})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _peak_gpu_mb() -> float | None:
    """The peak GPU memory of the frameworks this job loaded, as their families read it."""
    from harness.contenders import families

    peaks = [p for f in families() if (p := f.gpu_peak_mb()) is not None]
    return max(peaks) if peaks else None


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # Linux reports KiB


def _tree_bytes(path: Path | None) -> int | None:
    if path is None or not path.exists():
        return None
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _write_history(path: Path, history: list) -> None:
    from harness.contenders import Epoch

    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(Epoch)])
        writer.writeheader()
        writer.writerows(asdict(e) for e in history)


def _choose_backend(cls, wanted: str | None, gpus: int = 0) -> str | None:
    """Set the family's backend variable to the job's backend (or the first installed
    one the contender runs on).

    A backend that is not installed here, or that the contender cannot run on, is a
    ``skipped`` row naming the fix.
    """
    from harness.core.errors import ContenderUnavailable

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


def run_job(jobdir: Path) -> dict[str, Any]:
    """Do the job; return the result row as a dict (also on failure)."""
    import numpy as np

    from harness.contenders import create, get, is_out_of_memory, load_plugins
    from harness.core.budget import Budget
    from harness.core.errors import GpuMismatch
    from harness.core.jobs import Job, Runtime, Status, failure_status
    from harness.data.registry import load_dataset
    from harness.data.splits import protocol_split
    from harness.execution.environment import describe_environment
    from harness.scoring import inference, metrics
    from harness.scoring.examples import write_examples

    spec = json.loads((jobdir / JOB_FILE).read_text())
    job = Job.from_dict(spec["job"])
    context = JobContext.from_dict(spec["context"])
    # the store URL whole (job.json masks its password), kept from what the job starts
    url = os.environ.pop(STORE_URL_VARIABLE, None)
    if url:
        context = replace(context, store_url=url)
    row: dict[str, Any] = {
        **asdict(job), "job_key": job.key,
        "status": "ok", "message": "", "started_at": _now(),
        # absolute: pages and exports find the folder from whatever directory they run in
        "artifacts": str(jobdir.absolute()),
    }
    stage = "setup"
    clock = time.monotonic()
    try:
        _phase(jobdir, "setup")
        random.seed(job.seed)
        np.random.seed(job.seed)
        load_plugins()
        cls = get(job.contender)
        row["family"] = cls.family
        # the framework's switches, set before its modules are first imported
        for name, value in cls.framework.environment:
            os.environ.setdefault(name, value)
        backend = _choose_backend(cls, job.backend, job.gpus)
        if backend:
            row["runtime"] = {"backend": backend}
        if context.offline:  # the Hugging Face libraries read their own switch
            os.environ["HF_HUB_OFFLINE"] = "1"
        dataset = load_dataset(job.dataset, context.data_dir)
        train, val = protocol_split(
            dataset.train, folds=job.folds, fold=job.fold, seed=job.seed,
            max_per_class=job.max_train_per_class,
        )
        test = dataset.test
        row.update(
            n_train=len(train), n_val=len(val), n_test=len(test),
            num_classes=dataset.num_classes, image_shape=list(train.images.shape[1:]),
        )
        contender = create(job.contender, seed=job.seed, **job.params)
        if job.gpus:  # the GPU guard: before the clock starts, never a silent CPU run
            problem = cls.framework.check_gpus(job.gpus)
            if problem:
                raise GpuMismatch(problem)
        context.work_dir.mkdir(exist_ok=True)
        contender.prepare(train, val, context)
        row["setup_seconds"] = time.monotonic() - clock

        stage = "fit"
        _phase(jobdir, "train")
        budget = Budget(job.budget_seconds, gpus=job.gpus)
        # a fit still running well past its deadline leaves every thread's stack in
        # worker.log: where a contender overruns its budget, the log says where
        faulthandler.dump_traceback_later(job.budget_seconds * 1.05 + 5, exit=False)
        try:
            report = contender.fit(train, val, budget, context)
        finally:
            faulthandler.cancel_dump_traceback_later()
        row["train_seconds"] = budget.elapsed()
        best = report.best()
        row["time_to_best_seconds"] = best.elapsed_seconds if best else None
        row["epochs"] = len(report.history) or None
        if report.notes:
            row["message"] = "; ".join(report.notes)
        _write_history(jobdir / HISTORY_FILE, report.history)

        stage = "evaluation"
        _phase(jobdir, "eval")
        clock = time.monotonic()
        proba = contender.predict_proba(test.images)
        scores = metrics.score(proba, test.labels, dataset.num_classes,
                               dataset.class_names)
        row.update({f"test_{k}": v for k, v in scores.items()})
        val_scores = metrics.score(contender.predict_proba(val.images), val.labels,
                                   dataset.num_classes)
        row["val_accuracy"] = val_scores["accuracy"]
        np.savez_compressed(jobdir / PREDICTIONS_FILE, proba=proba.astype(np.float32),
                            labels=test.labels, class_names=np.array(dataset.class_names))
        try:  # pictures for the reports; never worth the row
            write_examples(jobdir, contender, test.images, proba, test.labels, seed=job.seed)
        except Exception:
            traceback.print_exc()
        row.update(inference.measure(contender.predict_proba, test.images))
        description = contender.describe()
        if report.images_seen:  # with train_seconds, the training images per second
            description = {**description, "images_seen": report.images_seen}
        row["description"] = description
        for name in ("parameters", "gpus_used"):
            if description.get(name) is not None:
                row[name] = description[name]
        said = Runtime.from_dict(description)  # the family's own facts, typed
        row["runtime"] = {**row.get("runtime", {}),
                          **{k: v for k, v in asdict(said).items() if v is not None}}
        if description.get("gpus_used") is None:  # the guard passed: all, if it can
            row["gpus_used"] = job.gpus if cls.framework.uses_gpus else 0
        row["trainable_parameters"] = description.get("trainable_parameters")
        # kept until the run ends, where the runner keeps each table's leader's model
        # (all of them with --keep-models): harness.execution.models
        row["model_bytes"] = _tree_bytes(contender.save(jobdir / MODEL_DIR))
        row["eval_seconds"] = time.monotonic() - clock
    except BaseException as exc:  # every failure is a row; the runner decides what's next
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        status, row["message"] = failure_status(exc, is_out_of_memory, stage)
        row["status"] = status.value
        if status is not Status.SKIPPED:
            row["traceback_tail"] = "\n".join(traceback.format_exc().strip().splitlines()[-15:])
            traceback.print_exc()
    row["peak_rss_mb"] = _peak_rss_mb()
    try:
        row["peak_gpu_mb"] = _peak_gpu_mb()
    except Exception:  # a broken GPU runtime must not cost the row
        row["peak_gpu_mb"] = None
    row["environment"] = describe_environment()
    row["finished_at"] = _now()
    return row


def _exit_with_runner() -> None:
    """End this worker's process group if the runner dies (even by SIGKILL).

    Workers run in their own session, so nothing else would stop an orphan from
    holding a GPU for hours; its result would be thrown away anyway.
    """
    import threading

    runner = os.getppid()

    def watch() -> None:
        while os.getppid() == runner:
            time.sleep(1.0)
        os.killpg(os.getpgrp(), 9)

    threading.Thread(target=watch, daemon=True, name="runner-watch").start()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m harness.execution.worker JOBDIR", file=sys.stderr)
        return 2
    jobdir = Path(argv[0])
    _exit_with_runner()
    row = run_job(jobdir)
    shutil.rmtree(jobdir / WORK_DIR, ignore_errors=True)
    write_json_atomic(jobdir / RESULT_FILE, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
