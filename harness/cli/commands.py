"""What the CLI's commands do, kept apart from argument parsing.

``harness run`` and ``harness suite run`` take the same path: a plan
(:mod:`harness.execution.plan`), the one scheduler with the chosen executor
(:mod:`harness.execution.scheduler`), then the leaderboards.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from harness.cli.console import err, out, print_ranked
from harness.core.budget import format_duration
from harness.core.errors import HarnessError
from harness.core.files import usable_dir, write_text_atomic
from harness.core.jobs import Job, Result, Status
from harness.core.names import safe_name

if TYPE_CHECKING:
    from harness.core.config import RunConfig
    from harness.core.context import JobContext
    from harness.execution.plan import Unit
    from harness.execution.scheduler import Executor
    from harness.execution.suite import Suite
    from harness.store import Store

EXIT_INTERRUPTED = 130
EXIT_REGRESSION = 3
#: a job of this run ended error, timeout or oom (its row says why; the run went on)
EXIT_JOBS_FAILED = 4
#: a job could not run for the machine's fault (``infra``), even when tried again
EXIT_INFRA = 5
FAILED = (Status.ERROR, Status.TIMEOUT, Status.OOM)


def outcome(results: list[Result], under_the_table: bool = False) -> int:
    """The exit status a scheduler reads: 0 when every job of this run is ``ok`` or was
    skipped for something this machine lacks (said here), 4 when one failed, 5 when
    one could not run for the machine's fault (``infra``)."""
    skipped = [r for r in results if r.status is Status.SKIPPED]
    failed = [r for r in results if r.status in FAILED]
    if skipped:
        if under_the_table:  # print_ranked put each whole message under its table
            shown = ", ".join(dict.fromkeys(r.contender for r in skipped))
            out.print(f"{len(skipped)} job(s) skipped for what this machine lacks ({shown}): "
                      "the lines under the table say what fixes each", markup=False)
        else:
            out.print(f"{len(skipped)} job(s) skipped for what this machine lacks:",
                      markup=False)
            for name, why in dict.fromkeys((r.contender, r.message) for r in skipped):
                out.print(f"  {name}: {why}", markup=False)
    if failed:
        shown = ", ".join(f"{r.contender} ({r.status.value})" for r in failed[:5])
        err.print(f"harness: {len(failed)} job(s) failed: {shown}; their rows and job "
                  f"folders say why (exit status {EXIT_JOBS_FAILED})", markup=False,
                  highlight=False)
        return EXIT_JOBS_FAILED
    infra = [r for r in results if r.status is Status.INFRA]
    if infra:
        err.print(f"harness: {len(infra)} job(s) could not run, not for their own fault "
                  f"({infra[0].message}); run the same command again (exit status "
                  f"{EXIT_INFRA})", markup=False, highlight=False)
        return EXIT_INFRA
    return 0


def print_plan(config: RunConfig, jobs: list[Job], todo: list[Job], slots: int) -> None:
    from harness.execution.plan import estimates
    from harness.store import redact

    est = estimates(todo)
    out.print(
        f"[bold]Plan[/]: {config.dataset} · {len(config.contenders)} contender(s) × "
        f"{config.folds} fold(s) × {config.seeds} seed(s) = {len(jobs)} job(s), "
        f"{len(jobs) - len(todo)} already done"
    )
    reasons = getattr(config, "reasons", None) or {}
    if reasons:
        out.print("  contenders:", markup=False)
        for name in config.contenders:
            changed = config.params.get(name)
            extra = f" · params {changed}" if changed else ""
            out.print(f"    {name}: {reasons.get(name, 'named')}{extra}", markup=False)
    else:
        out.print(f"  contenders: {', '.join(config.contenders)}", markup=False)
    backends = list(dict.fromkeys(j.backend for j in jobs if j.backend))
    if backends:
        out.print(f"  Keras on {', '.join(backends)} (one job per backend for each Keras "
                  "contender)", markup=False)
    wall = sum(est.values()) / slots
    out.print(
        f"  budget {format_duration(config.budget_seconds)} of training per job, "
        f"{format_duration(sum(j.budget_seconds for j in todo) or 0)} in all · "
        f"hard limit {format_duration(config.hard_limit())} · {config.gpus} GPU(s) per job · "
        f"{slots} at a time"
    )
    out.print(f"  estimated wall time: at most {format_duration(wall)} "
              "(a contender may finish before its budget)")
    out.print(f"  store: {redact(config.store_url)} · artifacts: {config.runs_dir}/<job-key>/",
              markup=False)


