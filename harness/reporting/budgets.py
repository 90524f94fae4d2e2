"""Which approach wins at which budget: ``leaderboards/<dataset>-budgets.md`` (+ CSV).

Written when the store holds two or more budgets of a dataset for the same GPU count
(and train-set cap). Every number comes from runs that were each trained from scratch
at their own budget: a Keras contender sizes its learning-rate schedule to the time it
is given, so the 5-minute point of a 30-minute run is not what a 5-minute run reaches.

Budgets are compared only where their runs were made the same way (:class:`Protocol`:
the folds or seeds and their count, the contenders, the test set); where a store mixes
protocols, each is compared within itself and the page says which budgets are not
compared and why. A verdict per budget and GPU count opens the page.

The page has, per GPU count and protocol: accuracy against budget (a figure, log budget axis,
± std over folds and seeds, the leader of each budget marked), the crossover budgets
(where the leader changes, and whether the change is significant), time to accuracy
(the smallest budget that reached a target, and when a run first reached it on its
learning curve), cost (GPU- and CPU-hours per job, money where prices are given,
accuracy against cost with its Pareto front) and a recommendation per budget range.
Also the suite page's standings: win rate and average rank across datasets.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.core.budget import format_duration
from harness.core.jobs import Result, Status
from harness.reporting import figures as fig
from harness.reporting import kept
from harness.reporting.markdown import md_escape, md_table
from harness.reporting.report import BUDGETS_SUFFIX, representative, table_name

if TYPE_CHECKING:
    import pandas as pd

#: the accuracy targets beside the seed projects' figures: these shares of the best seen
TARGET_SHARES = (0.90, 0.95)
SUFFIX = BUDGETS_SUFFIX


def page_stem(safe: str) -> str:
    return f"{safe}{SUFFIX}"


def _fmt(value: float, spec: str = "{:.2f}", missing: str = "–") -> str:
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) \
        else spec.format(value)


def _ranked(g: pd.DataFrame) -> pd.DataFrame:
    return g[g["rank"].notna() & g["test_accuracy"].notna()]


def _leader(g: pd.DataFrame) -> pd.Series | None:
    ranked = _ranked(g)
    return None if ranked.empty else ranked.iloc[0]


def _machines(rows: list[Result]) -> list[str]:
    """Where the rows ran: a wall-clock budget means nothing without the machine."""
    seen = []
    for r in rows:
        env = r.environment or {}
        gpus = ", ".join(g if isinstance(g, str) else str(g) for g in env.get("gpus") or [])
        text = (f"{env.get('cpu', 'an unknown CPU')} ({env.get('cpu_count', '?')} cores), "
                f"{'GPUs: ' + gpus if gpus else 'no GPU'}")
        if env and text not in seen:
            seen.append(text)
    if not seen:
        return []
    return [f"Measured on {'; '.join(seen)}: budgets are wall-clock seconds on that "
            "machine, and another machine reaches other accuracies in them.", ""]


def _distinct(row: pd.Series) -> bool | None:
    """Whether the budget's own table tells a row from its leader: True only where every
    test the table shows for the pair (over runs; over the test images) finds them
    different, False where one marks them not distinguishable (its '='), as the table's
    verdict reads it; None where no test could run."""
    verdicts = []
    for p_name, tied_name in (("p_value", "tied"), ("p_test_set", "tied_test_set")):
        p = row.get(p_name, math.nan)
        if isinstance(p, float) and not math.isnan(p):
            verdicts.append(not bool(row[tied_name]))
    return all(verdicts) if verdicts else None


def _tied_by_all(row: pd.Series) -> bool:
    """Whether every test the table shows for the pair finds them not distinguishable:
    the advice swaps the leader for a faster contender only then."""
    return _distinct(row) is False and not _split(row)


def _split(row: pd.Series) -> bool:
    """Whether the two tests of a row disagree."""
    verdicts = {not bool(row[t]) for p, t in (("p_value", "tied"), ("p_test_set",
                                                                      "tied_test_set"))
                if isinstance(row.get(p, math.nan), float) and not math.isnan(row.get(p))}
    return len(verdicts) == 2


# -- protocols --------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """How one budget's runs were made: two budgets are compared only where it matches."""

    runs: tuple[tuple[int, int], ...]  # distinct (folds, seeds) of its contenders
    tests: tuple[int, ...]  # the test-set sizes its ok runs were scored on
    contenders: tuple[str, ...]  # every contender with a row at the budget

    def describe(self) -> str:
        how = " and ".join(_runs_text(f, s) for f, s in self.runs) or "no run"
        n = len(self.contenders)
        text = f"{how} of {n} contender{'s' if n != 1 else ''}"
        if self.tests:
            text += f", {' / '.join(str(t) for t in self.tests)} test images"
        return text


