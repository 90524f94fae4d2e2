"""What the CLI's commands do, kept apart from argument parsing."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.budget import format_duration
from harness.config import RunConfig
from harness.errors import HarnessError
from harness.results import Job

# Logs and CI get a wide table rather than rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 150)


def _estimates(jobs: list[Job]) -> dict[str, float]:
    from harness.contender import get

    return {j.key: j.budget_seconds + get(j.contender).overhead_seconds for j in jobs}


def print_plan(config: RunConfig, jobs: list[Job], todo: list[Job], slots: list) -> None:
    from harness.store import redact

    est = _estimates(todo)
    out.print(
        f"[bold]Plan[/]: {config.dataset} · {len(config.contenders)} contender(s) × "
        f"{config.folds} fold(s) × {config.seeds} seed(s) = {len(jobs)} job(s), "
        f"{len(jobs) - len(todo)} already done"
    )
    out.print(f"  contenders: {', '.join(config.contenders)}", markup=False)
    wall = sum(est.values()) / len(slots)
    out.print(
        f"  budget {format_duration(config.budget_seconds)} of training per job, "
        f"{format_duration(sum(j.budget_seconds for j in todo) or 0)} in all · "
        f"hard limit {format_duration(config.hard_limit())} · {config.gpus} GPU(s) per job · "
        f"{len(slots)} at a time"
    )
    out.print(f"  estimated wall time: at most {format_duration(wall)} "
              "(a contender may finish before its budget)")
    out.print(f"  store: {redact(config.store_url)} · artifacts: {config.runs_dir}/<job-key>/",
              markup=False)


def run_command(config: RunConfig) -> int:
    from harness import leaderboard
    from harness.executors import execute
    from harness.progress import RichReporter
    from harness.runner import Interrupted, gpu_slots
    from harness.store import Store, redact

    leaderboard.prepare_dir(config.leaderboard_dir)  # fail before training, not after
    # on Ray the cluster's GPUs count, not this machine's
    slots = gpu_slots(config) if config.executor == "local" else [[]]
    store = Store(config.store_url)
    jobs = config.jobs()
    done = set() if config.rerun else store.done_keys([j.key for j in jobs])
    todo = [j for j in jobs if j.key not in done]
    print_plan(config, jobs, todo, slots)
    if todo:
        reporter = RichReporter(todo, _estimates(todo), len(slots), console=err)
        try:
            with reporter:
                execute([(config, todo)], store, reporter, executor=config.executor,
                        address=config.ray_address, cpus_per_job=config.cpus_per_job)
        except Interrupted as exc:
            err.print(
                f"[bold red]Interrupted[/]: workers stopped; {exc.finished} finished job(s) "
                f"kept in {redact(config.store_url)}. Run the same command again to resume: "
                "finished jobs are skipped.", markup=True,
            )
            return 130
    else:
        out.print("Nothing to run: every job is already in the store (--rerun forces).")

    results = store.latest(dataset=config.dataset)
    written = leaderboard.write(results, config.leaderboard_dir)
    table = leaderboard.rank(results)
    mine = table[(table["budget_seconds"] == config.budget_seconds)
                 & (table["gpus"] == config.gpus)
                 & (table["max_train_per_class"] == (config.max_train_per_class or 0))]
    print_ranked(mine, f"{config.dataset} · budget {format_duration(config.budget_seconds)}")
    out.print("Written: " + ", ".join(str(p) for p in written), markup=False)
    return 0


def print_ranked(table, title: str) -> None:
    import math

    t = Table(title=title, title_justify="left")
    for col, just in (("#", "right"), ("contender", "left"), ("family", "left"),
                      ("test acc %", "right"), ("train s", "right"), ("budget", "right"),
                      ("p50 ms", "right"), ("img/s", "right"), ("status", "left")):
        t.add_column(col, justify=just)

    def f(v, fmt):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)

    for r in table.itertuples():
        acc = f(r.test_accuracy, "{:.2f}")
        if not math.isnan(r.test_accuracy_std):
            acc += f" ± {r.test_accuracy_std:.2f}"
        used = f(r.budget_used_pct, "{:.0f} %") + (" ⚠" if r.over_budget else "")
        status = r.status if r.status == "ok" or not r.message else f"{r.status}: {r.message}"
        t.add_row("–" if str(r.rank) == "<NA>" else str(r.rank), r.contender, r.family, acc,
                  f(r.train_seconds, "{:.1f}"), used, f(r.latency_p50_ms, "{:.2f}"),
                  f(r.throughput_per_s, "{:.0f}"), status[:120])
    out.print(t)


def leaderboard_command(store_url: str, dataset: str | None, directory: Path) -> None:
    from harness import leaderboard
    from harness.store import Store

    store = Store(store_url)
    names = [dataset] if dataset else store.datasets()
    if not names:
        raise HarnessError("the store holds no results yet: `harness run` first")
    results = [r for name in names for r in store.latest(dataset=name)]
    if not results:
        raise HarnessError(f"the store holds no results for {dataset!r}")
    written = leaderboard.write(results, directory)
    table = leaderboard.rank(results)
    for keys, g in table.groupby(leaderboard.GROUP, sort=False, dropna=False):
        print_ranked(g, f"{keys[0]} · budget {format_duration(keys[1])} · {keys[2]} GPU(s)")
    out.print("Written: " + ", ".join(str(p) for p in written), markup=False)


def datasets_command(data_dir: Path | None) -> None:
    from harness.data import data_root, dataset_specs

    root = data_dir or data_root()
    t = Table(title="Datasets", title_justify="left")
    for col, just in (("name", "left"), ("classes", "right"), ("image", "left"),
                      ("train", "right"), ("test", "right"), ("cached", "left"),
                      ("description", "left")):
        t.add_column(col, justify=just, overflow="fold")
    for s in dataset_specs():
        where = s.cached(data_dir)
        t.add_row(s.name, str(s.num_classes), "×".join(map(str, s.image_shape)),
                  f"{s.n_train:,}", f"{s.n_test:,}", f"yes: {where}" if where else "no",
                  s.description)
    out.print(t)
    out.print(f"Cache: {root} ({'--data-dir' if data_dir else '$HARNESS_DATA or the default'})."
              " Your own images: --dataset folder:PATH (one sub-folder per class) or "
              "csv:FILE (image and label columns).", markup=False)


def contenders_command(pattern: str) -> None:
    from harness.contender import get, list_contenders

    t = Table(title="Contenders")
    for col in ("name", "family", "default", "needs", "can run here"):
        t.add_column(col)
    for name in list_contenders(pattern):
        cls = get(name)
        why = cls.unavailable()
        needs = ", ".join(cls.requires) or "core"
        if cls.pretrained:
            needs += " + pretrained weights"
        t.add_row(name, cls.family, "yes" if cls.in_default_set else "no", needs,
                  "yes" if why is None else f"no: {why}")
    out.print(t)


def report_command(job: str, runs_dir: Path, store_url: str, out_dir: Path | None) -> None:
    from harness.report import job_page

    page = job_page(find_job(job, runs_dir, store_url), out_dir)
    out.print(f"Written: {page}", markup=False)


def find_job(job: str, runs_dir: Path, store_url: str) -> Path:
    """A job's folder from a path, a key or a key's prefix (runs dir first, then store)."""
    if Path(job).is_dir():
        return Path(job)
    hits = sorted(p for p in runs_dir.glob(f"{job}*") if p.is_dir()) if runs_dir.is_dir() else []
    if not hits:
        from harness.store import Store

        try:
            rows = Store(store_url).latest()
        except HarnessError:
            rows = []
        hits = sorted({Path(r.artifacts) for r in rows
                       if r.job_key.startswith(job) and r.artifacts})
    if len(hits) > 1:
        raise HarnessError(f"job {job!r} is ambiguous: {', '.join(p.name for p in hits[:5])}")
    if not hits or not hits[0].is_dir():
        raise HarnessError(f"no job folder for {job!r} in {runs_dir} or the store: "
                           "pass the folder, its key, or --runs-dir")
    return hits[0]
