"""The one scheduler: claims jobs, hands them to an executor, records every row.

``harness run`` and ``harness suite run`` both end here, whatever the executor. The
scheduler alone talks to the store while jobs run: it claims each job's key before
the job starts (so that two runners sharing a store run each job once, on Ray too),
renews its leases while the job runs, writes the row the moment it is known, and
turns Ctrl-C or SIGTERM into :class:`Interrupted` after stopping every job.

An executor implements a small protocol (:class:`Executor`): ``submit`` a job,
``poll`` it for its row, ``cancel`` it. The local executor runs worker processes on
this machine (:mod:`harness.execution.local`); the Ray executor runs the same worker
inside a Ray task (:mod:`harness.execution.ray_executor`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Protocol

from harness.contenders import family_of, get
from harness.core.config import RunConfig
from harness.core.errors import HarnessError
from harness.core.jobs import Job, Result, Status
from harness.execution.local import POLL_SECONDS
from harness.store import Store, StoreError, new_owner

# how often the scheduler renews its claims on the jobs it runs
RENEW_SECONDS = 30.0
EXECUTORS = ("local", "ray")
#: waits between tries of a store operation that failed (then the run stops taking jobs)
STORE_RETRY_SECONDS = (0.5, 1.0, 2.0)


class Reporter(Protocol):
    def job_started(self, job: Job) -> None: ...
    def job_phase(self, job: Job, phase: str, elapsed: float) -> None: ...
    def job_finished(self, job: Job, result: Result) -> None: ...
    def job_elsewhere(self, job: Job, why: str) -> None: ...


class SilentReporter:
    def job_started(self, job: Job) -> None: ...
    def job_phase(self, job: Job, phase: str, elapsed: float) -> None: ...
    def job_finished(self, job: Job, result: Result) -> None: ...
    def job_elsewhere(self, job: Job, why: str) -> None: ...


class Executor(Protocol):
    """Where jobs run. ``submit`` returns a handle that ``poll`` and ``cancel`` take."""

    name: str

    def check(self, configs: list[RunConfig]) -> None:
        """Raise :class:`HarnessError` for a config this executor can never run."""

    def slots(self, config: RunConfig) -> int:
        """How many jobs of ``config`` may run at once (for the plan's estimate)."""

    def has_room(self, config: RunConfig) -> bool:
        """Whether a job of ``config`` can start now."""

    def submit(self, job: Job, config: RunConfig) -> Any: ...

    def poll(self, handle: Any) -> Result | None:
        """The job's row once it is over (finished, failed or killed), else ``None``."""

    def phase(self, handle: Any) -> tuple[str, float] | None:
        """(phase, seconds in it) where the executor can tell."""

    def cancel(self, handle: Any, grace: float = 0.0) -> None: ...

    def close(self) -> None: ...


def make_executor(name: str, address: str | None = None, cpus_per_job: float = 1.0
                  ) -> Executor:
    """The executor called ``name``; ``--address`` only makes sense for Ray."""
    if address and name != "ray":
        raise HarnessError("--address is for --executor ray")
    if name == "local":
        from harness.execution.local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from harness.execution.ray_executor import RayExecutor

        return RayExecutor(address, cpus_per_job)
    raise HarnessError(f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}")


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the jobs were stopped; finished rows are in the store."""

    def __init__(self, finished: int) -> None:
        super().__init__(finished)
        self.finished = finished


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A scheduler stopping the run (SIGTERM) is handled like Ctrl-C."""

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if in_main else None
    try:
        yield
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


class StoreFailed(StoreError):
    """The store stopped taking rows: the run stopped taking jobs; nothing finished is lost."""


def _with_retries(call, *args) -> Any:
    """``call(*args)``, tried again after 0.5, 1 and 2 s while the store fails."""
    for wait in (*STORE_RETRY_SECONDS, None):
        try:
            return call(*args)
        except StoreError:
            if wait is None:
                raise
            time.sleep(wait)
    return None


def run(
    units: list[tuple[RunConfig, list[Job]]],
    store: Store,
    executor: Executor,
    reporter: Reporter | None = None,
    run_id: str | None = None,
) -> list[Result]:
    """Run every unit's jobs under its config; each row goes to ``store`` as it is known.

    A job another runner holds, or one that got a row from another runner since this
    run began, is left to that runner: each job runs once. A store that keeps failing
    (after retries) stops the run from taking new jobs; the jobs under way finish into
    their folders, and :class:`StoreFailed` says how to resume: the next run adds
    their rows (:mod:`harness.execution.recovery`) instead of training them again.
    """
    reporter = reporter or SilentReporter()
    run_id = run_id or uuid.uuid4().hex[:12]
    pending = [(config, job) for config, jobs in units for job in jobs]
    running: dict[int, tuple[Job, Any, RunConfig]] = {}
    retried: set[str] = set()  # jobs already given their second chance
    results: list[Result] = []
    owner = new_owner()
    last_id = store.last_id()
    renewed = time.time()
    cancelled = False
    failure: StoreError | None = None
    kept = 0  # finished jobs whose rows wait in their folders for the next run

    def record(job: Job, result: Result) -> None:
        nonlocal failure, kept
        result = replace(result, run_id=run_id)
        if failure is None:
            try:
                _with_retries(store.add, result)
                _with_retries(store.release, job.key, owner)  # only once the row is in
            except StoreError as exc:
                failure = exc
        if failure is not None:
            kept += result.status is not Status.SKIPPED
        results.append(result)
        reporter.job_finished(job, result)

    def infra(config: RunConfig, job: Job, result: Result) -> None:
        """Not the contender's fault: the job is tried once more, then recorded."""
        if job.key not in retried:
            retried.add(job.key)
            pending.append((config, job))  # last: whatever failed may have recovered
            reporter.job_elsewhere(job, f"{result.message}; trying it once more")
        else:
            record(job, result)

    def take(job: Job) -> bool:
        if not _with_retries(store.claim, job.key, owner):
            reporter.job_elsewhere(job, "another runner is running it")
            return False
        if _with_retries(store.added_since, job.key, last_id):
            _with_retries(store.release, job.key, owner)
            reporter.job_elsewhere(job, "another runner has finished it")
            return False
        return True

    try:
        with _sigterm_as_interrupt():
            while pending or running:
                while failure is None and pending and executor.has_room(pending[0][0]):
                    config, job = pending.pop(0)
                    try:
                        if not take(job):
                            continue
                    except StoreError as exc:
                        failure = exc
                        pending.insert(0, (config, job))
                        break
                    why = get(job.contender).unavailable()
                    if why is not None:
                        record(job, Result.for_job(job, Status.SKIPPED, why,
                                                   family=family_of(job.contender)))
                        continue
                    try:
                        handle = executor.submit(job, config)
                    except OSError as exc:  # no folder, no process: the machine's fault
                        infra(config, job, Result.for_job(
                            job, Status.INFRA, f"could not start the job: {exc}",
                            family=family_of(job.contender)))
                        continue
                    running[id(handle)] = (job, handle, config)
                    reporter.job_started(job)
                if failure is not None and not running:
                    break
                time.sleep(POLL_SECONDS)
                if failure is None and time.time() - renewed > RENEW_SECONDS:
                    try:
                        _with_retries(store.renew, [r[0].key for r in running.values()],
                                      owner)
                    except StoreError as exc:
                        failure = exc
                    renewed = time.time()
                for key, (job, handle, config) in list(running.items()):
                    result = executor.poll(handle)
                    if result is None:
                        phase = executor.phase(handle)
                        if phase is not None:
                            reporter.job_phase(job, *phase)
                        continue
                    del running[key]
                    if result.status is Status.INFRA:
                        infra(config, job, result)
                    else:
                        record(job, result)
    except KeyboardInterrupt:
        cancelled = True
        # a job that finished as the signal came is kept and counted, not stopped
        for key, (job, handle, _config) in list(running.items()):
            with contextlib.suppress(Exception, KeyboardInterrupt):  # a second Ctrl-C too
                result = executor.poll(handle)
                if result is not None:
                    del running[key]
                    record(job, result)
        for key, (job, handle, _config) in list(running.items()):
            executor.cancel(handle, grace=2.0)  # SIGTERM first: time to clean up
            finished = getattr(executor, "finished", None)
            result = finished(handle) if finished is not None else None
            if result is not None:  # it wrote its row during the grace
                del running[key]
                record(job, result)
        raise Interrupted(len(results)) from None
    finally:
        for job, handle, _config in running.values():
            if not cancelled:  # a broken harness: stop the jobs all the same
                with contextlib.suppress(Exception):
                    executor.cancel(handle)
            if failure is None:  # a failed store is left alone (the lease expires anyway)
                with contextlib.suppress(Exception):
                    store.release(job.key, owner)
        executor.close()
    if failure is not None:
        raise StoreFailed(
            f"{failure} · {kept} finished job(s) are kept in their job folders and "
            f"{len(pending)} were not started: run the same command again once the store "
            "works; finished jobs are added from their folders, not trained again"
        )
    return results