def _runs_text(folds: int, seeds: int) -> str:
    if folds > 1:
        return f"{folds} folds" + (f" × {seeds} seeds" if seeds > 1 else "")
    return f"{seeds} seeds" if seeds > 1 else "1 run"


def protocols(g: pd.DataFrame, rows: list[Result], gpus: int, cap: int
              ) -> dict[float, Protocol]:
    """Each budget's :class:`Protocol` (``g``: the ranked table of one GPU count and
    cap, ``rows``: the dataset's result rows)."""
    out = {}
    for b, gb in g.groupby("budget_seconds", sort=True):
        mine = [r for r in rows if r.budget_seconds == b and r.gpus == gpus
                and (r.max_train_per_class or 0) == cap]
        per: dict[tuple, tuple[int, set]] = {}
        for r in mine:
            folds, seeds = per.get((r.contender, r.runtime.backend), (1, set()))
            per[(r.contender, r.runtime.backend)] = (max(folds, r.folds or 1), seeds | {r.seed})
        out[float(b)] = Protocol(
            runs=tuple(sorted({(f, len(s)) for f, s in per.values()})),
            tests=tuple(sorted({r.n_test for r in mine if r.status is Status.OK and r.n_test})),
            contenders=tuple(sorted(set(gb["contender"]))))
    if any(not p.tests for p in out.values()):
        # rows from before the test set was recorded: it cannot be told apart
        out = {b: Protocol(p.runs, (), p.contenders) for b, p in out.items()}
    return out


def _differences(protos: list[Protocol]) -> str:
    aspects = [what for what, field in (("folds or seeds", "runs"), ("contenders", "contenders"),
                                        ("test set", "tests"))
               if len({getattr(p, field) for p in protos}) > 1]
    return ", ".join(aspects[:-1]) + (" and " if len(aspects) > 1 else "") + aspects[-1]


def _budget_list(budgets: list[float]) -> str:
    return ", ".join(format_duration(b) for b in budgets)


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _p_text(row: pd.Series) -> str:
    parts = []
    p = row.get("p_value", math.nan)
    if isinstance(p, float) and not math.isnan(p):
        parts.append(f"{_p(p)} over runs, Holm-corrected")
    q = row.get("p_test_set", math.nan)
    if isinstance(q, float) and not math.isnan(q):
        parts.append(f"{_p(q)} on the test images, Holm-corrected")
    return "; ".join(parts) or "no test possible"


# -- cost -------------------------------------------------------------------------------


def job_cost(r: Result, prices: dict[str, float] | None) -> dict[str, float]:
    """Wall seconds of a job (setup, training, evaluation), its GPU- and CPU-hours (the
    GPUs it was given and the cores it could use, for that long) and their price."""
    wall = sum(v for v in (r.setup_seconds, r.train_seconds, r.eval_seconds) if v)
    env = r.environment or {}
    cores = env.get("cpus_available") or env.get("cpu_count") or 1
    gpu_h, cpu_h = r.gpus * wall / 3600, float(cores) * wall / 3600
    money = math.nan
    if prices:
        money = gpu_h * prices.get("gpu", 0.0) + cpu_h * prices.get("cpu", 0.0)
    return {"wall_seconds": wall, "gpu_hours": gpu_h, "cpu_hours": cpu_h, "cost": money}


def _costs(rows: list[Result], prices: dict[str, float] | None) -> dict[tuple, dict]:
    """Mean cost per job of each (contender, budget, GPUs, cap) over its ok runs."""
    acc: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.status is Status.OK:
            key = (r.contender, r.budget_seconds, r.gpus, r.max_train_per_class or 0)
            acc.setdefault(key, []).append(job_cost(r, prices))
    return {k: {m: float(np.mean([c[m] for c in v])) for m in v[0]} for k, v in acc.items()}