def print_data(config: RunConfig, shape, seconds: float) -> None:
    """The plan's data line: the images at their working size, and their cache."""
    from harness.data.registry import get_spec, is_local

    n = shape.n_train + shape.n_test
    what = "x".join(map(str, shape.image_shape))
    if is_local(config.dataset):
        from harness.data.local import cache_folder

        cached = cache_folder(config.dataset, config.data_dir, config.image_size)
    else:
        cached = get_spec(config.dataset).cached(config.data_dir)
    files = list(cached.glob("*.npy")) if cached is not None and cached.is_dir() else []
    where = (f"cached in {sum(p.stat().st_size for p in files) / 2**20:,.0f} MB at {cached}"
             if files else f"from {cached}" if cached is not None else "not cached")
    resized = " (resized in each job)" if config.image_size and not is_local(
        config.dataset) else ""
    out.print(f"  data: {n:,} images at {what}{resized}, {where}; ready in {seconds:.1f} s",
              markup=False)


def recover(runs_dir: Path, store: Store) -> int:
    """Add the rows of finished job folders the store lacks (a store that failed)."""
    from harness.execution.recovery import ingest

    added = ingest(runs_dir, store)
    if added:
        out.print(f"Recovered {added} finished job(s) from their folders in {runs_dir} into "
                  "the store (not trained again).", markup=False)
    return added


def execute(units: list[Unit], store: Store, executor, run_id: str | None = None
            ) -> list[Result] | None:
    """Run the units' jobs through the scheduler with a live display; ``None`` when
    interrupted (after saying so and how to resume)."""
    from harness.cli.progress import RichReporter
    from harness.execution import scheduler
    from harness.execution.plan import estimates
    from harness.store import redact

    todo = [j for u in units for j in u.todo]
    slots = max(executor.slots(u.config) for u in units)
    reporter = RichReporter(todo, estimates(todo), slots, console=err)
    try:
        with reporter:
            return scheduler.run([(u.config, u.todo) for u in units if u.todo], store,
                                 executor, reporter, run_id)
    except scheduler.Interrupted as exc:
        err.print(
            f"[bold red]Interrupted[/]: workers stopped; {exc.finished} finished job(s) "
            f"kept in {redact(store.url)}. Run the same command again to resume: "
            "finished jobs are skipped.", markup=True,
        )
        return None


def preflight(configs: list[RunConfig]) -> Executor:
    """Every check before anything is downloaded or trained, for `harness run` and
    `harness suite run` alike: the executor (GPUs, the Ray cluster, cores per job) and
    the leaderboard folder. Returns the executor."""
    from harness.execution.scheduler import make_executor
    from harness.reporting import leaderboard

    first = configs[0]
    executor = make_executor(first.executor, first.ray_address, first.cpus_per_job)
    executor.check(configs)
    leaderboard.prepare_dir(first.leaderboard_dir)
    return executor


def open_store(configs: list[RunConfig]) -> Store:
    """The runs' store, then each runs folder (after the store: a bad store makes no
    folder), with the finished job folders the store lacks recovered into it."""
    from harness.store import Store

    store = Store(configs[0].store_url)
    for runs_dir in sorted({c.runs_dir for c in configs}):
        usable_dir(runs_dir, "--runs-dir")
        recover(runs_dir, store)
    return store


