"""``harness suite plan`` and ``harness suite run``: a suite file, resumed and compared.

A run plans every job of the suite, skips those whose latest row is ``ok`` (unless
``--rerun``), runs the rest on the chosen executor, rewrites the leaderboards of the
suite's datasets, and compares each new row with the previous ``ok`` row of its job
key. Jobs are keyed by content, so the same suite run twice runs nothing the second
time, and a run killed half-way finishes on the next start without repeating a job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from harness.app import _estimates, err, out
from harness.budget import format_duration
from harness.config import RunConfig
from harness.results import Job, Result, Status
from harness.store import Store, redact
from harness.suite import Suite, load_suite

EXIT_REGRESSION = 3


@dataclass(frozen=True)
class Unit:
    """One benchmark of the suite: its config, all its jobs, and those still to run."""

    config: RunConfig
    jobs: list[Job]
    todo: list[Job]


def plan(suite: Suite, store: Store, rerun: bool = False, **overrides) -> list[Unit]:
    """Every benchmark's jobs; a job listed by two benchmarks belongs to the first."""
    configs = suite.configs(rerun=rerun, **overrides)
    keys = [j.key for c in configs for j in c.jobs()]
    done = set() if rerun else store.done_keys(keys)
    seen: set[str] = set()
    units = []
    for config in configs:
        jobs = [j for j in config.jobs() if j.key not in seen]
        seen.update(j.key for j in jobs)
        units.append(Unit(config, jobs, [j for j in jobs if j.key not in done]))
    return units


def print_plan(suite: Suite, units: list[Unit], executor: str) -> float:
    """The plan as a table; returns the estimated wall time in seconds."""
    from harness.runner import gpu_slots

    t = Table(title=f"Suite {suite.name} ({suite.path})", title_justify="left")
    for col, just in (("dataset", "left"), ("budget", "right"), ("GPUs", "right"),
                      ("contenders", "left"), ("jobs", "right"), ("done", "right"),
                      ("to run", "right"), ("estimate", "right")):
        t.add_column(col, justify=just, overflow="fold")
    wall = 0.0
    for u in units:
        est = sum(_estimates(u.todo).values())
        # Ray spreads over the cluster: the local slot count is only an upper bound there
        slots = len(gpu_slots(u.config)) if u.config.gpus == 0 or executor == "local" else 1
        wall += est / max(1, slots)
        c = u.config
        cap = f" ≤{c.max_train_per_class}/class" if c.max_train_per_class else ""
        t.add_row(c.dataset + cap, format_duration(c.budget_seconds), str(c.gpus),
                  ", ".join(c.contenders), str(len(u.jobs)), str(len(u.jobs) - len(u.todo)),
                  str(len(u.todo)), format_duration(est) if u.todo else "–")
    out.print(t)
    total = sum(len(u.jobs) for u in units)
    todo = sum(len(u.todo) for u in units)
    out.print(f"{total} job(s): {total - todo} already done, {todo} to run · estimated wall "
              f"time at most {format_duration(wall) if todo else '0s'} on the {executor} "
              "executor (a contender may finish before its budget)", markup=False)
    store = units[0].config.store_url if units else ""
    out.print(f"store: {redact(store)}", markup=False)
    return wall


def plan_command(path: Path, store_url: str | None, rerun: bool, executor: str) -> int:
    store_url = store_url or None  # an empty $HARNESS_STORE (a CI secret not set) is no URL
    suite = load_suite(path)
    units = plan(suite, Store(store_url or suite.run_options["store_url"]), rerun,
                 store_url=store_url)
    print_plan(suite, units, executor)
    return 0