# -- time to accuracy -------------------------------------------------------------------


def targets(refs: list, best: float) -> list[tuple[str, float]]:
    """(label, accuracy %): the seed projects' figures (of ``refs``, the dataset's
    published references), then shares of the best accuracy seen."""
    out = [(f"seed: {r.label}", r.accuracy) for r in refs if r.kind == "seed"]
    out += [(f"{share:.0%} of best ({best * share:.2f} %)", best * share)
            for share in TARGET_SHARES if not math.isnan(best)]
    return out


def _first_reach(history: dict[str, np.ndarray] | None, target: float) -> float:
    """Seconds into training at which validation accuracy first reached ``target`` %."""
    if history is None:
        return math.nan
    hit = np.flatnonzero(np.nan_to_num(history["val_accuracy"], nan=-1.0) * 100 >= target)
    return float(history["elapsed_seconds"][hit[0]]) if len(hit) else math.nan


# -- the page ---------------------------------------------------------------------------


def write_page(dataset: str, table: pd.DataFrame, rows: list[Result], directory: Path,
               safe: str, cache: fig.FigureCache, prices: dict[str, float] | None = None,
               refs: list | None = None,
               answers: kept.Answers | None = None) -> list[Path]:
    """Write ``<safe>-budgets.md`` and ``.csv`` when some GPU count has 2+ budgets;
    the figures go to the cache's folder (the dataset page's). Returns what it wrote."""
    import pandas as pd

    from harness.core.files import write_text_atomic, write_with
    from harness.reporting.markdown import csv_safe

    sets = [(keys, g) for keys, g in table.groupby(["gpus", "max_train_per_class"], sort=True)
            if _ranked(g)["budget_seconds"].nunique() >= 2]
    if not sets:
        return []
    stem = page_stem(safe)
    costs = _costs(rows, prices)
    out = [f"# Which approach wins at which budget: {md_escape(dataset)}", "",
           *_verdicts(sets), "",
           f"Back to the leaderboard: [{md_escape(safe)}.md]({safe}.md).", "",
           "Each contender was trained **from scratch at each budget**, not stopped early "
           "in one long run: a contender sizes its schedule (learning rate, epochs, search) "
           "to the time it is given, so the 5-minute point of a 30-minute run is not what "
           "a 5-minute run reaches. Accuracy is top-1 on the official test split, mean ± "
           "std over folds and seeds.", ""]
    out += _machines(rows)
    csv_rows: list[dict[str, Any]] = []
    for (gpus, cap), g in sets:
        title = f"{int(gpus)} GPU" + ("s" if gpus != 1 else "")
        if cap:
            title += f" · at most {int(cap)} training images per class"
        out += [f"## {title}", ""]
        out += _protocol_sections(dataset, g, rows, costs, cache, safe, int(gpus), int(cap),
                                  prices, csv_rows, refs or [], answers or kept.Answers())
    write_text_atomic(directory / f"{stem}.md", "\n".join(out))
    frame = pd.DataFrame(csv_rows)
    write_with(directory / f"{stem}.csv",
               lambda tmp: csv_safe(frame).to_csv(tmp, index=False))
    return [directory / f"{stem}.md", directory / f"{stem}.csv"]


def _verdicts(sets: list) -> list[str]:
    """The verdict of each budget's table, per GPU count and cap, for the page's top."""
    from harness.reporting.verdict import verdict

    several = len(sets) > 1
    out = ["**Verdict per budget** (each from that budget's own table):", ""]
    for (gpus, cap), g in sets:
        where = f" · {int(gpus)} GPU" + ("s" if gpus != 1 else "") if several else ""
        where += f" · at most {int(cap)} images per class" if cap else ""
        for b, gb in g.groupby("budget_seconds", sort=True):
            out.append(f"- **At {format_duration(b)}{where}:** {verdict(gb)}")
    return out


