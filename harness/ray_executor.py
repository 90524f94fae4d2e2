"""The Ray executor: each job a Ray task, the same isolated worker subprocess inside.

A task asks Ray for the job's GPUs (``num_gpus``) and for ``cpus_per_job`` CPUs,
starts ``python -m harness.worker`` through :class:`harness.runner.Worker` (which
enforces every cap, as in a local run) and returns the result row. Rows travel back
to this process, which stays the only writer of the store. Ray is imported only
here, and only when ``--executor ray`` is asked for.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.config import RunConfig
from harness.errors import HarnessError
from harness.results import Job, Result, Status
from harness.runner import Interrupted, Reporter, SilentReporter
from harness.store import Store

WAIT_SECONDS = 0.5


def _run_job(config: RunConfig, job: Job) -> dict[str, Any]:
    """Inside a Ray task: one job in its own worker process group; the row as a dict."""
    import time

    import ray

    from harness.contender import get
    from harness.runner import POLL_SECONDS, Worker

    why = get(job.contender).unavailable()  # judged on the node that would run it
    if why is not None:
        return Result.for_job(job, Status.SKIPPED, why).to_dict()
    # Ray has already narrowed this process's CUDA_VISIBLE_DEVICES to the task's GPUs
    gpu_ids = [str(i) for i in ray.get_gpu_ids()]
    worker = Worker(job, config.runs_dir / job.key, gpu_ids, config)
    worker.start()
    try:
        while (result := worker.poll()) is None:
            time.sleep(POLL_SECONDS)
        return result.to_dict()
    finally:  # ray.cancel interrupts the loop: the worker's whole group goes with it
        if worker.proc is not None and worker.proc.poll() is None:
            worker.kill(grace=2.0)


def _absolute(config: RunConfig) -> RunConfig:
    """Tasks may run in another working directory: give them absolute paths."""
    def fix(p: Path | None) -> Path | None:
        return None if p is None else p.expanduser().absolute()

    return replace(config, runs_dir=fix(config.runs_dir), data_dir=fix(config.data_dir),
                   weights_dir=fix(config.weights_dir))


def init_ray(address: str | None, num_cpus: int | None = None):
    """Connect to the cluster at ``address``, or start a local Ray with no cluster."""
    try:
        import ray
    except ImportError:
        raise HarnessError("--executor ray needs Ray: pip install 'harness[ray]'") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from tests or CI
    # Local Ray workers must import the harness and the plugins the runner uses.
    root = str(Path(__file__).resolve().parent.parent)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    for name in ("HARNESS_PLUGINS", "HARNESS_DATA", "HARNESS_WEIGHTS_DIR", "HF_HUB_OFFLINE"):
        if name in os.environ:
            env[name] = os.environ[name]
    kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False,
                              "include_dashboard": False, "logging_level": "ERROR"}
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
    try:
        ray.init(**kwargs)
    except Exception as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise HarnessError(f"cannot start {where}: {str(exc).splitlines()[0]}") from None
    return ray


def run_on_ray(
    units: list[tuple[RunConfig, list[Job]]],
    store: Store,
    reporter: Reporter | None = None,
    run_id: str = "",
    address: str | None = None,
    cpus_per_job: float = 1,
    num_cpus: int | None = None,
) -> list[Result]:
    """Run every job as a Ray task; add each row to ``store`` the moment it is back."""
    reporter = reporter or SilentReporter()
    ray = init_ray(address, num_cpus)
    # max_retries=0: a job killed half-way is never re-run behind the runner's back
    task = ray.remote(max_retries=0)(_run_job)
    pending: dict[Any, Job] = {}
    results: list[Result] = []

    def on_sigterm(signum, frame):  # a scheduler stopping the run: like Ctrl-C
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if in_main else None
    try:
        for config, jobs in units:
            shared = ray.put(_absolute(config))
            for job in jobs:
                ref = task.options(num_cpus=cpus_per_job, num_gpus=job.gpus,
                                   name=f"harness {job.label()}").remote(shared, job)
                pending[ref] = job
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    result = Result.from_dict(ray.get(ref))
                except Exception as exc:  # the task itself failed: a node lost, Ray stopped
                    reason = str(exc).strip().splitlines()[-1][:300] if str(exc) else repr(exc)
                    result = Result.for_job(job, Status.ERROR, f"Ray task failed: {reason}")
                result = replace(result, run_id=run_id)
                store.add(result)
                results.append(result)
                reporter.job_finished(job, result)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)  # raises in the task, whose finally kills its worker group
        ray.wait(list(pending), num_returns=len(pending), timeout=10)
        raise Interrupted(len(results)) from None
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        ray.shutdown()
    return results