def run_command(configs: RunConfig | list[RunConfig]) -> int:
    """Run one config, or one per budget of ``--budget 1m,5m`` (the same but the budget)."""
    from harness.data.registry import prepare_dataset
    from harness.execution.plan import (
        check_memory,
        check_one_image_size,
        data_key,
        plan,
        shape_of,
    )
    from harness.reporting import leaderboard

    configs = configs if isinstance(configs, list) else [configs]
    config = configs[0]
    executor = preflight(configs)
    # download and decode once, here where the progress bar shows, before any job starts
    started = time.monotonic()
    data = prepare_dataset(config.dataset, config.data_dir, folds=config.folds,
                           max_per_class=config.max_train_per_class,
                           image_size=config.image_size)
    prepared = time.monotonic() - started
    store = open_store(configs)
    units = plan(configs, store, config.rerun)
    for unit in units:
        print_plan(unit.config, unit.jobs, unit.todo, executor.slots(unit.config))
    shape = shape_of(config, data)
    print_data(config, shape, prepared)
    check_one_image_size(units, store)
    check_memory(units, executor.slots, {data_key(config): shape},
                 local=executor.name == "local")
    ran: list[Result] = []
    if any(u.todo for u in units):
        got = execute([u for u in units if u.todo], store, executor)
        if got is None:
            return EXIT_INTERRUPTED
        ran = got
    else:
        out.print("Nothing to run: every job is already in the store (--rerun forces).")

    results = store.latest(dataset=config.dataset)
    written = leaderboard.write(results, config.leaderboard_dir,
                                prices=config.prices)
    table = leaderboard.rank(results)
    for c in configs:
        mine = table[(table["budget_seconds"] == c.budget_seconds)
                     & (table["gpus"] == c.gpus)
                     & (table["max_train_per_class"] == (c.max_train_per_class or 0))]
        print_ranked(mine, f"{c.dataset} · budget {format_duration(c.budget_seconds)}")
    out.print("Written: " + ", ".join(str(p) for p in written), markup=False)
    keep_models(ran, results, config.keep_models)
    return outcome(ran, under_the_table=True)


def keep_models(ran: list[Result], latest: list[Result], every: bool) -> None:
    """Each table's leading model stays in its job folder (every model with
    --keep-models); the others of this run go. Says how to export the leaders."""
    from harness.execution.models import keep_leaders, leaders, model_dir

    if not every:
        keep_leaders(ran, latest)
    mine = {r.job_key for r in ran}
    for lead in leaders(latest).values():
        if lead.job_key in mine and model_dir(lead) is not None:
            out.print(f"Kept the leader's model ({lead.contender}, "
                      f"{format_duration(lead.budget_seconds)}): `harness export-model "
                      f"{lead.dataset} --budget {format_duration(lead.budget_seconds)} DIR` "
                      "writes it with code that classifies an image.", markup=False)


def leaderboard_command(store_url: str, dataset: str | None, directory: Path,
                        runs_dir: Path = Path("results/runs"),
                        prices: dict[str, float] | None = None) -> None:
    from harness.reporting import leaderboard
    from harness.store import Store

    store = Store(store_url, create=False)  # a page from a store that is not there: none
    recover(runs_dir, store)
    names = [dataset] if dataset else store.datasets()
    if not names:
        raise HarnessError("the store holds no results yet: `harness run` first")
    results = [r for name in names for r in store.latest(dataset=name)]
    if not results:
        raise HarnessError(f"the store holds no results for {dataset!r}")
    written = leaderboard.write(results, directory, prices=prices)
    table = leaderboard.rank(results)
    for keys, g in table.groupby(leaderboard.GROUP, sort=False, dropna=False):
        print_ranked(g, f"{keys[0]} · budget {format_duration(keys[1])} · {keys[2]} GPU(s)")
    out.print("Written: " + ", ".join(str(p) for p in written), markup=False)