def _protocol_sections(dataset: str, g: pd.DataFrame, rows: list[Result], costs: dict,
                       cache: fig.FigureCache, rel: str, gpus: int, cap: int,
                       prices: dict[str, float] | None, csv_rows: list[dict], refs: list,
                       answers: kept.Answers) -> list[str]:
    """One GPU count's budgets, compared within each protocol; the budgets run another
    way are named, with what differs, and left uncompared."""
    protos = protocols(g, rows, gpus, cap)
    groups: dict[Protocol, list[float]] = {}
    for b, p in protos.items():
        groups.setdefault(p, []).append(b)
    ranked = set(_ranked(g)["budget_seconds"])
    compared = [(p, bs) for p, bs in groups.items() if len(ranked & set(bs)) >= 2]
    out: list[str] = []
    if len(groups) > 1:
        out += ["### Budgets run differently", "",
                "Budgets are compared only where their runs were made the same way (the "
                "same folds or seeds and their count, the same contenders, the same test "
                f"set). These differ in {_differences(list(groups))}, so a change between "
                "them may come from the protocol, not the budget:", ""]
        for p, bs in groups.items():
            alone = "" if any(p == q for q, _ in compared) else " — not compared"
            out.append(f"- {_budget_list(bs)}: {p.describe()}{alone}")
        out.append("")
        if not compared:
            every = ",".join(format_duration(b) for b in protos)
            out += ["No two budgets here were run the same way: no crossover, time to "
                    "accuracy or recommendation is drawn across them. To compare budgets, "
                    f"run them in one command (`harness run --dataset {dataset.replace('`', '')} "
                    f"--budget {every}`), which gives every budget the same folds, seeds and "
                    "contenders.", ""]
    level = "####" if len(groups) > 1 else "###"
    for i, (p, bs) in enumerate(compared):
        if len(groups) > 1:
            out += [f"### Compared: {_budget_list(bs)} ({p.describe()})", ""]
        prefix = f"budgets-{gpus}gpu" + (f"-cap{cap}" if cap else "")
        if len(compared) > 1:
            prefix += f"-protocol{i + 1}"
        sub = g[g["budget_seconds"].isin(bs)]
        out += _section(dataset, sub, rows, costs, cache, rel, gpus, cap, prices, csv_rows,
                        refs, answers, prefix=prefix + "-", level=level,
                        protocol=p.describe())
    return out


def _no_result(g: pd.DataFrame, budgets: list[float]) -> list[str]:
    """'keras-deep: no result at 1m (timeout)' for every contender a budget lacks."""
    out = []
    for name in dict.fromkeys(g["contender"]):
        missing = []
        for b in budgets:
            row = g[(g["contender"] == name) & (g["budget_seconds"] == b)]
            if row.empty:
                missing.append(f"{format_duration(b)} (no run)")
            elif not _ranked(row).shape[0]:
                missing.append(f"{format_duration(b)} ({row.iloc[0]['status']})")
        if missing:
            out.append(f"{md_escape(name)}: no result at {', '.join(missing)}")
    return out


