"""The local executor: each job a worker process on this machine, watched and capped.

Each job runs in ``python -m harness.execution.worker`` in its own process group, with
its GPUs in ``CUDA_VISIBLE_DEVICES`` and its :class:`JobContext` in ``job.json``.
:class:`Worker` enforces the caps the worker cannot be trusted with: the setup cap,
the hard training limit (``budget * grace_factor + grace_seconds`` after training
starts), the evaluation cap, the memory cap and the cap on what a job writes to its
folder, each by killing the whole process group. The Ray executor runs the same
:class:`Worker` inside a Ray task. Claims, rows and interrupts are the scheduler's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from harness.contenders import family_of
from harness.core.config import RunConfig
from harness.core.context import (
    JOB_FILE,
    LOG_FILE,
    PHASE_FILE,
    RESULT_FILE,
    STORE_URL_VARIABLE,
    WORK_DIR,
    JobContext,
)
from harness.core.errors import HarnessError
from harness.core.files import write_json_atomic
from harness.core.jobs import Job, Result, Runtime, Status
from harness.store import redact

POLL_SECONDS = 0.2
# how often a job folder's size is measured (walking it costs more than a poll)
ARTIFACT_CHECK_SECONDS = 1.0


def _folder_bytes(path: Path) -> int:
    """Bytes under ``path``; files vanishing while it is walked count as nothing."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


#: where the kernel counts its out-of-memory kills: the machine's, this cgroup's (v2)
OOM_COUNTERS = ("/proc/vmstat", "/sys/fs/cgroup/memory.events")


def oom_kills() -> int | None:
    """Processes the kernel's out-of-memory killer has killed so far, or ``None`` where
    it keeps no count: a SIGKILL is put down to memory only when this count rose."""
    total = None
    for path in OOM_COUNTERS:
        try:
            with open(path) as fh:
                for line in fh:
                    name, _, value = line.partition(" ")
                    if name == "oom_kill" and value.strip().isdigit():
                        total = (total or 0) + int(value)
        except OSError:
            continue
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
    oom_before: int | None = None  # the kernel's out-of-memory kills when the job started
    released: bool = False  # its slot (and GPUs) given back to the executor

    def start(self) -> None:
        if self.jobdir.exists():  # a previous, unfinished attempt
            shutil.rmtree(self.jobdir)
        # owner-only: a job's log and files may quote whatever its contender printed
        self.jobdir.mkdir(parents=True, mode=0o700)
        context = job_context(self.config, self.job, self.jobdir, self.gpu_ids)
        # the file gets the store URL masked; the worker gets it whole, from its environment
        shown = replace(context, store_url=redact(context.store_url))
        spec = {"job": asdict(self.job), "key": self.job.key, "context": shown.to_dict()}
        (self.jobdir / JOB_FILE).write_text(json.dumps(spec, indent=1, default=str))
        env = dict(os.environ)
        env[STORE_URL_VARIABLE] = context.store_url
        env["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpu_ids)
        env["PYTHONUNBUFFERED"] = "1"
        # The harness's own source must be importable in the worker, also when run
        # from a checkout that is not installed.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        with open(self.jobdir / LOG_FILE, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "harness.execution.worker", str(self.jobdir)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True, cwd=os.getcwd(),
            )
        self.started = self.phase_since = time.time()
        self.oom_before = oom_kills()

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
                shutil.rmtree(self.jobdir / WORK_DIR, ignore_errors=True)
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
        result = Result.for_job(
            self.job, status, message, family=family_of(self.job.contender),
            traceback_tail=_log_tail(self.jobdir / LOG_FILE),
            artifacts=str(self.jobdir), peak_rss_mb=self.peak_bytes / 2**20 or None,
            started_at=_iso(self.started), finished_at=_iso(time.time()), **self._timings(),
        )
        # the job folder is the source of truth: the row is there before the store has it
        with contextlib.suppress(OSError):  # a folder removed or a full disk: the row goes on
            write_json_atomic(self.jobdir / RESULT_FILE, result.to_dict())
        return result

    def _collect(self, code: int) -> Result:
        result = read_result(self.jobdir, self.job)
        if result is not None:
            return result
        if code == -signal.SIGKILL:
            after = oom_kills()
            if self.oom_before is not None and after is not None and after > self.oom_before:
                return self._killed(
                    Status.OOM, "worker killed by the system's out-of-memory killer "
                    f"(SIGKILL, {self.phase} phase): give the job more memory, or lower "
                    "--parallel",
                )
            return self._killed(
                Status.ERROR, f"worker killed by SIGKILL from outside the harness "
                f"({self.phase} phase; the system's out-of-memory killer did not record it)",
            )
        if code < 0:
            name = signal.Signals(-code).name
            return self._killed(Status.ERROR, f"worker died of {name} ({self.phase} phase)")
        tail = _log_tail(self.jobdir / LOG_FILE, 1)
        return self._killed(
            Status.ERROR, f"worker exited with code {code} and no result: {tail}"[:500]
        )


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