def datasets_command(data_dir: Path | None) -> None:
    from harness.data.registry import dataset_specs
    from harness.data.sources import data_root

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


def weights_context(weights_dir: Path | None = None) -> JobContext:
    """The context a pretrained contender's weights are looked up in, as a run would."""
    from harness.core.context import JobContext
    from harness.core.network import offline_reason

    why = offline_reason()
    return JobContext(job_dir=Path("."), weights_dir=weights_dir, offline=bool(why),
                      offline_reason=why)


def contenders_command(pattern: str, weights_dir: Path | None = None) -> None:
    from rich.markup import escape

    from harness.contenders import get, list_contenders
    from harness.contenders.lineups import LINEUPS, default_lineup, lineup, select
    from harness.contenders.lineups import Profile as P

    context = weights_context(weights_dir)
    # where @default's choice can be shown without a dataset: two typical cases
    examples = {"digits 60s": P((8, 8, 1), 10, 60.0), "cifar10 30m 1 GPU": P((32, 32, 3), 10,
                                                                              1800.0, 1)}
    members = {n: [p.name for p in lineup(n)] for n in LINEUPS if n != "@default"}
    members["@default"] = list(dict.fromkeys(p.name for e in examples.values()
                                             for p in default_lineup(e)))
    lineups = Table(title="Lineups (--contenders @NAME)")
    for col in ("lineup", "what", "members"):
        lineups.add_column(col, overflow="fold")
    for n, what in LINEUPS.items():
        shown = members[n] if n != "@all" else ["every contender below"]
        if n == "@default":
            shown = [f"{k}: {', '.join(p.name for p in default_lineup(e))}"
                     for k, e in examples.items()]
            lineups.add_row(n, escape(what), escape("; ".join(shown)))
        else:
            lineups.add_row(n, escape(what), escape(", ".join(shown)))
    if pattern in ("all", "*"):
        out.print(lineups)
    t = Table(title="Contenders")
    for col in ("name", "family", "lineups", "needs", "can run here"):
        t.add_column(col, overflow="fold")
    if not pattern.replace(",", "").strip():
        list_contenders(pattern)  # refuses it, naming what to write
    for name in [p.name for p in select(pattern)]:
        cls = get(name)
        why = cls.unavailable()
        extra = f"harness[{cls.framework.extra}]" if cls.framework.extra else "core"
        needs = escape(" + ".join([extra, *cls.requires]))
        if cls.pretrained:
            needs += " + pretrained weights"
            if why is None:
                state, detail = cls.weights_status(context)
                why = f"weights {detail}" if state == "missing" else None
                needs += f" ({state})"
        t.add_row(name, cls.family,
                  " ".join(n for n in LINEUPS if n != "@all" and name in members[n]), needs,
                  "yes" if why is None else escape(f"no: {why}"))
    out.print(t)


def report_command(job: str, runs_dir: Path, store_url: str, out_dir: Path | None) -> None:
    from harness.reporting.report import job_page

    folder = find_job(job, runs_dir, store_url)
    if out_dir is not None:
        usable_dir(out_dir, "--out", min_free=0)
    try:
        page = job_page(folder, out_dir)
    except OSError as exc:
        where = out_dir or folder
        raise HarnessError(f"cannot write the report in {where}: {exc.strerror or exc}; "
                           "pass --out with a writable folder") from None
    out.print(f"Written: {page}", markup=False)


def find_job(job: str, runs_dir: Path, store_url: str) -> Path:
    """A job's folder from a path, a key or a key's prefix (runs dir first, then store)."""
    if Path(job).is_dir():
        return Path(job)
    hits = sorted(p for p in runs_dir.glob(f"{job}*") if p.is_dir()) if runs_dir.is_dir() else []
    if not hits:
        from harness.store import Store

        try:
            rows = Store(store_url, create=False).latest()
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


# -- suites ------------------------------------------------------------------------------