def _section(dataset: str, g: pd.DataFrame, rows: list[Result], costs: dict,
             cache: fig.FigureCache, rel: str, gpus: int, cap: int,
             prices: dict[str, float] | None, csv_rows: list[dict], refs: list,
             answers: kept.Answers, prefix: str, level: str = "###",
             protocol: str = "") -> list[str]:
    budgets = sorted(_ranked(g)["budget_seconds"].unique())
    by_budget = {b: g[g["budget_seconds"] == b] for b in budgets}
    leaders = {b: _leader(by_budget[b]) for b in budgets}
    names = list(dict.fromkeys(_ranked(g).sort_values("test_accuracy", ascending=False,
                                                      kind="stable")["contender"]))
    cell = {(r.contender, r.budget_seconds): r for r in _ranked(g).itertuples()}
    status = {(r.contender, r.budget_seconds): r.status for r in g.itertuples()}
    everyone = names + [n for n in dict.fromkeys(g["contender"]) if n not in names]
    missing = _no_result(g, budgets)
    out: list[str] = []

    # accuracy against budget: a table and its figure
    header = ["Contender", *[format_duration(b) for b in budgets]]
    table_rows = []
    for name in everyone:
        cells = []
        for b in budgets:
            r = cell.get((name, b))
            if r is None:
                cells.append(md_escape(status.get((name, b), "no run")))
                continue
            text = _fmt(r.test_accuracy) + ("" if math.isnan(r.test_accuracy_std)
                                            else f" ± {r.test_accuracy_std:.2f}")
            lead = leaders[b]
            cells.append(f"**{text}** ★" if lead is not None and lead["contender"] == name
                         else text)
        table_rows.append([md_escape(name), *cells])
    out += [f"{level} Accuracy against budget", "",
            md_table(header, table_rows, "l" + "r" * len(budgets)), "",
            "★: the leader at that budget (test accuracy %)."
            + (" A status where a contender has no result: " + "; ".join(missing) + "."
               if missing else ""), ""]
    series = {}
    for name in names:
        pts = [(b, cell[(name, b)].test_accuracy, cell[(name, b)].test_accuracy_std)
               for b in budgets if (name, b) in cell]
        series[name] = ([p[0] for p in pts], [p[1] for p in pts],
                        [0.0 if math.isnan(p[2]) else p[2] for p in pts])
    marks = [(float(b), float(lead["test_accuracy"]), str(lead["contender"]))
             for b, lead in leaders.items() if lead is not None]
    title = f"{dataset} · {gpus} GPU(s): test accuracy against training budget"
    name = cache.draw(f"{prefix}accuracy-vs-budget.png", fig.digest(series, marks, title),
                      fig.budget_curves, series, marks, title)
    out += [f"![accuracy against budget]({rel}/{name})", "",
            "Budget axis in log scale; bars: ± std over folds and seeds; ringed: the "
            "leader of each budget.", ""]

    # crossovers
    out += [f"{level} Crossover budgets", ""]
    changes = []
    for lo, hi in itertools.pairwise(budgets):
        a, b = leaders[lo], leaders[hi]
        if a is None or b is None or a["contender"] == b["contender"]:
            continue
        old = by_budget[hi][by_budget[hi]["contender"] == a["contender"]]
        if old.empty or math.isnan(float(old.iloc[0]["test_accuracy"])):
            why = f" ({old.iloc[0]['status']})" if not old.empty else " (no run)"
            verdict = (f"{md_escape(a['contender'])} has no result at {format_duration(hi)}"
                       f"{md_escape(why)}, so the change is not tested")
        else:
            o = old.iloc[0]
            distinct = _distinct(o)
            gap = float(b["test_accuracy"] - o["test_accuracy"])
            verdict = (f"at {format_duration(hi)} **{md_escape(b['contender'])}** leads "
                       f"{md_escape(a['contender'])} by {gap:+.2f} pts ({_p_text(o)}): "
                       + ("**significant**" if distinct else
                          "no test was possible" if distinct is None else
                          "not significant: that budget's table cannot tell them apart"
                          + (" (its two tests disagree)" if _split(o) else "")))
        changes.append(f"- Between {format_duration(lo)} and {format_duration(hi)} the lead "
                       f"passes from **{md_escape(a['contender'])}** to "
                       f"**{md_escape(b['contender'])}**; {verdict}.")
    if changes:
        out += [*changes, ""]
    else:
        first = leaders[budgets[0]]
        out += [f"The leader is the same at every budget: "
                f"**{md_escape(first['contender'])}**.", ""]

    # time to accuracy
    best = float(_ranked(g)["test_accuracy"].max())
    goals = targets(refs, best)
    by_name: dict[tuple, list[Result]] = {}
    for r in rows:
        if r.gpus == gpus and (r.max_train_per_class or 0) == cap:
            by_name.setdefault((table_name(r, names), r.budget_seconds), []).append(r)
    histories = {}
    for name in names:
        for b in budgets:
            # the median run with a curve: its job folder's, or the one its kept row carries
            rep = representative(by_name.get((name, b), []), answers.has_history)
            if rep is not None:
                histories[(name, b)] = answers.history(rep.artifacts)
    header = ["Contender"]
    for label, _ in goals:
        header += [f"{md_escape(label)}: budget", "in-run s"]
    tta_rows = []
    reach: dict[tuple[str, str], tuple[float, float]] = {}
    for name in names:
        line = [md_escape(name)]
        for label, goal in goals:
            hit = next((b for b in budgets if (name, b) in cell
                        and cell[(name, b)].test_accuracy >= goal), math.nan)
            firsts = [_first_reach(histories.get((name, b)), goal) for b in budgets]
            first = min((f for f in firsts if not math.isnan(f)), default=math.nan)
            reach[(name, label)] = (hit, first)
            line += [format_duration(hit) if not math.isnan(hit) else "not reached",
                     _fmt(first, "{:.1f}")]
        tta_rows.append(line)
    out += [f"{level} Time to accuracy", "",
            md_table(header, tta_rows, "l" + "rr" * len(goals)), "",
            "Budget: the smallest budget whose from-scratch runs reached the target on "
            "average (test accuracy). In-run s: the training seconds at which one run "
            "(the median one of each budget, earliest over the budgets) first reached "
            "the target on its learning curve — validation accuracy, which the "
            "contenders log per epoch; '–' where it never did or logged no curve.", ""]

    # cost
    money = bool(prices)
    header = ["Contender", "Budget", "Test acc. %", "Wall s per job", "GPU-h per job",
              "CPU-h per job"] + (["Cost per job"] if money else [])
    cost_rows, labels, xs, ys = [], [], [], []
    for name in names:
        for b in budgets:
            if (name, b) not in cell:
                continue
            c = costs.get((name, b, gpus, cap))
            if c is None:
                continue
            r = cell[(name, b)]
            cost_rows.append([md_escape(name), format_duration(b), _fmt(r.test_accuracy),
                              _fmt(c["wall_seconds"], "{:.1f}"), _fmt(c["gpu_hours"], "{:.4f}"),
                              _fmt(c["cpu_hours"], "{:.4f}")]
                             + ([_fmt(c["cost"], "{:.4f}")] if money else []))
            x = c["cost"] if money else (c["gpu_hours"] if gpus else c["cpu_hours"])
            if x > 0 and not math.isnan(r.test_accuracy):
                labels.append(f"{name} @ {format_duration(b)}")
                xs.append(float(x))
                ys.append(float(r.test_accuracy))
            csv_rows.append({
                "dataset": dataset, "gpus": gpus, "max_train_per_class": cap,
                "protocol": protocol,
                "contender": name, "budget_seconds": b, "test_accuracy": r.test_accuracy,
                "test_accuracy_std": r.test_accuracy_std, "rank": r.rank,
                "leader": leaders[b] is not None and leaders[b]["contender"] == name,
                **c,
                **{f"budget_to_{label}": reach[(name, label)][0] for label, _ in goals},
                **{f"in_run_seconds_to_{label}": reach[(name, label)][1]
                   for label, _ in goals},
            })
    what = ("money per job" if money else "GPU-hours per job" if gpus else "CPU-hours per job")
    out += [f"{level} Cost", "", md_table(header, cost_rows, "llrrrr" + ("r" if money else "")),
            "",
            "Per job (one fold of one seed): wall time of setup, training and evaluation; "
            "GPU-hours: the GPUs it was given for that long; CPU-hours: the cores it could "
            "use for that long"
            + (f"; cost at {prices.get('gpu', 0):g} per GPU-hour and {prices.get('cpu', 0):g}"
               " per CPU-hour." if money else
               ". Pass `--price gpu=2.5,cpu=0.05` (per hour) for money, as DAWNBench reports "
               "the cost of a run."), ""]
    if xs:
        name = cache.draw(f"{prefix}accuracy-vs-cost.png", fig.digest(labels, xs, ys, what),
                          fig.tradeoff, labels, xs, ys, f"{what} (log)",
                          f"{dataset}: accuracy against {what}")
        out += [f"![accuracy against cost]({rel}/{name})", "",
                "Red: the Pareto front, the (contender, budget) pairs no other beats on "
                "both cost and accuracy.", ""]

    # recommendation
    out += [f"{level} Recommendation", "", *recommend(budgets, by_budget, leaders)]
    out += [f"- Not in the recommendation: {line}." for line in missing] + [""]
    return out


