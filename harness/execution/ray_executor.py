"""The Ray executor: each job a Ray task, the same isolated worker subprocess inside.

A task asks Ray for the job's GPUs (``num_gpus``) and for ``cpus_per_job`` CPUs,
starts ``python -m harness.execution.worker`` through :class:`~harness.execution.local.Worker`
(which enforces every cap, as in a local run) and returns the row. Rows travel back to
the scheduler, which claimed the job before submitting it and stays the only writer of
the store. A task whose node is lost is re-run by Ray on another node (``max_retries``);
a job that fails on its own is not. Ray is imported only here, and only when
``--executor ray`` is asked for.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.contenders import family_of
from harness.core.config import RunConfig
from harness.core.errors import HarnessError
from harness.core.jobs import Job, Result, Status

#: how often Ray re-runs a task whose node or worker process died (not a job's own failure)
NODE_RETRIES = 2
#: the environment a task's worker needs from the runner's (plugins, caches, offline)
FORWARDED_ENV = ("HARNESS_PLUGINS", "HARNESS_DATA", "HARNESS_OFFLINE", "HF_HUB_OFFLINE",
                 "HARNESS_DATA_SOURCES")


def _run_job(config: RunConfig, job: Job) -> Result:
    """Inside a Ray task: one job in its own worker process group (which runs it through
    the evaluation protocol, :func:`harness.scoring.protocol.evaluate`); its typed row."""
    import ray

    from harness.contenders import get
    from harness.execution.local import POLL_SECONDS, Worker

    why = get(job.contender).unavailable()  # judged on the node that would run it
    if why is not None:
        return Result.for_job(job, Status.SKIPPED, why, family=get(job.contender).family)
    # Ray has already narrowed this process's CUDA_VISIBLE_DEVICES to the task's GPUs
    gpu_ids = [str(i) for i in ray.get_gpu_ids()]
    worker = Worker(job, config.runs_dir / job.key, gpu_ids, config)
    worker.start()
    try:
        while (result := worker.poll()) is None:
            time.sleep(POLL_SECONDS)
        return result
    finally:  # ray.cancel interrupts the loop: the worker's whole group goes with it
        if worker.proc is not None and worker.proc.poll() is None:
            worker.kill(grace=2.0)


def _absolute(config: RunConfig) -> RunConfig:
    """Tasks may run in another working directory: give them absolute paths."""
    def fix(p: Path | None) -> Path | None:
        return None if p is None else Path(p).expanduser().absolute()

    return replace(config, runs_dir=fix(config.runs_dir), data_dir=fix(config.data_dir),
                   weights_dir=fix(config.weights_dir))


def init_ray(address: str | None, num_cpus: int | None = None):
    """Connect to the cluster at ``address``, or start a local Ray with no cluster."""
    try:
        import ray
    except ImportError:
        raise HarnessError("--executor ray needs Ray: pip install 'harness[ray]'") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from tests or CI
    # Ray workers must import the harness and the plugins the runner uses.
    root = str(Path(__file__).resolve().parents[2])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    env.update({name: os.environ[name] for name in FORWARDED_ENV if name in os.environ})
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


class RayExecutor:
    """Jobs as Ray tasks; Ray queues them and places each where its resources are."""

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_job: float = 1.0,
                 num_cpus: int | None = None) -> None:
        self.address, self.cpus_per_job, self.num_cpus = address, cpus_per_job, num_cpus
        self.ray: Any = None
        self.task: Any = None
        self.shared: dict[int, Any] = {}  # one copy of each config in the object store
        self.ready: set[Any] = set()
        self.pending: list[Any] = []
        self.waited = 0.0

    def check(self, configs: list[RunConfig]) -> None:
        pass  # the cluster's GPUs count, not this machine's: Ray places the tasks

    def slots(self, config: RunConfig) -> int:
        return 1 if config.gpus else max(1, config.parallel)  # an estimate only

    def has_room(self, config: RunConfig) -> bool:
        return True  # Ray queues the task until a node has its resources

    def _start(self) -> None:
        if self.ray is None:
            self.ray = init_ray(self.address, self.num_cpus)
            self.task = self.ray.remote(max_retries=NODE_RETRIES)(_run_job)

    def submit(self, job: Job, config: RunConfig) -> Any:
        self._start()
        key = id(config)
        if key not in self.shared:
            self.shared[key] = (config, self.ray.put(_absolute(config)))
        ref = self.task.options(num_cpus=self.cpus_per_job, num_gpus=job.gpus,
                                name=f"harness {job.label()}").remote(self.shared[key][1], job)
        self.pending.append(ref)
        return (job, ref)

    def poll(self, handle: Any) -> Result | None:
        job, ref = handle
        now = time.monotonic()
        if ref not in self.ready and self.pending and now - self.waited > 0.1:
            self.waited = now  # one look at every task per scheduler tick
            done, _ = self.ray.wait(self.pending, num_returns=len(self.pending), timeout=0)
            self.ready.update(done)
        if ref not in self.ready:
            return None
        self.ready.discard(ref)
        self.pending.remove(ref)
        try:
            return self.ray.get(ref)
        except Exception as exc:  # the task itself failed: nodes lost past Ray's retries
            reason = str(exc).strip().splitlines()[-1][:300] if str(exc) else repr(exc)
            return Result.for_job(job, Status.INFRA, f"Ray task failed: {reason}",
                                  family=family_of(job.contender))

    def phase(self, handle: Any) -> tuple[str, float] | None:
        return None

    def cancel(self, handle: Any, grace: float = 0.0) -> None:
        _, ref = handle
        if ref in self.pending:
            self.ray.cancel(ref)  # raises in the task, whose finally kills its worker group
            self.pending.remove(ref)
            if grace:
                self.ray.wait([ref], timeout=10)

    def close(self) -> None:
        if self.ray is not None:
            self.ray.shutdown()
            self.ray = None
