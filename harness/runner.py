"""Runs jobs in isolated worker processes and records what each one produced.

Each job runs in ``python -m harness.worker`` in its own process group, with its
GPUs in ``CUDA_VISIBLE_DEVICES``. The runner enforces the caps the worker cannot be
trusted with: the setup cap, the hard training limit (``budget * grace_factor +
grace_seconds`` after training starts), the evaluation cap, the memory cap and the
cap on what a job writes to its folder, each by killing the whole process group. It
is the only writer of the store, and claims each job's key there before starting it,
so that two runners sharing a store run each job once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

from harness.config import RunConfig
from harness.errors import HarnessError
from harness.results import Job, Result, Status
from harness.store import Store
from harness.worker import JOB_FILE, LOG_FILE, PHASE_FILE, RESULT_FILE

POLL_SECONDS = 0.2
# how often a job folder's size is measured (walking it costs more than a poll)
ARTIFACT_CHECK_SECONDS = 1.0
# how often the runner renews its claims on the jobs it runs
RENEW_SECONDS = 30.0


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


def _folder_bytes(path: Path) -> int:
    """Bytes under ``path``; files vanishing while it is walked count as nothing."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


@dataclass
class Worker:
    """One running job: its process, its phase and its deadlines."""

    job: Job
    jobdir: Path
    gpu_ids: list[str]
    config: RunConfig
    proc: subprocess.Popen | None = None
    phase: str = "starting"
    phase_since: float = field(default_factory=time.time)
    started: float = field(default_factory=time.time)
    phase_times: dict[str, float] = field(default_factory=dict)
    peak_bytes: int = 0
    artifacts_checked: float = 0.0

    def start(self) -> None:
        if self.jobdir.exists():  # a previous, unfinished attempt
            shutil.rmtree(self.jobdir)
        self.jobdir.mkdir(parents=True)
        cfg = self.config
        spec = {
            "job": asdict(self.job),
            "key": self.job.key,
            "data_dir": str(cfg.data_dir) if cfg.data_dir else None,
            "weights_dir": str(cfg.weights_dir) if cfg.weights_dir else None,
            "keep_models": cfg.keep_models,
        }
        (self.jobdir / JOB_FILE).write_text(json.dumps(spec, indent=1, default=str))
        env = dict(os.environ)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpu_ids)
        env["PYTHONUNBUFFERED"] = "1"
        if cfg.weights_dir:
            env["HARNESS_WEIGHTS_DIR"] = str(cfg.weights_dir)
        # Tuners keep their studies in the store, so that machines can share them.
        env["HARNESS_STORE_URL"] = cfg.store_url
        # The harness's own source must be importable in the worker, also when run
        # from a checkout that is not installed.
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        with open(self.jobdir / LOG_FILE, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "harness.worker", str(self.jobdir)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True, cwd=os.getcwd(),
            )
        self.started = self.phase_since = time.time()

    # -- watching ---------------------------------------------------------------

    def _read_phase(self) -> None:
        try:
            data = json.loads((self.jobdir / PHASE_FILE).read_text())
        except (OSError, ValueError):
            return
        if data.get("phase") != self.phase:
            self.phase, self.phase_since = data["phase"], float(data["time"])
            self.phase_times[self.phase] = self.phase_since

    def _limit(self) -> tuple[float, str]:
        cfg = self.config
        if self.phase == "train":
            limit = cfg.hard_limit(self.job.budget_seconds)
            return self.phase_since + limit, f"training passed the hard limit of {limit:.0f} s"
        if self.phase == "eval":
            return (self.phase_since + cfg.eval_cap_seconds,
                    f"evaluation passed its cap of {cfg.eval_cap_seconds:.0f} s")
        return (self.started + cfg.setup_cap_seconds,
                f"setup passed its cap of {cfg.setup_cap_seconds:.0f} s")

    def _memory(self) -> int:
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def kill(self, grace: float = 0.0) -> None:
        """Kill the worker's whole process group (SIGTERM first when ``grace`` > 0)."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        if grace > 0 and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)

    def poll(self) -> Result | None:
        """The job's result once it is over (finished, failed or killed), else ``None``."""
        assert self.proc is not None
        self._read_phase()
        code = self.proc.poll()
        if code is not None:
            self.kill()  # children that outlived the worker go with its group
            return self._collect(code)
        now = time.time()
        cap = self.config.max_memory_bytes
        if cap:
            used = self._memory()
            self.peak_bytes = max(self.peak_bytes, used)
            if used > cap:
                self.kill()
                return self._killed(
                    Status.OOM,
                    f"used {used / 2**20:.0f} MiB, over --max-memory {cap / 2**20:.0f} MiB; "
                    "killed",
                )
        cap = self.config.max_artifact_bytes
        if cap and now - self.artifacts_checked >= ARTIFACT_CHECK_SECONDS:
            self.artifacts_checked = now
            written = _folder_bytes(self.jobdir)
            if written > cap:
                self.kill()
                # the disk is shared with every other job: give the space back now
                shutil.rmtree(self.jobdir / "work", ignore_errors=True)
                return self._killed(
                    Status.ERROR,
                    f"wrote {written / 2**20:.0f} MiB to its job folder, over --max-artifacts "
                    f"{cap / 2**20:.0f} MiB; killed and its files removed",
                )
        deadline, why = self._limit()
        if now > deadline:
            self.kill()
            return self._killed(Status.TIMEOUT, f"{why}; killed")
        return None

    def _timings(self) -> dict[str, float]:
        t = self.phase_times
        out: dict[str, float] = {}
        if "train" in t:
            out["setup_seconds"] = t["train"] - self.started
        return out

    def _killed(self, status: Status, message: str) -> Result:
        return Result.for_job(
            self.job, status, message, traceback_tail=_log_tail(self.jobdir / LOG_FILE),
            artifacts=str(self.jobdir), peak_rss_mb=self.peak_bytes / 2**20 or None,
            **self._timings(),
        )

    def _collect(self, code: int) -> Result:
        try:
            row = json.loads((self.jobdir / RESULT_FILE).read_text())
        except (OSError, ValueError):
            row = None
        if row is not None:
            row.pop("family", None)
            base = Result.for_job(self.job, Status(row.pop("status")))
            known = set(base.__dataclass_fields__)
            return replace(base, **{k: v for k, v in row.items() if k in known})
        if code == -signal.SIGKILL:
            return self._killed(
                Status.OOM, "worker killed by SIGKILL from outside the harness "
                "(most likely the system's out-of-memory killer)",
            )
        if code < 0:
            name = signal.Signals(-code).name
            return self._killed(Status.ERROR, f"worker died of {name} ({self.phase} phase)")
        tail = _log_tail(self.jobdir / LOG_FILE, 1)
        return self._killed(
            Status.ERROR, f"worker exited with code {code} and no result: {tail}"[:500]
        )


