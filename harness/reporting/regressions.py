"""Which results got worse: each new row against the previous ``ok`` row of its job key.

The store is append-only, so a job re-run (``--rerun``, or a scheduled suite) leaves
its earlier rows in place. A drop in test accuracy counts only beyond the noise: more
than 1 point, or 2 standard deviations of the previous accuracies over the folds and
seeds of the same contender, dataset and budget, whichever is larger. A job that was
``ok`` before and now fails (error, timeout, oom, skipped) is a regression too.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass

from harness.core.budget import format_duration
from harness.core.jobs import Result, Status

MIN_DROP_POINTS = 1.0
NOISE_STDS = 2.0


@dataclass(frozen=True)
class Regression:
    job_key: str
    dataset: str
    contender: str
    fold: int
    seed: int
    budget_seconds: float
    gpus: int
    previous: float  # test accuracy %, of the previous ok row
    current: float | None  # None: the job did not finish this time
    threshold: float  # points: the drop beyond which it counts
    status: str
    message: str = ""
    previous_run: str = ""

    @property
    def drop(self) -> float | None:
        return None if self.current is None else self.previous - self.current

    def describe(self) -> str:
        where = (f"{self.contender} on {self.dataset} · budget "
                 f"{format_duration(self.budget_seconds)} · {self.gpus} GPU(s) · "
                 f"fold {self.fold + 1} seed {self.seed}")
        if self.current is None:
            return (f"{where}: was ok at {self.previous:.2f} %, now {self.status}: "
                    f"{self.message}")
        return (f"{where}: {self.previous:.2f} % -> {self.current:.2f} % "
                f"(-{self.drop:.2f} pts, noise {self.threshold:.2f} pts)")


def noise_threshold(previous: list[float]) -> float:
    """Points of accuracy a drop must exceed: max(1, 2 std over folds and seeds)."""
    if len(previous) < 2:
        return MIN_DROP_POINTS
    return max(MIN_DROP_POINTS, NOISE_STDS * statistics.stdev(previous))


def _group(r: Result) -> tuple:
    """Rows that differ only by fold and seed: their spread is the noise."""
    return (r.dataset, r.contender, r.budget_seconds, r.gpus, r.max_train_per_class,
            json.dumps(r.params, sort_keys=True, default=str))


def find_regressions(new: list[Result], history: list[Result]) -> list[Regression]:
    """``new``: this run's rows. ``history``: every row of their keys, oldest first."""
    run_ids = {r.run_id for r in new}
    previous_ok: dict[str, Result] = {}
    for row in history:  # the last ok row of each key from before this run wins
        if row.status is Status.OK and row.run_id not in run_ids and row.test_accuracy is not None:
            previous_ok[row.job_key] = row
    spread: dict[tuple, list[float]] = defaultdict(list)
    for r in new:
        if r.job_key in previous_ok:
            spread[_group(r)].append(previous_ok[r.job_key].test_accuracy * 100)

    found: list[Regression] = []
    for r in new:
        before = previous_ok.get(r.job_key)
        if before is None or r.status is Status.INFRA:
            continue  # a new job, or the machine's fault: nothing to compare
        threshold = noise_threshold(spread[_group(r)])
        prev = before.test_accuracy * 100
        ok = r.status is Status.OK and r.test_accuracy is not None
        current = r.test_accuracy * 100 if ok else None
        if current is not None and not (prev - current > threshold):
            continue
        found.append(Regression(
            job_key=r.job_key, dataset=r.dataset, contender=r.contender, fold=r.fold,
            seed=r.seed, budget_seconds=r.budget_seconds, gpus=r.gpus, previous=prev,
            current=current, threshold=threshold, status=r.status.value,
            message=r.message, previous_run=before.run_id,
        ))
    return found


def compared_count(new: list[Result], history: list[Result]) -> int:
    """How many of the new rows had a previous ok row to be compared with."""
    run_ids = {r.run_id for r in new}
    keys = {h.job_key for h in history if h.status is Status.OK and h.run_id not in run_ids}
    return sum(r.job_key in keys for r in new)


def to_markdown(regressions: list[Regression], compared: int) -> str:
    """A ``## Regressions`` section for a leaderboard page or a suite report."""
    from harness.reporting.markdown import md_escape, md_table

    out = ["## Regressions", ""]
    if not regressions:
        out += [f"None: {compared} re-run job(s) compared with their previous ok result, "
                "no drop beyond the noise (1 point or 2 std over folds and seeds)."
                if compared else "No job of this run had an earlier ok result to compare with.",
                ""]
        return "\n".join(out)
    rows = []
    for g in regressions:
        rows.append([
            md_escape(g.contender), md_escape(g.dataset), format_duration(g.budget_seconds),
            str(g.gpus), str(g.fold + 1), str(g.seed), f"{g.previous:.2f}",
            "–" if g.current is None else f"{g.current:.2f}",
            "–" if g.drop is None else f"{g.drop:.2f}", f"{g.threshold:.2f}",
            md_escape(g.status if g.current is not None or not g.message
                      else f"{g.status}: {g.message}"),
        ])
    out += [
        f"{len(regressions)} job(s) got worse than their previous ok result "
        "(a drop of more than 1 point or 2 std over folds and seeds, or a failure):", "",
        md_table(["Contender", "Dataset", "Budget", "GPUs", "Fold", "Seed", "Before %",
                  "Now %", "Drop pts", "Noise pts", "Status"], rows, "lllrrrrrrrl"),
        "",
    ]
    return "\n".join(out)