def print_suite_plan(suite: Suite, units: list[Unit], executor_name: str, slots) -> None:
    """The suite's plan as a table, with the estimated wall time."""
    from harness.execution.plan import estimates
    from harness.store import redact

    t = Table(title=f"Suite {suite.name} ({suite.path})", title_justify="left")
    for col, just in (("dataset", "left"), ("budget", "right"), ("GPUs", "right"),
                      ("contenders", "left"), ("jobs", "right"), ("done", "right"),
                      ("to run", "right"), ("estimate", "right"), ("GPU-hours", "right")):
        t.add_column(col, justify=just, overflow="fold")
    wall = gpu_hours = cpu_hours = 0.0
    for u in units:
        est = sum(estimates(u.todo).values())
        wall += est / max(1, slots(u.config))
        c = u.config
        hours = est * c.gpus / 3600  # every job holds its GPUs for its whole estimate
        gpu_hours += hours
        cpu_hours += est / 3600 if not c.gpus else 0.0
        cap = f" ≤{c.max_train_per_class}/class" if c.max_train_per_class else ""
        t.add_row(c.dataset + cap, format_duration(c.budget_seconds), str(c.gpus),
                  ", ".join(c.contenders), str(len(u.jobs)), str(len(u.jobs) - len(u.todo)),
                  str(len(u.todo)), format_duration(est) if u.todo else "–",
                  f"{hours:.1f}" if u.todo and c.gpus else "–")
    out.print(t)
    total = sum(len(u.jobs) for u in units)
    todo = sum(len(u.todo) for u in units)
    out.print(f"{total} job(s): {total - todo} already done, {todo} to run · estimated wall "
              f"time at most {format_duration(wall) if todo else '0s'} on the {executor_name} "
              f"executor, {gpu_hours:.1f} GPU-hours (a contender may finish before its budget)",
              markup=False)
    prices = getattr(units[0].config, "prices", None) if units else None
    if prices and todo:
        cost = gpu_hours * prices.get("gpu", 0.0) + cpu_hours * prices.get("cpu", 0.0)
        out.print(f"cost at the suite's prices: at most {cost:,.2f} ({gpu_hours:.1f} GPU-hours at "
                  f"{prices.get('gpu', 0.0):g}, {cpu_hours:.1f} CPU-hours at "
                  f"{prices.get('cpu', 0.0):g})", markup=False)
    store = units[0].config.store_url if units else ""
    out.print(f"store: {redact(store)}", markup=False)


def suite_plan_command(path: Path, store_url: str | None, rerun: bool, executor: str) -> int:
    from harness.execution.plan import plan
    from harness.execution.scheduler import make_executor
    from harness.execution.suite import load_suite
    from harness.store import Store, StoreMissing

    suite = load_suite(path)
    configs = suite.configs(store_url=store_url or None)  # an empty $HARNESS_STORE is no URL
    try:  # a plan reads the store and creates nothing: no store yet, nothing done yet
        units = plan(configs, Store(configs[0].store_url, create=False), rerun)
    except StoreMissing:
        units = plan(configs, None, rerun=True)
    # the executor's own estimate of jobs at once (Ray starts nothing until a submit)
    print_suite_plan(suite, units, executor, make_executor(executor).slots)
    return 0


def suite_run_command(path: Path, fail_on_regression: bool = False, **overrides: Any) -> int:
    """Run what the suite still lacks, rewrite its leaderboards, compare with history."""
    from harness.execution.plan import (
        check_memory,
        check_one_image_size,
        plan,
        prepare_data,
    )
    from harness.execution.suite import load_suite

    suite = load_suite(path)
    overrides["store_url"] = overrides.get("store_url") or None  # empty $HARNESS_STORE
    configs = suite.configs(**overrides)
    first = configs[0]
    executor = preflight(configs)
    board_dir = first.leaderboard_dir
    store = open_store(configs)
    units = plan(configs, store, first.rerun)
    print_suite_plan(suite, units, executor.name, executor.slots)
    results: list[Result] = []
    if any(u.todo for u in units):
        shapes = prepare_data(units)
        check_one_image_size(units, store)
        check_memory(units, executor.slots, shapes, local=executor.name == "local")
        got = execute(units, store, executor, uuid.uuid4().hex[:12])
        if got is None:
            return EXIT_INTERRUPTED
        results = got
    else:
        out.print("Nothing to run: every job of the suite is already in the store "
                  "(--rerun forces).")
    code = _suite_report(suite, store, results, board_dir, fail_on_regression,
                         first.prices)
    keep_models(results, [r for d in sorted({b.dataset for b in suite.benchmarks})
                          for r in store.latest(dataset=d)], first.keep_models)
    return code


