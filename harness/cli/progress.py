"""What the terminal shows while a run goes: a bar per running job and one overall."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from harness.core.jobs import Job, Result, Status

_STYLE = {Status.OK: "green", Status.SKIPPED: "yellow"}


def result_line(result: Result) -> str:
    on = f" [{result.runtime.backend}]" if result.runtime.backend else ""
    head = (f"{result.contender}{on} · fold {result.fold + 1}/{result.folds} · "
            f"seed {result.seed}")
    if result.status is Status.OK:
        return (f"{head}: ok, test accuracy {result.test_accuracy * 100:.2f} %, "
                f"train {result.train_seconds:.1f} s, "
                f"latency p50 {result.latency_p50_ms:.2f} ms")
    return f"{head}: {result.status.value}: {result.message}"


class RichReporter:
    """Per-job bars (training time against the budget) and an overall bar with ETA.

    The overall bar counts estimated seconds (each job's budget plus its setup and
    evaluation estimate), so the ETA holds when jobs of unequal length mix.
    """

    def __init__(self, jobs: list[Job], estimates: dict[str, float], parallel: int,
                 console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.estimates = estimates
        self.parallel = max(1, parallel)
        self.remaining = sum(estimates[j.key] for j in jobs)
        self.done_jobs = 0
        self.total_jobs = len(jobs)
        self.started: dict[str, float] = {}
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.overall: TaskID = self.progress.add_task(
            self._overall_text(), total=max(self.remaining, 1e-9), info=self._eta()
        )
        self.tasks: dict[str, TaskID] = {}

    def _overall_text(self) -> str:
        return f"[bold]all jobs {self.done_jobs}/{self.total_jobs}"

    def _eta(self) -> str:
        running = sum(
            min(self.estimates[k], time.time() - t) for k, t in self.started.items()
        )
        left = max(0.0, self.remaining - running) / self.parallel
        m, s = divmod(int(left), 60)
        return f"ETA {m}:{s:02d}"

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def job_started(self, job: Job) -> None:
        self.started[job.key] = time.time()
        self.tasks[job.key] = self.progress.add_task(
            f"  {job.contender}{f' ({job.backend})' if job.backend else ''} "
            f"f{job.fold + 1} s{job.seed}", total=job.budget_seconds,
            info="setup",
        )

    def job_phase(self, job: Job, phase: str, elapsed: float) -> None:
        task = self.tasks.get(job.key)
        if task is None:
            return
        if phase == "train":
            self.progress.update(task, completed=min(elapsed, job.budget_seconds),
                                 info=f"train {elapsed:.0f}/{job.budget_seconds:.0f} s")
        else:
            self.progress.update(task, info=phase)
        self._refresh_overall()

    def _refresh_overall(self) -> None:
        total = self.progress.tasks[self.overall].total or 1
        left = max(0.0, self.remaining - sum(
            min(self.estimates[k], time.time() - t) for k, t in self.started.items()))
        self.progress.update(self.overall, completed=total - left,
                             description=self._overall_text(), info=self._eta())

    def job_elsewhere(self, job: Job, why: str) -> None:
        """Another runner sharing the store has this job: it is not ours to run."""
        self.done_jobs += 1
        self.remaining -= self.estimates.get(job.key, 0.0)
        on = f" [{job.backend}]" if job.backend else ""
        head = f"{job.contender}{on} · fold {job.fold + 1}/{job.folds} · seed {job.seed}"
        self.progress.console.print(Text(f"{head}: skipped here, {why}", style="yellow"))
        self._refresh_overall()

    def job_finished(self, job: Job, result: Result) -> None:
        self.done_jobs += 1
        self.remaining -= self.estimates.get(job.key, 0.0)
        self.started.pop(job.key, None)
        task = self.tasks.pop(job.key, None)
        if task is not None:
            self.progress.remove_task(task)
        style = _STYLE.get(result.status, "red")
        self.progress.console.print(Text(result_line(result), style=style))
        self._refresh_overall()