def _key(pick: tuple) -> tuple:
    """A pick's identity: its contender, and the smaller budget it was carried from."""
    b, choice, at, _, _ = pick
    return choice["contender"], (at if at != b else None)


def recommend(budgets: list[float], by_budget: dict, leaders: dict) -> list[str]:
    """One sentence per budget range: what to train there. Never a contender below the
    best accuracy a smaller budget of the same runs reached: with more time one can
    still train that one at its smaller budget."""
    picks = []
    best = None  # (row, budget): the most accurate leader at a smaller budget
    for b in budgets:
        lead = leaders[b]
        if lead is None:
            continue
        ranked = _ranked(by_budget[b])
        tied = [r for _, r in ranked.iloc[1:].iterrows() if _tied_by_all(r)]
        faster = [r for r in tied if not math.isnan(r["latency_p50_ms"])
                  and not math.isnan(lead["latency_p50_ms"])
                  and r["latency_p50_ms"] < lead["latency_p50_ms"]]
        choice, at = (min(faster, key=lambda r: r["latency_p50_ms"]) if faster else lead), b
        if best is not None and choice["test_accuracy"] < best[0]["test_accuracy"]:
            choice, at = (lead, b) if lead["test_accuracy"] >= best[0]["test_accuracy"] \
                else best
        picks.append((b, choice, at, lead, tied))
        if best is None or lead["test_accuracy"] > best[0]["test_accuracy"]:
            best = (lead, b)
    lines = []
    i = 0
    while i < len(picks):
        j = i
        while j + 1 < len(picks) and _key(picks[j + 1]) == _key(picks[i]):
            j += 1
        start, end = picks[i][0], picks[j][0]
        nxt = picks[j + 1][0] if j + 1 < len(picks) else None
        if nxt is not None:
            span = f"With {format_duration(start)} to under {format_duration(nxt)}"
        else:
            span = (f"With {format_duration(start)} or more (measured up to "
                    f"{format_duration(end)})")
        _, choice, at, lead, tied = picks[j]
        name = md_escape(choice["contender"])
        if at != end:
            lines.append(
                f"- {span} of training per fold: train **{name}** with a budget of "
                f"{format_duration(at)} ({choice['test_accuracy']:.2f} % there); the best "
                f"run at {_budget_list([p[0] for p in picks[i:j + 1]])} reached less "
                f"({md_escape(lead['contender'])}: {lead['test_accuracy']:.2f} % at "
                f"{format_duration(end)}).")
            i = j + 1
            continue
        text = (f"- {span} of training per fold: train **{name}** "
                f"({choice['test_accuracy']:.2f} % at {format_duration(end)}")
        if choice["contender"] != lead["contender"]:
            text += (f"; as accurate as the leader {md_escape(lead['contender'])} within the "
                     f"noise, and faster to predict: {choice['latency_p50_ms']:.2f} ms vs "
                     f"{lead['latency_p50_ms']:.2f} ms per image")
        elif tied:
            text += ("; " + ", ".join(md_escape(r["contender"]) for r in tied)
                     + " cannot be told from it: more seeds (`--seeds`) would decide")
        lines.append(text + ").")
        i = j + 1
    return lines


