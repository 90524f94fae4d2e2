"""One job in its own process: ``python -m harness.execution.worker JOBDIR``.

The runner writes ``JOBDIR/job.json`` (the job and its whole :class:`JobContext`) and
starts this module in a new process group. The worker runs it through the
evaluation protocol (:func:`harness.scoring.protocol.evaluate`): it loads the data and
prepares the contender (setup), trains under the budget (train), scores the model with
the harness's own code (eval); then it writes ``result.json`` last, atomically:
a job directory without it never counts as finished. ``phase.json`` tells the runner
which phase is under way, so that each phase gets its own time cap.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from harness.core.context import (
    JOB_FILE,
    PHASE_FILE,
    RESULT_FILE,
    STORE_URL_VARIABLE,
    WORK_DIR,
    JobContext,
)
from harness.core.files import write_json_atomic
from harness.core.jobs import Job, Result


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


def run_job(jobdir: Path) -> Result:
    """Do the job through the evaluation protocol; its row (also on failure)."""
    from harness.data.registry import load_dataset
    from harness.data.splits import protocol_split
    from harness.execution.environment import describe_environment
    from harness.scoring.protocol import Data, evaluate, to_result

    spec = json.loads((jobdir / JOB_FILE).read_text())
    job = Job.from_dict(spec["job"])
    context = JobContext.from_dict(spec["context"])
    # the store URL whole (job.json masks its password), kept from what the job starts
    url = os.environ.pop(STORE_URL_VARIABLE, None)
    if url:
        context = replace(context, store_url=url)
    started = _now()

    def data() -> Data:
        dataset = load_dataset(job.dataset, context.data_dir, job.image_size)
        train, val = protocol_split(
            dataset.train, folds=job.folds, fold=job.fold, seed=job.seed,
            max_per_class=job.max_train_per_class,
        )
        return Data(train, val, dataset.test, tuple(dataset.class_names))

    outcome = evaluate(job, data, context, phase=lambda name: _phase(jobdir, name),
                       outputs=jobdir)
    try:
        peak_gpu = _peak_gpu_mb()
    except Exception:  # a broken GPU runtime must not cost the row
        peak_gpu = None
    return to_result(
        job, outcome, started_at=started, finished_at=_now(),
        # absolute: pages and exports find the folder from whatever directory they run in
        artifacts=str(jobdir.absolute()), peak_rss_mb=_peak_rss_mb(), peak_gpu_mb=peak_gpu,
        environment=describe_environment(),
    )


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
    result = run_job(jobdir)
    shutil.rmtree(jobdir / WORK_DIR, ignore_errors=True)
    write_json_atomic(jobdir / RESULT_FILE, result.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