def _suite_report(suite: Suite, store: Store, results: list[Result], board_dir: Path,
                  fail_on_regression: bool, prices: dict[str, float] | None = None) -> int:
    from harness.reporting import leaderboard
    from harness.reporting.budgets import standings
    from harness.reporting.regressions import compared_count, find_regressions, to_markdown

    history = store.history(sorted({r.job_key for r in results})) if results else []
    found = find_regressions(results, history)
    compared = compared_count(results, history)
    datasets = sorted({b.dataset for b in suite.benchmarks})
    latest = [r for d in datasets for r in store.latest(dataset=d)]
    written = leaderboard.write(latest, board_dir, prices=prices)
    pages = {leaderboard.page_name(d, board_dir): d for d in datasets}
    for md in (p for p in written if p.suffix == ".md" and p.stem in pages):
        # each dataset's page says which of its results got worse in this run
        name = pages[md.stem]
        mine = [g for g in found if g.dataset == name]
        ran = [r for r in results if r.dataset == name]
        with md.open("a") as f:
            f.write("\n" + to_markdown(mine, compared_count(ran, history)))
    report = board_dir / f"suite-{safe_name(suite.name)}.md"
    counts = {s.value: sum(r.status is s for r in results) for s in Status}
    ran = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing"
    write_text_atomic(report, f"# Suite: {suite.name}\n\nLast run: {len(results)} job(s) "
                      f"ran ({ran}); leaderboards: "
                      + ", ".join(f"[{p.name}]({p.name})" for p in written if p.suffix == ".md")
                      + "\n\n" + "\n".join(standings(leaderboard.rank(latest)))
                      + "\n" + to_markdown(found, compared))
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
    return outcome(results)


def export_model_command(dataset: str, directory: Path, budget: float | None,
                         contender: str | None, store_url: str, data_dir: Path | None) -> None:
    from harness.data.registry import load_dataset
    from harness.execution.models import choose, export_model
    from harness.store import Store

    results = Store(store_url, create=False).latest(dataset=dataset)
    if not results:
        raise HarnessError(f"the store holds no results for {dataset!r}: `harness run` first")
    chosen = choose(results, budget, contender)
    data = load_dataset(dataset, data_dir)
    snippet = export_model(chosen, directory, list(data.class_names), data.test.images[0])
    out.print(f"Wrote {chosen.contender} ({chosen.test_accuracy:.2f} %, "
              f"{format_duration(chosen.budget_seconds)}) to {directory}: "
              f"python {snippet} {directory / 'example.png'}", markup=False)


def export_command(store_url: str, path: Path, fmt: str, dataset: str | None) -> None:
    from harness.reporting.export import FORMATS, write_amlb
    from harness.store import Store, redact

    if fmt not in FORMATS:
        raise HarnessError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    results = Store(store_url, create=False).latest(dataset=dataset)
    if not results:
        raise HarnessError(f"{redact(store_url)} holds no results"
                           + (f" for {dataset!r}" if dataset else "") + ": `harness run` first")
    try:
        n = write_amlb(results, path)
    except OSError as exc:
        raise HarnessError(f"cannot write {path}: {exc.strerror}") from None
    out.print(f"Wrote {n} row(s) in the AMLB results.csv layout to {path}", markup=False)