# -- the suite page: standings across datasets ------------------------------------------


def standings(table: pd.DataFrame) -> list[str]:
    """Win rate and average rank of each contender across the datasets, per budget and
    GPU count (``table``: :func:`harness.reporting.leaderboard.rank` of every dataset)."""
    if "rank" not in table:  # no row at all yet: another runner holds every job
        return []
    ranked = table[table["rank"].notna()]
    if ranked.empty:
        return []
    out = ["## Standings across datasets", "",
           "Per budget: on how many of the datasets each contender ranked first (ties "
           "share the win), and its average rank where it ran.", ""]
    for (budget, gpus), g in ranked.groupby(["budget_seconds", "gpus"], sort=True):
        n = g["dataset"].nunique()
        rows = []
        for name, c in g.groupby("contender", sort=False):
            wins = int((c["rank"] == 1).sum())
            rows.append((wins / n, float(c["rank"].astype(float).mean()), name, wins,
                         c["dataset"].nunique()))
        rows.sort(key=lambda r: (-r[0], r[1], r[2]))
        out += [f"### Budget {format_duration(budget)} · {int(gpus)} GPU(s) · {n} dataset(s)",
                "",
                md_table(["Contender", "Wins", "Win rate", "Average rank", "Datasets"],
                         [[md_escape(name), str(wins), f"{rate:.0%}", f"{avg:.2f}", str(k)]
                          for rate, avg, name, wins, k in rows], "lrrrr"), ""]
    return out