def read_result(jobdir: Path, job: Job | None = None) -> Result | None:
    """The row a finished job left in its folder (``result.json``), or ``None``."""
    try:
        row = json.loads((jobdir / RESULT_FILE).read_text())
        if job is None:
            job = Job.from_dict(json.loads((jobdir / JOB_FILE).read_text())["job"])
        status = Status(row.pop("status"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    base = Result.for_job(job, status, family=row.pop("family", None) or family_of(job.contender))
    said = row.get("runtime")
    if not isinstance(said, dict):  # a row written before a family's facts were one field
        said = {k: v for k, v in asdict(Runtime.from_dict(row)).items() if v is not None}
    return Result.from_dict({**base.to_dict(), **row, "job_key": base.job_key,
                             "status": status.value,
                             "runtime": {**asdict(base.runtime), **said}})


def job_context(config: RunConfig, job: Job, jobdir: Path, gpu_ids: list[str]) -> JobContext:
    """The job's whole configuration, resolved here once: what the worker hands on."""
    from harness.core.network import offline_reason
    from harness.data.sources import data_root

    data_dir = Path(config.data_dir).expanduser() if config.data_dir else data_root()
    return JobContext(
        job_dir=jobdir.absolute(), seed=job.seed, gpu_ids=tuple(gpu_ids),
        data_dir=data_dir.absolute(), cache_dir=data_dir.absolute(),
        weights_dir=Path(config.weights_dir).expanduser().absolute()
        if config.weights_dir else None,
        store_url=config.store_url,
        # HARNESS_OFFLINE or HF_HUB_OFFLINE set, or no weights host answers (asked once)
        offline=bool(why_offline := offline_reason()), offline_reason=why_offline,
        keep_models=config.keep_models,
    )


class LocalExecutor:
    """Worker processes on this machine, at most one per free GPU group (or ``parallel``)."""

    name = "local"

    def __init__(self) -> None:
        from harness.execution.environment import visible_gpu_ids

        self.free_gpus = visible_gpu_ids()
        self.running = 0

    def check(self, configs: list[RunConfig]) -> None:
        """Refuse, before anything runs, a job that asks for more GPUs than there are."""
        for config in configs:
            if config.gpus > len(self.free_gpus):
                raise HarnessError(
                    f"--gpus {config.gpus} asks for more GPUs than the {len(self.free_gpus)} "
                    "visible here: lower --gpus (0 runs on the CPU)"
                )

    def slots(self, config: RunConfig) -> int:
        """How many jobs of ``config`` can run at once here."""
        if config.gpus == 0:
            return max(1, config.parallel)
        return max(1, len(self.free_gpus) // config.gpus)

    def has_room(self, config: RunConfig) -> bool:
        if config.gpus == 0:
            return self.running < max(1, config.parallel)
        return len(self.free_gpus) >= config.gpus

    def submit(self, job: Job, config: RunConfig) -> Worker:
        gpu_ids = self.free_gpus[: job.gpus]
        del self.free_gpus[: job.gpus]
        worker = Worker(job, config.runs_dir / job.key, gpu_ids, config)
        self.running += 1
        try:
            worker.start()
        except BaseException:
            self._free(worker)
            raise
        return worker

    def poll(self, worker: Worker) -> Result | None:
        result = worker.poll()
        if result is not None:
            self._free(worker)
        return result

    def phase(self, worker: Worker) -> tuple[str, float] | None:
        return worker.phase, time.time() - worker.phase_since

    def cancel(self, worker: Worker, grace: float = 0.0) -> None:
        worker.kill(grace)
        self._free(worker)

    def finished(self, worker: Worker) -> Result | None:
        """The row a cancelled job had written to its folder before it was stopped."""
        return read_result(worker.jobdir, worker.job)

    def close(self) -> None:
        pass

    def _free(self, worker: Worker) -> None:
        if worker.released:
            return
        worker.released = True
        self.running -= 1
        self.free_gpus.extend(worker.gpu_ids)