def gpu_slots(config: RunConfig) -> list[list[str]]:
    """GPU id groups, one per job that may run at once; two jobs never share a GPU."""
    from harness.environment import visible_gpu_ids

    if config.gpus == 0:
        return [[] for _ in range(max(1, config.parallel))]
    ids = visible_gpu_ids()
    n = len(ids) // config.gpus
    if n == 0:
        raise HarnessError(
            f"--gpus {config.gpus} asks for more GPUs than the {len(ids)} visible here: "
            "lower --gpus (0 runs on the CPU)"
        )
    return [ids[i * config.gpus : (i + 1) * config.gpus] for i in range(n)]


class Interrupted(Exception):
    """Ctrl-C: the workers were killed; finished rows are in the store."""

    def __init__(self, finished: int) -> None:
        super().__init__(finished)
        self.finished = finished


def run_jobs(
    config: RunConfig,
    jobs: Iterable[Job],
    store: Store,
    reporter: Reporter | None = None,
    run_id: str | None = None,
) -> list[Result]:
    """Run ``jobs``; every result is added to ``store`` the moment it is known.

    A job another runner holds, or one that got a row from another runner since this
    run began, is left to that runner: each job runs once.
    """
    from harness.contender import get
    from harness.store import new_owner

    reporter = reporter or SilentReporter()
    run_id = run_id or uuid.uuid4().hex[:12]
    pending = list(jobs)
    free = gpu_slots(config)
    running: list[Worker] = []
    results: list[Result] = []
    owner = new_owner()
    last_id = store.last_id()
    renewed = time.time()

    def record(job: Job, result: Result) -> None:
        result = replace(result, run_id=run_id)
        store.add(result)
        store.release(job.key, owner)  # only once the row is in
        results.append(result)
        reporter.job_finished(job, result)

    def take(job: Job) -> bool:
        if not store.claim(job.key, owner):
            reporter.job_elsewhere(job, "another runner is running it")
            return False
        if store.added_since(job.key, last_id):
            store.release(job.key, owner)
            reporter.job_elsewhere(job, "another runner has finished it")
            return False
        return True

    def on_sigterm(signum, frame):  # a scheduler stopping the run: like Ctrl-C
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if in_main else None
    try:
        while pending or running:
            while pending and free:
                job = pending.pop(0)
                if not take(job):
                    continue
                why = get(job.contender).unavailable()
                if why is not None:
                    record(job, Result.for_job(job, Status.SKIPPED, why))
                    continue
                worker = Worker(job, config.runs_dir / job.key, free.pop(0), config)
                worker.start()
                running.append(worker)
                reporter.job_started(job)
            time.sleep(POLL_SECONDS)
            if time.time() - renewed > RENEW_SECONDS:
                store.renew([w.job.key for w in running], owner)
                renewed = time.time()
            for worker in list(running):
                result = worker.poll()
                if result is None:
                    reporter.job_phase(worker.job, worker.phase, time.time() - worker.phase_since)
                    continue
                running.remove(worker)
                free.append(worker.gpu_ids)
                record(worker.job, result)
    except KeyboardInterrupt:
        for worker in running:
            worker.kill(grace=2.0)
        raise Interrupted(len(results)) from None
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        for worker in running:
            worker.kill()
            with contextlib.suppress(Exception):  # the lease expires anyway
                store.release(worker.job.key, owner)
    return results