def run_command(path: Path, store_url: str | None = None, rerun: bool = False,
                executor: str = "local", address: str | None = None,
                cpus_per_job: float = 1, fail_on_regression: bool = False,
                leaderboard_dir: Path | None = None, runs_dir: Path | None = None) -> int:
    from harness import leaderboard
    from harness.data import prepare_dataset
    from harness.executors import execute
    from harness.progress import RichReporter
    from harness.runner import Interrupted
    from harness.suite import SuiteError

    suite = load_suite(path)
    overrides = {"store_url": store_url or None, "leaderboard_dir": leaderboard_dir,
                 "runs_dir": runs_dir}
    if address and executor != "ray":
        raise SuiteError("--address is for --executor ray")
    configs = suite.configs(**overrides)
    board_dir = configs[0].leaderboard_dir
    leaderboard.prepare_dir(board_dir)  # fail before training, not after
    store = Store(configs[0].store_url)
    units = plan(suite, store, rerun, **overrides)
    print_plan(suite, units, executor)
    todo = [j for u in units for j in u.todo]
    run_id = uuid.uuid4().hex[:12]
    results: list[Result] = []
    if todo:
        for u in units:  # download and decode once, here, before any job starts
            if u.todo:
                prepare_dataset(u.config.dataset, u.config.data_dir, folds=u.config.folds,
                                max_per_class=u.config.max_train_per_class)
        slots = max(1, max(u.config.parallel for u in units))
        reporter = RichReporter(todo, _estimates(todo), slots, console=err)
        try:
            with reporter:
                results = execute([(u.config, u.todo) for u in units], store, reporter,
                                  run_id, executor=executor, address=address,
                                  cpus_per_job=cpus_per_job)
        except Interrupted as exc:
            err.print(f"[bold red]Interrupted[/]: {exc.finished} finished job(s) kept in "
                      f"{redact(store.url)}. Run the same suite again to finish it: "
                      "finished jobs are skipped.")
            return 130
    else:
        out.print("Nothing to run: every job of the suite is already in the store "
                  "(--rerun forces).")
    return _report(suite, store, results, board_dir, fail_on_regression)


def _report(suite: Suite, store: Store, results: list[Result], board_dir: Path,
            fail_on_regression: bool) -> int:
    from harness import leaderboard
    from harness.regressions import compared_count, find_regressions, to_markdown

    history = store.history(sorted({r.job_key for r in results})) if results else []
    found = find_regressions(results, history)
    compared = compared_count(results, history)
    datasets = sorted({b.dataset for b in suite.benchmarks})
    written = leaderboard.write([r for d in datasets for r in store.latest(dataset=d)],
                                board_dir)
    pages = {_safe(d): d for d in datasets}
    for md in (p for p in written if p.suffix == ".md" and p.stem in pages):
        # each dataset's page says which of its results got worse in this run
        name = pages[md.stem]
        mine = [g for g in found if g.dataset == name]
        ran = [r for r in results if r.dataset == name]
        with md.open("a") as f:
            f.write("\n" + to_markdown(mine, compared_count(ran, history)))
    report = board_dir / f"suite-{_safe(suite.name)}.md"
    counts = {s.value: sum(r.status is s for r in results) for s in Status}
    ran = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing"
    report.write_text(f"# Suite: {suite.name}\n\nLast run: {len(results)} job(s) ran "
                      f"({ran}); leaderboards: "
                      + ", ".join(f"[{p.name}]({p.name})" for p in written if p.suffix == ".md")
                      + "\n\n" + to_markdown(found, compared))
    written.append(report)

    out.print(f"Ran {len(results)} job(s): {ran}.", markup=False)
    if found:
        out.print(f"[bold red]{len(found)} regression(s)[/] against the previous ok results:")
        for g in found:
            out.print("  " + g.describe(), markup=False, style="red")
    elif compared:
        out.print(f"No regression: {compared} job(s) compared with their previous ok result.")
    out.print("Written: " + ", ".join(str(p) for p in written), markup=False)
    if found and fail_on_regression:
        err.print(f"harness: {len(found)} regression(s) (--fail-on-regression)",
                  markup=False, highlight=False)
        return EXIT_REGRESSION
    return 0


def _safe(name: str) -> str:
    """The file-name form leaderboard.write gives a dataset name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
