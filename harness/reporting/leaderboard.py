"""From the store to a ranked pandas DataFrame, then to markdown and CSV.

Rows are grouped by (dataset, budget, GPUs, train-set cap) and ranked by mean test
accuracy over folds and seeds. Contenders that produced no ``ok`` row are listed
below the ranked ones, with their status and reason.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import math
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.budget import format_duration
from harness.core.errors import HarnessError
from harness.core.files import usable_dir, write_text_atomic, write_with
from harness.core.jobs import Result, Status
from harness.core.names import safe_name
from harness.reporting.markdown import csv_safe, md_escape, md_table

if TYPE_CHECKING:
    import pandas as pd

    from harness.reporting.kept import Answers

GROUP = ["dataset", "budget_seconds", "gpus", "max_train_per_class"]
PAGES_FILE = ".pages.json"  # page name -> dataset, so that two datasets never share one
OVER_BUDGET = 1.05


@dataclass(frozen=True)
class Reference:
    dataset: str
    kind: str
    accuracy: float
    label: str
    source: str
    url: str = ""
    contender: str = ""


@functools.cache
def _all_references() -> tuple[Reference, ...]:
    # parsed once: ranking a big store asks for them per row
    data = tomllib.loads(Path(__file__).with_name("references.toml").read_text())
    return tuple(Reference(**r) for r in data["reference"])


def references(dataset: str | None = None) -> list[Reference]:
    return [r for r in _all_references() if dataset is None or r.dataset == dataset]


def raw_frame(results: list[Result]) -> pd.DataFrame:
    import pandas as pd

    # a shallow copy of each row: asdict's deep copies of the nested dicts took seconds
    # for a store of 10,000 rows
    frame = pd.DataFrame([{**vars(r), "status": r.status.value, **vars(r.runtime)}
                          for r in results]).drop(columns="runtime", errors="ignore")
    if not frame.empty:
        _name_backends(frame)
        frame["over_budget"] = [r.over_budget for r in results]
        cap = pd.to_numeric(frame["max_train_per_class"], errors="coerce")
        frame["max_train_per_class"] = cap.fillna(0).astype(int)
    return frame


def _name_backends(frame: pd.DataFrame) -> None:
    """A contender trained on several Keras backends is one entry per backend:
    ``keras-cnn6 [jax]``, ``keras-cnn6 [torch]``, ranked, tested and plotted apart."""
    if "backend" not in frame:
        frame["backend"] = None
        return
    backend = frame["backend"].where(frame["backend"].notna(), None)
    several = backend.groupby(frame["contender"]).transform(lambda b: b.dropna().nunique() > 1)
    rename = several & backend.notna()
    if rename.any():
        frame.loc[rename, "contender"] = (frame.loc[rename, "contender"] + " ["
                                          + backend[rename].astype(str) + "]")


def _summary(statuses: list[str]) -> str:
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{s} {n}" for s, n in counts.items())


def rank(results: list[Result], answers: Answers | None = None) -> pd.DataFrame:
    """One row per contender and group, ranked by mean test accuracy (percent).

    ``answers`` says which test images each run got right (for McNemar's test): from
    its job folder where it is here, else from its kept row; a fresh one by default.
    """
    import numpy as np
    import pandas as pd

    from harness.reporting import report
    from harness.scoring.metrics import ECE_BINS

    frame = raw_frame(results)
    if frame.empty:
        return frame
    rows = []
    for keys, g in frame.groupby([*GROUP, "contender"], sort=False, dropna=False):
        ok = g[g["status"] == Status.OK.value]
        first = g.iloc[-1]
        acc = ok["test_accuracy"].astype(float) * 100

        def mean(col: str, data: pd.DataFrame = ok) -> float:
            vals = pd.to_numeric(data[col], errors="coerce").dropna()
            return float(vals.mean()) if len(vals) else math.nan

        not_ok = g[g["status"] != Status.OK.value]
        rows.append({
            **dict(zip([*GROUP, "contender"], keys, strict=True)),
            "family": first["family"],
            "backend": next((b for b in g["backend"] if isinstance(b, str)), None),
            "runs": len(g),
            "ok_runs": len(ok),
            "test_accuracy": float(acc.mean()) if len(ok) else math.nan,
            "test_accuracy_std": float(acc.std(ddof=1)) if len(ok) > 1 else math.nan,
            "test_top5_accuracy": mean("test_top5_accuracy") * 100,
            "test_macro_f1": mean("test_macro_f1"),
            "test_log_loss": mean("test_log_loss"),
            report.ece_column(): mean("test_ece", ok[ok["test_ece_bins"] == ECE_BINS]),
            **_worst_class(ok),
            "train_seconds": mean("train_seconds"),
            "budget_used_pct": mean("train_seconds") / float(keys[1]) * 100,
            "over_budget": bool(ok["over_budget"].any()),
            "time_to_best_seconds": mean("time_to_best_seconds"),
            "setup_seconds": mean("setup_seconds"),
            "latency_p50_ms": mean("latency_p50_ms"),
            "latency_p95_ms": mean("latency_p95_ms"),
            "latency_mean_ms": mean("latency_mean_ms"),
            "throughput_per_s": mean("throughput_per_s"),
            "parameters": mean("parameters"),
            "trainable_parameters": mean("trainable_parameters"),
            "model_bytes": mean("model_bytes"),
            "peak_rss_mb": mean("peak_rss_mb"),
            "status": _summary(list(g["status"])),
            "message": next((m for m in not_ok["message"] if m), "")
            if len(not_ok) else next((m for m in ok["message"] if m), ""),
        })
    table = pd.DataFrame(rows)
    table = table.sort_values(
        [*GROUP, "test_accuracy"], ascending=[True] * len(GROUP) + [False],
        na_position="last", kind="stable",
    ).reset_index(drop=True)
    ranks = table.groupby(GROUP, dropna=False)["test_accuracy"].rank(
        ascending=False, method="min"
    )
    table.insert(0, "rank", ranks.astype("Int64"))
    sota = {r.dataset: r.accuracy for r in references() if r.kind == "sota"}
    table["gap_to_sota_pts"] = [
        acc - sota[d] if d in sota else np.nan
        for d, acc in zip(table["dataset"], table["test_accuracy"], strict=True)
    ]
    table["gap_to_seed_pts"] = [
        _seed_gap(d, c, acc)
        for d, c, acc in zip(table["dataset"], table["contender"], table["test_accuracy"],
                             strict=True)
    ]
    from harness.reporting.kept import Answers
    from harness.scoring.stats import annotate

    return annotate(table, frame, GROUP, predictions=(answers or Answers()).correctness)


def _worst_class(ok: pd.DataFrame) -> dict[str, object]:
    """The class of lowest test accuracy (percent) averaged over a contender's ok runs;
    no class (NaN) where no run scored its classes (rows from before they were)."""
    import pandas as pd

    from harness.scoring.metrics import worst_class

    runs = [a for a in ok["test_class_accuracy"] if isinstance(a, dict) and a]
    if not runs:
        return {"worst_class": math.nan, "worst_class_accuracy": math.nan}
    # per class over runs, in class order; a class no run scored stays NaN
    per_class = pd.DataFrame(runs).apply(pd.to_numeric, errors="coerce").mean()
    name, acc = worst_class({str(k): None if math.isnan(v) else float(v)
                             for k, v in per_class.items()})
    return {"worst_class": math.nan if name is None else name,
            "worst_class_accuracy": math.nan if acc is None else acc * 100}


def _seed_gap(dataset: str, contender: str, accuracy: float) -> float:
    for ref in references(dataset):
        if ref.kind == "seed" and ref.contender and fnmatch.fnmatchcase(contender, ref.contender):
            return accuracy - ref.accuracy
    return math.nan


# -- markdown --------------------------------------------------------------------


def _num(value: float, fmt: str = "{:.1f}", missing: str = "–") -> str:
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) \
        else fmt.format(value)


def _accuracy(row) -> str:
    if math.isnan(row.test_accuracy):
        return "–"
    text = f"{row.test_accuracy:.2f}"
    if not math.isnan(row.test_accuracy_std):
        text += f" ± {row.test_accuracy_std:.2f}"
    return text


def _p_value(row) -> str:
    if row.test == "leader":
        return row.test
    if row.test.startswith("one run alone"):
        return "1 run"
    if isinstance(row.p_value, float) and not math.isnan(row.p_value):
        return ("< 0.001" if row.p_value < 0.001 else f"{row.p_value:.3f}") + \
            (" =" if row.tied else "")
    return md_escape(row.test) or "–"


def _p_test_set(row) -> str:
    if row.test in ("leader", "one run alone"):
        return "leader"
    p = getattr(row, "p_test_set", math.nan)
    if isinstance(p, float) and not math.isnan(p):
        return ("< 0.001" if p < 0.001 else f"{p:.3f}") + (" =" if row.tied_test_set else "")
    return "–"


def main_group(table: pd.DataFrame) -> tuple | None:
    """The keys of the table a page's headline speaks for: of the groups with a leader,
    the largest budget, preferring runs without a train-set cap and on the fewest GPUs
    (the machine most users have); None where no group has a leader."""
    best = None
    for keys, g in table.groupby(GROUP, sort=False, dropna=False):
        if not g["rank"].notna().any():
            continue
        _, budget, gpus, cap = keys
        order = (bool(cap), int(gpus), -float(budget))
        if best is None or order < best[0]:
            best = (order, keys)
    return None if best is None else best[1]


def headline(table: pd.DataFrame) -> list[str]:
    """The verdict of the page's main table (:func:`main_group`), naming its budget."""
    from harness.reporting.verdict import verdict

    if table.empty:
        return []
    keys = main_group(table)
    if keys is None:
        keys = next(iter(table.groupby(GROUP, sort=False, dropna=False).groups))
    _, budget, gpus, cap = keys
    g = table[(table["budget_seconds"] == budget) & (table["gpus"] == gpus)
              & (table["max_train_per_class"] == cap)]
    where = f"At {format_duration(budget)}"
    if table["gpus"].nunique() > 1 or gpus:
        where += f" on {int(gpus)} GPU" + ("s" if gpus != 1 else "")
    if cap:
        where += f" with at most {int(cap)} training images per class"
    several = len(table.groupby(GROUP, sort=False, dropna=False)) > 1
    note = " (each table below has its own verdict)" if several else ""
    return [f"**Verdict.** {where}{note}: {verdict(g)}", ""]


def to_markdown(dataset: str, table: pd.DataFrame, environment: dict | None = None,
                csv_name: str | None = None, sections: dict | None = None,
                budgets_page: str | None = None, provenance: list[str] | None = None) -> str:
    """The page ``leaderboards/<dataset>.md``: ranked tables, then the references.

    ``sections`` maps a group's keys to its :class:`~harness.reporting.report.GroupSection`
    (the overview figure, statistics and curves below its table, the links of its rows).
    """
    from harness.reporting.report import group_title, human_count, human_rate

    out = [f"# Leaderboard: {md_escape(dataset)}", "", *headline(table)]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    env = environment or {}
    out += [
        f"Generated by `harness leaderboard` on {stamp}. "
        "Every contender had the same wall-clock training budget; accuracy is top-1 "
        "on the official test split, computed by the harness from each model's "
        "probabilities (mean ± std over folds and seeds). Every model is timed by the "
        "same code from the same in-memory uint8 images to probabilities: latency p50 "
        "of single images after warm-up, mean latency over the test set one image at a "
        "time (DAWNBench's measure), throughput at batch 256. Params: every weight. "
        "Worst class: the class of lowest test accuracy. Each contender's name links to "
        "its page: every measure (macro-F1, log-loss, calibration, latency p95), its runs "
        "with their job keys, per-class accuracy and its figures; every column is in the "
        "CSV.",
        "",
    ]
    from harness.reporting.report import environment_lines
    from harness.reporting.verdict import verdict

    out += environment_lines(env)
    main_section = (sections or {}).get(main_group(table)) if not table.empty else None
    out += getattr(main_section, "overview", [])
    if budgets_page:
        out += [f"Which approach wins at which budget (crossovers, time to accuracy, cost, "
                f"a recommendation): [{md_escape(budgets_page)}]({budgets_page}).", ""]
    has_sota = bool(table["gap_to_sota_pts"].notna().any())
    has_seed = bool(table["gap_to_seed_pts"].notna().any())
    header = ["Rank", "Contender", "Family", "Test acc. %", "p vs #1", "p test imgs",
              "Train s", "Latency p50 ms", "Throughput", "Params", "Worst class %", "Status"]
    header += ["Gap to SOTA pts"] * has_sota + ["Gap to seed pts"] * has_seed
    align = "rllrrrrrrrll" + "r" * (has_sota + has_seed)
    main = main_group(table)
    for keys, g in table.groupby(GROUP, sort=False, dropna=False):
        _, budget, gpus, cap = keys
        section = (sections or {}).get(keys)
        links = getattr(section, "links", {})
        out += [f"## {group_title(budget, int(gpus), int(cap))}", "",
                f"**Verdict:** {verdict(g)}", ""]
        rows, notes = [], []
        for row in g.itertuples():
            train = _num(row.train_seconds)
            if row.over_budget:
                train += " ⚠"
            if row.message and row.status != Status.OK.value:
                notes.append(f"- **{md_escape(row.contender)}** ({md_escape(row.status)}): "
                             f"{md_escape(row.message)}")
            name = md_escape(row.contender)
            family = md_escape(row.family) + (f" ({md_escape(row.backend)})"
                                              if row.backend else "")
            worst = "–" if not isinstance(row.worst_class, str) else \
                f"{md_escape(row.worst_class)} ({row.worst_class_accuracy:.1f})"
            cells = [
                "–" if row.rank is None or str(row.rank) == "<NA>" else str(row.rank),
                f"[{name}]({links[row.contender]})" if row.contender in links else name,
                family, _accuracy(row), _p_value(row), _p_test_set(row), train,
                _num(row.latency_p50_ms, "{:.2f}"), human_rate(row.throughput_per_s),
                human_count(row.parameters), worst, md_escape(row.status),
            ]
            cells += [_num(row.gap_to_sota_pts, "{:+.2f}")] * has_sota
            cells += [_num(row.gap_to_seed_pts, "{:+.2f}")] * has_seed
            rows.append(cells)
        out += [md_table(header, rows, align), ""]
        if g["over_budget"].any():
            out += ["⚠ trained more than 5 % over its budget: not a fair comparison.", ""]
        if section is not None:
            if keys != main:
                out += section.overview
            out += section.lines
        if notes:
            out += ["### Rows that did not finish", "", *dict.fromkeys(notes), ""]
    out += provenance or []
    refs = references(dataset)
    out += ["## Published references", ""]
    if refs:
        ref_rows = [[
            md_escape(r.kind), md_escape(r.label), f"{r.accuracy:.2f}",
            f"[{md_escape(r.source)}]({r.url})" if r.url else md_escape(r.source),
        ] for r in refs]
        out += [md_table(["Kind", "Result", "Accuracy %", "Source"], ref_rows, "llrl"), ""]
        out += ["Gap to SOTA: the row's accuracy minus the state of the art above; "
                "gap to seed: minus the figure the seed project reported for the "
                "same model.", ""]
    else:
        out += [f"No published reference is recorded for {md_escape(dataset)}.", ""]
    if csv_name:
        out += [f"Table as CSV: [{md_escape(csv_name)}]({csv_name})", ""]
    return "\n".join(out)


def prepare_dir(directory: Path) -> None:
    """Create the leaderboard folder, or say in one line why it cannot be used."""
    usable_dir(directory, "--leaderboard-dir")


def page_name(dataset: str, directory: Path) -> str:
    """The file name (no suffix) of ``dataset``'s page in ``directory``, unique there.

    ``folder:/data/pets`` must not become a path: the safe name. Where another dataset
    already has that name here (``folder:a_b`` and ``folder:a/b``), a short hash of the
    full name keeps them apart; ``.pages.json`` remembers who came first.
    """
    known_file = directory / PAGES_FILE
    try:
        known = json.loads(known_file.read_text())
    except (OSError, ValueError):
        known = {}
    safe = safe_name(dataset)
    if known.get(safe, dataset) != dataset:
        safe = safe_name(dataset, unique=True)
    if known.get(safe) != dataset:
        known[safe] = dataset
        write_text_atomic(known_file, json.dumps(known, indent=1, sort_keys=True))
    return safe


def write(results: list[Result], directory: Path,
          prices: dict[str, float] | None = None) -> list[Path]:
    """Write ``<dataset>.md`` and ``<dataset>.csv`` for every dataset in ``results``,
    the figures in ``<dataset>/`` and the index ``README.md``; a full disk is one line
    (every file is written whole or not at all)."""
    try:
        return _write(results, directory, prices)
    except OSError as exc:
        raise HarnessError(f"cannot write the leaderboards in {directory}: {exc.strerror}; "
                           "free space (the pages are rewritten from the store by "
                           "`harness leaderboard`) or pass --leaderboard-dir") from None


ROWS_SUFFIX = ".results.jsonl"


def kept_rows(path: Path, answers: Answers | None = None) -> list[Result]:
    """The result rows a page was made from, kept beside it (``<page>.results.jsonl``);
    what each carries of its job folder (test answers, curve points) goes to
    ``answers``, for a folder that is not here."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            data = json.loads(line)
            if answers is not None:
                answers.remember(data)
            rows.append(Result.from_dict(data))
    return rows


def merge_rows(kept: list[Result], fresh: list[Result]) -> list[Result]:
    """A page's rows: those kept beside it, each replaced by the store's row of the same
    job where the store has one, then the store's new jobs. Nothing kept is lost."""
    by_key = {r.job_key: r for r in fresh}
    merged = [by_key.pop(r.job_key, r) for r in kept]
    return merged + [r for r in fresh if r.job_key in by_key]


def _write(results: list[Result], directory: Path,
           prices: dict[str, float] | None = None) -> list[Path]:
    from harness.reporting import budgets
    from harness.reporting.figures import FigureCache
    from harness.reporting.kept import Answers
    from harness.reporting.report import group_figures, provenance_lines, write_index

    prepare_dir(directory)
    written = []
    for dataset in sorted({r.dataset for r in results}):
        safe = page_name(dataset, directory)
        # the rows that made the page stay beside it (committed with it): a store that
        # lacks them (a fresh clone's) adds its rows, never erases those
        kept = directory / f"{safe}{ROWS_SUFFIX}"
        answers = Answers()  # this page's: nothing read for another page leaks in
        rows = merge_rows(kept_rows(kept, answers),
                          [r for r in results if r.dataset == dataset])
        table = rank(rows, answers)
        env = next((r.environment for r in reversed(rows) if r.environment), {})
        md, csv = directory / f"{safe}.md", directory / f"{safe}.csv"
        sections, cache = {}, FigureCache(directory / safe)
        for keys, g in table.groupby(GROUP, sort=False, dropna=False):
            group_rows = [r for r in rows if (r.budget_seconds, r.gpus,
                                              r.max_train_per_class or 0) == keys[1:]]
            sections[keys] = group_figures(dataset, keys, g, group_rows, cache, safe)
        pages = budgets.write_page(dataset, table, rows, directory, safe, cache, prices,
                                   references(dataset), answers)
        cache.save(prune=True)
        pages_here = {Path(link).name for sec in sections.values() for link in sec.links.values()}
        for stale in (directory / safe).glob("*.md") if (directory / safe).is_dir() else ():
            if stale.name not in pages_here:
                stale.unlink()  # a model page no row of this page links to any more
        write_text_atomic(md, to_markdown(dataset, table, env, csv_name=csv.name,
                                          sections=sections,
                                          budgets_page=pages[0].name if pages else None,
                                          provenance=provenance_lines(rows)))
        write_with(csv, lambda tmp, table=table: csv_safe(table).to_csv(tmp, index=False))
        write_text_atomic(kept, "".join(json.dumps(answers.portable(r), default=str) + "\n"
                                        for r in rows))
        written += [md, csv, *pages]
    written.append(write_index(directory))
    return written
