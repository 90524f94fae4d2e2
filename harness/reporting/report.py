"""The pictures and statistics of the pages: a dataset's leaderboard, one job, the index.

The leaderboard page of a group (dataset, budget, GPUs) shows one representative run
per contender (the ok run of median test accuracy), read from its job folder:
``history.csv``, ``test_predictions.npz``, ``examples.npz`` and, for Keras models,
``explain.npz`` (see :mod:`harness.scoring.examples`). Figures go to a folder beside the page
and are linked relatively, so the page renders where it is committed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.core.budget import format_duration
from harness.core.context import (
    EXAMPLES_FILE,
    EXPLAIN_FILE,
    HISTORY_FILE,
    PREDICTIONS_FILE,
    RESULT_FILE,
)
from harness.core.files import write_text_atomic
from harness.core.jobs import Result, Status
from harness.core.names import safe_name
from harness.reporting import figures as fig
from harness.reporting.markdown import md_escape, md_table
from harness.scoring import stats

if TYPE_CHECKING:
    import pandas as pd

#: ``<dataset>-budgets.md``: the budget page (:mod:`harness.reporting.budgets`)
BUDGETS_SUFFIX = "-budgets"
MANY_CLASSES = 100  # from here on a confusion matrix is unreadable: a table of pairs instead
TOP_PAIRS = 15


def _image(alt: str, link: str) -> str:
    return f"![{md_escape(alt)}]({link})"


def _load(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError):
        return None


def load_history(path: Path) -> dict[str, np.ndarray] | None:
    import csv

    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        return None
    if not rows:
        return None

    def col(name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name) not in (None, "") else np.nan
                         for r in rows])

    return {k: col(k) for k in ("epoch", "elapsed_seconds", "train_loss", "val_loss",
                                "train_accuracy", "val_accuracy")}


def confusion_matrix(proba: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(labels * k + proba.argmax(1), minlength=k * k).reshape(k, k)


def most_confused(matrix: np.ndarray, class_names: list[str], top: int = TOP_PAIRS) -> str:
    """The most frequent (true, predicted) mistakes as a markdown table."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:top]
    rows = [[md_escape(class_names[i]), md_escape(class_names[j]), str(int(off[i, j]))]
            for i, j in zip(*np.unravel_index(flat, off.shape), strict=True) if off[i, j]]
    if not rows:
        return "No mistakes on the test split."
    return md_table(["True class", "Predicted as", "Test images"], rows, "llr")


def class_accuracy_table(result: Result, preds: dict[str, np.ndarray] | None) -> list[str]:
    """Every class's test accuracy, worst first: from the job's test predictions (with
    its images and what it is most often taken for), else from its row; none without."""
    if preds is not None:
        k = preds["proba"].shape[1]
        names = [str(c) for c in preds.get("class_names", [])]
        names = names if len(names) == k else [str(i) for i in range(k)]
        matrix = confusion_matrix(preds["proba"], preds["labels"].astype(int), k)
        support, right = matrix.sum(1), np.diag(matrix)
        off = matrix.copy()
        np.fill_diagonal(off, 0)
        rows = []
        for i in range(k):
            acc = right[i] / support[i] if support[i] else math.nan
            j = int(off[i].argmax())
            taken = f"{md_escape(names[j])} ({int(off[i, j])})" if off[i, j] else "–"
            rows.append((acc, i, [md_escape(names[i]), str(int(support[i])),
                                  str(int(right[i])),
                                  "–" if math.isnan(acc) else f"{acc * 100:.2f}", taken]))
        rows.sort(key=lambda t: (math.isnan(t[0]), t[0], t[1]))
        return [md_table(["Class", "Test images", "Right", "Accuracy %",
                          "Most often taken for (images)"], [r for *_, r in rows], "lrrrl")]
    scored = result.test_class_accuracy or {}
    if not scored:
        return []
    order = sorted(enumerate(scored.items()),
                   key=lambda t: (t[1][1] is None, t[1][1] or 0.0, t[0]))
    return [md_table(["Class", "Accuracy %"],
                     [[md_escape(name), "–" if a is None else f"{a * 100:.2f}"]
                      for _, (name, a) in order], "lr")]


def calibration_figure(result: Result, preds: dict[str, np.ndarray] | None,
                       cache: fig.FigureCache, rel: str, prefix: str,
                       stamp: str) -> list[str]:
    """The reliability diagram of one run's test predictions, with its ECE in words."""
    from harness.scoring.metrics import ECE_BINS, reliability

    if preds is None:
        return []
    bins = ECE_BINS
    rel_bins = reliability(preds["proba"], preds["labels"].astype(int), bins)
    label = result.contender
    name = cache.draw(f"{prefix}reliability.png", fig.digest(stamp, label, bins),
                      fig.reliability, rel_bins.edges, rel_bins.counts, rel_bins.accuracy,
                      rel_bins.confidence, rel_bins.ece,
                      f"{label}: confidence against accuracy on test")
    return [f"Expected calibration error over {bins} equal-width confidence bins: "
            f"**{rel_bins.ece:.3f}** (the gap between a bin's mean confidence and its "
            "accuracy, weighted by its share of the test images; 0 is perfectly "
            "calibrated). Bars below the diagonal: over-confident; above: under-confident.",
            "", _image(f"reliability diagram of {label}", f"{rel}/{name}")]


def table_name(r: Result, names) -> str:
    """The name ``r``'s row has in a ranked table of ``names``: ``keras-cnn6 [jax]``
    where the contender ran on several Keras backends, else its own."""
    named = f"{r.contender} [{r.runtime.backend}]"
    return named if r.runtime.backend and named in names else r.contender


def num(value: Any, spec: str) -> str:
    """``value`` formatted by ``spec``, or ``–`` where there is none (None or NaN)."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else spec.format(value)


def representative(rows: list[Result], usable=None) -> Result | None:
    """The ok run of median test accuracy whose job folder is still there (or, with
    ``usable``, that passes it)."""
    usable = usable or (lambda r: bool(r.artifacts) and Path(r.artifacts).is_dir())
    ok = [r for r in rows if r.status is Status.OK and r.test_accuracy is not None
          and usable(r)]
    if not ok:
        return None
    ok.sort(key=lambda r: (r.test_accuracy, r.fold, r.seed))
    return ok[(len(ok) - 1) // 2]


# -- one model's figures: shared by the dataset page and `harness report` --------------


def model_figures(result: Result, cache: fig.FigureCache, rel: str, prefix: str,
                  class_names: list[str] | None = None) -> dict[str, list[str]]:
    """Markdown blocks by kind (confusion, predictions, gradcam, features) for one run."""
    jobdir = Path(result.artifacts)
    label = result.contender
    out: dict[str, list[str]] = {}
    pred_path = jobdir / PREDICTIONS_FILE
    preds = _load(pred_path)
    names = class_names
    if preds is not None:
        names = [str(c) for c in preds.get("class_names", [])] or names
        k = preds["proba"].shape[1]
        names = names if names and len(names) == k else [str(i) for i in range(k)]
        matrix = confusion_matrix(preds["proba"], preds["labels"].astype(int), k)
        if k >= MANY_CLASSES:
            out["confusion"] = [f"Most-confused pairs of **{md_escape(label)}** "
                                f"({k} classes: too many for a matrix):", "",
                                most_confused(matrix, names)]
        else:
            key = fig.digest(fig.file_stamp(pred_path), label)
            name = cache.draw(f"{prefix}confusion.png", key, fig.confusion, matrix, names,
                              f"{label}: confusion on test")
            out["confusion"] = [_image(f"confusion matrix of {label}", f"{rel}/{name}")]
    names = names or []
    ex_path = jobdir / EXAMPLES_FILE
    ex = _load(ex_path)
    if ex is not None and len(ex["index"]) and names:
        name = cache.draw(f"{prefix}predictions.png", fig.digest(fig.file_stamp(ex_path), label),
                          fig.prediction_grid, ex["images"], ex["labels"].astype(int),
                          ex["pred"].astype(int), ex["confidence"], ex["correct"].astype(bool),
                          names, f"{label}: correct (top) and wrong (bottom) test predictions")
        out["predictions"] = [_image(f"test predictions of {label}", f"{rel}/{name}")]
    xp_path = jobdir / EXPLAIN_FILE
    xp = _load(xp_path)
    if xp is not None and names:
        stamp = fig.digest(fig.file_stamp(xp_path), fig.file_stamp(ex_path), label)
        if "gradcam" in xp and xp["gradcam"].shape[1:3] == (1, 1):
            out["gradcam"] = [f"{md_escape(label)}: its last feature map is 1×1 at this "
                              "input size, so Grad-CAM cannot say where it looked."]
        elif "gradcam" in xp and ex is not None and "explained_labels" in ex:
            name = cache.draw(f"{prefix}gradcam.png", stamp, fig.gradcam, xp["images"],
                              xp["gradcam"], ex["explained_labels"].astype(int),
                              xp["pred"].astype(int), names,
                              f"{label}: where it looked (Grad-CAM), "
                              "predicted class above, true class where it differs")
            out["gradcam"] = [_image(f"Grad-CAM of {label}", f"{rel}/{name}")]
        elif str(xp.get("notes", "")):
            out["gradcam"] = [md_escape(f"{label}: {xp['notes']}")]
        maps = [xp[f"features_{i}"] for i in range(8) if f"features_{i}" in xp]
        if maps:
            layer_names = [str(xp[f"features_{i}_name"]) for i in range(len(maps))]
            name = cache.draw(f"{prefix}features.png", stamp, fig.feature_maps, maps,
                              layer_names, f"{label}: feature maps of the first test image "
                              "above, first convolutional layers")
            out["features"] = [_image(f"feature maps of {label}", f"{rel}/{name}")]
    return out


#: the per-model figures by kind: (file suffix, alt text), as :func:`model_figures` links them
MODEL_FIGURES = {"confusion": ("confusion.png", "confusion matrix of"),
                 "predictions": ("predictions.png", "test predictions of"),
                 "gradcam": ("gradcam.png", "Grad-CAM of"),
                 "features": ("features.png", "feature maps of")}


def kept_model_figures(cache: fig.FigureCache, rel: str, prefix: str,
                       label: str) -> dict[str, list[str]]:
    """The blocks of :func:`model_figures` for a run whose job folder is not here (a
    committed page's kept row): the figures drawn when it was, where they still are."""
    return {kind: [_image(f"{alt} {label}", f"{rel}/{prefix}{suffix}")]
            for kind, (suffix, alt) in MODEL_FIGURES.items()
            if cache.kept(f"{prefix}{suffix}")}


def _curves(reps: dict[str, Result]) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    hist, stamps = {}, []
    for name, r in reps.items():
        path = Path(r.artifacts) / HISTORY_FILE
        stamps.append(fig.file_stamp(path))
        h = load_history(path)
        if h is not None:
            hist[name] = h
    return hist, stamps


def curve_figures(reps: dict[str, Result], budget: float, cache: fig.FigureCache, rel: str,
                  prefix: str, title: str,
                  kinds: tuple[str, ...] = ("anytime", "losses")) -> list[str]:
    """The anytime curves and (of ``kinds``) the loss panels of the runs in ``reps``."""
    stamps = [fig.file_stamp(Path(r.artifacts) / HISTORY_FILE) for r in reps.values()]
    key = fig.digest(sorted(reps), stamps, budget, title)
    alts = {"anytime": "validation accuracy while training",
            "losses": "training and validation loss per epoch"}
    if all(cache.fresh(f"{prefix}{k}.png", key) for k in kinds):
        # known from the cache: which files exist says which figures there are
        return [line for k in kinds for line in (_image(alts[k], f"{rel}/{prefix}{k}.png"), "")]
    hist, _ = _curves(reps)
    out = []
    anytime = {n: (h["elapsed_seconds"], h["val_accuracy"]) for n, h in hist.items()
               if np.isfinite(h["val_accuracy"]).any()}
    if anytime and "anytime" in kinds:
        cache.draw(f"{prefix}anytime.png", key, fig.anytime, anytime, budget,
                   f"{title}: validation accuracy while training")
        out += [_image(alts["anytime"], f"{rel}/{prefix}anytime.png"), ""]
    loss = {n: h for n, h in hist.items()
            if np.isfinite(h["train_loss"]).any() or np.isfinite(h["val_loss"]).any()}
    if loss and "losses" in kinds:
        cache.draw(f"{prefix}losses.png", key, fig.losses, loss,
                   f"{title}: loss per epoch (solid: training, dashed: validation)")
        out += [_image(alts["losses"], f"{rel}/{prefix}losses.png"), ""]
    return out


# -- the dataset page ---------------------------------------------------------------


def statistics_note(g: pd.DataFrame) -> list[str]:
    ranked = g[g["rank"].notna()]
    if ranked.empty:
        return []
    k = len(ranked) - 1
    holm = (f"Holm-corrected for the {k} comparisons with the leader" if k > 1
            else "Holm-corrected for the one comparison with the leader (no change)")
    tied_imgs = [md_escape(c) for c, t in zip(ranked["contender"], ranked["tied_test_set"],
                                               strict=True) if t]
    images = ("p test imgs: McNemar's mid-p test on the official test images that one of "
              "the two models classified right and the other wrong (one pair of runs: the "
              f"same fold and seed where both have it), {holm}. It says whether these two "
              "trained models differ on these images, not whether another training run "
              "would; **=** marks those not distinguishable from the leader at α = 0.05")
    images += f": {', '.join(tied_imgs)}." if tied_imgs else "; none is."
    if int(ranked.iloc[0]["ok_runs"]) < 2:
        return ["**One run per contender**: no test over runs is possible (p vs #1), and "
                "a difference of a point or two may be the luck of one training run. Run "
                "with `--folds 3` or `--seeds 3` to know.", "", images, ""]
    tests = sorted({t for t in ranked["test"] if t not in ("", "leader", "one run alone")})
    tied = [md_escape(c) for c, t in zip(ranked["contender"], ranked["tied"], strict=True) if t]
    why = (" (Nadeau and Bengio's correction: K-fold's training sets overlap, so a plain "
           "t-test would be far too confident)" if stats.CORRECTED in tests else "")
    text = (f"p vs #1: two-sided {' / '.join(tests) or 'paired test'} of each contender "
            f"against the leader over the runs they share{why}, {holm}. **=** marks "
            f"contenders not distinguishable from the leader at α = 0.05")
    text += f": {', '.join(tied)}." if tied else "; none is."
    return [text, "", images, ""]


@dataclass
class GroupSection:
    """What the dataset page shows of one group besides its table: ``lines`` below the
    table, ``overview`` (its overview figure, shown at the top where the group is the
    page's main one), ``links`` (contender to its model page, relative to the page)."""

    lines: list[str] = field(default_factory=list)
    overview: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)


def group_prefix(budget: float, gpus: int, cap: int) -> str:
    name = f"{format_duration(budget)}-{int(gpus)}gpu" + (f"-cap{cap}" if cap else "")
    return safe_name(name, unique=True) + "-"


def overview_figure(dataset: str, budget: float, ok: pd.DataFrame, cache: fig.FigureCache,
                    rel: str, prefix: str) -> list[str]:
    """The group's overview: accuracy ± spread against training time and latency."""
    ok = ok[ok["test_accuracy"].notna()]
    if ok.empty:
        return []

    import pandas as pd

    def col(name: str) -> list[float]:
        return [float(v) for v in pd.to_numeric(ok[name], errors="coerce")]

    args = (list(ok["contender"]), col("test_accuracy"), col("test_accuracy_std"),
            col("train_seconds"), col("latency_p50_ms"))
    title = f"{dataset} · {format_duration(budget)}: accuracy against training time and latency"
    palette = sorted(ok["contender"])
    name = cache.draw(f"{prefix}overview.png", fig.digest(args, title), fig.overview, *args,
                      title, palette=palette)
    return [_image(f"accuracy against training time and latency at "
                   f"{format_duration(budget)}", f"{rel}/{name}"), "",
            "Each contender's mean test accuracy (bars: ± std over its runs) against its "
            "training seconds and its single-image latency p50; the red line joins the "
            "Pareto front, the contenders no other beats on both axes.", ""]


def group_figures(dataset: str, keys: tuple, table: pd.DataFrame, rows: list[Result],
                  cache: fig.FigureCache, rel: str) -> GroupSection:
    """One group's section of the dataset page (overview figure, significance, learning
    curves) and its model pages, each written beside its figures in ``rel``."""
    _, budget, gpus, cap = keys
    prefix = group_prefix(budget, int(gpus), int(cap))
    title = f"{dataset} · {format_duration(budget)}"
    ok = table[table["ok_runs"] > 0]
    section = GroupSection()
    section.overview = overview_figure(dataset, budget, ok, cache, rel, prefix)
    section.lines = [*statistics_note(table)]
    by_name: dict[str, list[Result]] = {}
    names = set(table["contender"])
    for r in rows:
        by_name.setdefault(table_name(r, names), []).append(r)
    reps = {c: rep for c in ok["contender"] if (rep := representative(by_name.get(c, [])))}
    curves = []
    if reps:
        curves = curve_figures(reps, budget, cache, rel, prefix, title, kinds=("anytime",))
    elif cache.kept(f"{prefix}anytime.png"):
        # runs whose job folders are elsewhere (a committed page's kept rows, rebuilt on
        # a fresh clone) keep the figure drawn when they were here: nothing is erased
        curves = [_image("anytime curves", f"{rel}/{prefix}anytime.png"), ""]
    if curves:
        section.lines += ["### Validation accuracy while training", "",
                          "One run per contender (the run of median test accuracy); the "
                          "dashed line is the budget.", "", *curves, ""]
    for row in table.itertuples():
        runs = by_name.get(row.contender, [])
        if not runs:
            continue
        model = _model_prefix(prefix, row.contender)
        page = model_page(dataset, keys, row, runs, reps.get(row.contender), cache, model)
        cache.directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cache.directory / f"{model[:-1]}.md", "\n".join(page))
        section.links[row.contender] = f"{rel}/{model[:-1]}.md"
    return section


def model_page(dataset: str, keys: tuple, row: Any, runs: list[Result], rep: Result | None,
               cache: fig.FigureCache, prefix: str) -> list[str]:
    """One contender's page in one group: every measure of its row, its runs (with the
    command that writes a run's own report), its per-class accuracy, calibration,
    learning curves and the figures of its representative run."""
    _, budget, gpus, cap = keys
    label = row.contender
    lines = [f"# {md_escape(label)} on {md_escape(dataset)} · "
             f"{group_title(budget, int(gpus), int(cap))}", "",
             f"Rank {'–' if str(row.rank) == '<NA>' else row.rank} on the dataset's page; "
             f"status {md_escape(row.status)}"
             + (f": {md_escape(row.message)}" if row.message else "") + ".", ""]

    acc = num(row.test_accuracy, "{:.2f}")
    if acc != "–" and not math.isnan(row.test_accuracy_std):
        acc += f" ± {row.test_accuracy_std:.2f}"
    measures = [
        ("Test accuracy % (± std over runs)", acc),
        ("Test top-5 %", num(row.test_top5_accuracy, "{:.2f}")),
        ("Macro-F1", num(row.test_macro_f1, "{:.3f}")),
        ("Log-loss", num(row.test_log_loss, "{:.3f}")),
        ("Expected calibration error", num(getattr(row, ece_column()), "{:.3f}")),
        ("Worst class (accuracy %)", "–" if not isinstance(row.worst_class, str) else
         f"{md_escape(row.worst_class)} ({row.worst_class_accuracy:.2f})"),
        ("Train s (share of the budget)", f"{num(row.train_seconds, '{:.1f}')} "
                                          f"({num(row.budget_used_pct, '{:.0f} %')})"),
        ("Time to best s", num(row.time_to_best_seconds, "{:.1f}")),
        ("Setup s", num(row.setup_seconds, "{:.1f}")),
        ("Latency p50 / p95 ms", f"{num(row.latency_p50_ms, '{:.2f}')} / "
                                 f"{num(row.latency_p95_ms, '{:.2f}')}"),
        ("Latency mean ms (test set, one image at a time)", num(row.latency_mean_ms,
                                                                 "{:.2f}")),
        ("Throughput at batch 256", human_rate(row.throughput_per_s)),
        ("Parameters (all / trainable)", f"{human_count(row.parameters)} / "
                                         f"{human_count(row.trainable_parameters)}"),
        ("Peak host memory MB", num(row.peak_rss_mb, "{:.0f}")),
        ("Family · Keras backend", f"{md_escape(row.family)} · "
                                   f"{md_escape(row.backend or '–')}"),
        ("Images trained at (height × width × channels)", trained_at(runs)),
    ]
    lines += [md_table(["Measure (mean over its ok runs)", "Value"],
                       [[a, b] for a, b in measures], "lr"), ""]
    run_rows = [[f"`{r.job_key}`", str(r.fold + 1), str(r.seed), md_escape(r.status.value),
                 num(r.test_accuracy and r.test_accuracy * 100, "{:.2f}"),
                 num(r.train_seconds, "{:.1f}")] for r in runs]
    lines += ["## Runs", "", md_table(["Job", "Fold", "Seed", "Status", "Test acc. %",
                                       "Train s"], run_rows, "lrrlrr"), ""]
    shown = rep or representative(runs, usable=lambda r: True)
    if shown is not None:
        lines += [f"The figures below are of job `{shown.job_key}` (the run of median test "
                  f"accuracy). `harness report {shown.job_key}` writes every figure of a "
                  "run on the machine that holds its job folder.", ""]
    preds = _load(Path(rep.artifacts) / PREDICTIONS_FILE) if rep is not None else None
    table = class_accuracy_table(shown, preds) if shown is not None else []
    if table:
        lines += ["## Per-class accuracy", "",
                  f"Each class's test accuracy (its recall) in job `{shown.job_key}`, "
                  "worst first.", "", *table, ""]
    if rep is not None:
        calibration = calibration_figure(rep, preds, cache, ".", prefix,
                                         fig.file_stamp(Path(rep.artifacts) / PREDICTIONS_FILE))
        curves = curve_figures({label: rep}, budget, cache, ".", prefix, label)
        blocks = model_figures(rep, cache, ".", prefix)
    else:  # its job folder is elsewhere: the figures drawn when it was here
        calibration = [_image(f"reliability diagram of {label}", f"./{prefix}reliability.png")] \
            if cache.kept(f"{prefix}reliability.png") else []
        curves = [_image(alt, f"./{prefix}{name}") for name, alt in
                  (("anytime.png", "anytime curve"), ("losses.png", "loss per epoch"))
                  if cache.kept(f"{prefix}{name}")]
        blocks = kept_model_figures(cache, ".", prefix, label)
        if calibration or curves or blocks:
            lines += ["The figures were drawn when the job folder was on the machine that "
                      "made this page, and are kept as drawn.", ""]
    if calibration:
        lines += ["## Calibration", "", *calibration, ""]
    if curves:
        lines += ["## Learning curves", "", *curves, ""]
    for kind, heading in (("confusion", "Confusion matrix"),
                          ("predictions", "Correct and wrong test predictions"),
                          ("gradcam", "Where it looked (Grad-CAM)"),
                          ("features", "Feature maps after the first convolutions")):
        if kind in blocks:
            lines += [f"## {heading}", "", *blocks[kind], ""]
    return lines


def ece_column() -> str:
    """The table's calibration column, named with its bin count: ``test_ece_15bins``."""
    from harness.scoring.metrics import ECE_BINS

    return f"test_ece_{ECE_BINS}bins"


def group_title(budget: float, gpus: int, cap: int) -> str:
    """``Budget 30s · 0 GPUs``: the heading of a group's table."""
    gpu = f"{gpus} GPU" + ("s" if gpus != 1 else "")
    title = f"Budget {format_duration(budget)} · {gpu}"
    if cap:
        title += f" · at most {cap} training images per class"
    return title


def human_count(n: Any) -> str:
    """``354.7 k``, ``1.59 M``: a count as people read it."""
    try:
        n = float(n)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(n):
        return "–"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f}"


def human_rate(n: Any) -> str:
    """``1.59 M img/s``."""
    text = human_count(n)
    return text if text == "–" else f"{text} img/s"


def _model_prefix(prefix: str, contender: str) -> str:
    return f"{prefix}{safe_name(contender, unique=True)}-"


# -- one job's page -----------------------------------------------------------------


def job_page(jobdir: Path, out_dir: Path | None = None) -> Path:
    """Write ``report.md`` (default: in the job folder) with every figure of one job."""
    from harness.core.errors import HarnessError

    try:
        data = json.loads((jobdir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        raise HarnessError(f"{jobdir} holds no result.json: is it a finished job?") from None
    data.setdefault("family", "unknown")
    result = Result.from_dict({**data, "artifacts": str(jobdir)})
    out_dir = out_dir or jobdir
    out_dir.mkdir(parents=True, exist_ok=True)
    rel = "figures"
    cache = fig.FigureCache(out_dir / rel)
    r = result
    fold = f"fold {r.fold + 1}/{r.folds}, " if r.folds > 1 else ""
    lines = [f"# Job {md_escape(r.job_key)}: {md_escape(r.contender)} on {md_escape(r.dataset)}",
             "", f"{fold}seed {r.seed}, budget {format_duration(r.budget_seconds)}, "
             f"{r.gpus} GPU(s). Status: **{md_escape(r.status.value)}**"
             + (f": {md_escape(r.message)}" if r.message else ""), ""]

    from harness.scoring import metrics as scoring

    pred_path = jobdir / PREDICTIONS_FILE
    preds = _load(pred_path)
    if preds is not None and (r.test_ece is None or r.test_class_accuracy is None):
        # a row from before these were scored: the same code, from its predictions
        proba, labels = preds["proba"], preds["labels"].astype(int)
        names = [str(c) for c in preds.get("class_names", [])]
        r = replace(r, test_ece=scoring.reliability(proba, labels).ece,
                    test_ece_bins=scoring.ECE_BINS,
                    test_class_accuracy=scoring.class_accuracy(
                        labels, proba.argmax(1), proba.shape[1], names))
    worst, worst_acc = scoring.worst_class(r.test_class_accuracy)
    bins = r.test_ece_bins or scoring.ECE_BINS

    metrics = [("Test accuracy %", num(r.test_accuracy and r.test_accuracy * 100, "{:.2f}")),
               ("Test top-5 %", num(r.test_top5_accuracy and r.test_top5_accuracy * 100,
                                    "{:.2f}")),
               ("Macro-F1", num(r.test_macro_f1, "{:.3f}")),
               ("Log-loss", num(r.test_log_loss, "{:.3f}")),
               (f"Expected calibration error ({bins} bins)", num(r.test_ece, "{:.3f}")),
               ("Worst class (accuracy %)", "–" if worst is None else
                f"{md_escape(worst)} ({worst_acc * 100:.2f})"),
               ("Validation accuracy %", num(r.val_accuracy and r.val_accuracy * 100, "{:.2f}")),
               ("Setup s", num(r.setup_seconds, "{:.1f}")),
               ("Train s", num(r.train_seconds, "{:.1f}")),
               ("Time to best s", num(r.time_to_best_seconds, "{:.1f}")),
               ("Epochs", num(r.epochs, "{}")),
               ("Latency p50 / p95 ms", f"{num(r.latency_p50_ms, '{:.2f}')} / "
                                        f"{num(r.latency_p95_ms, '{:.2f}')}"),
               ("Latency mean ms, test set one image at a time",
                f"{num(r.latency_mean_ms, '{:.2f}')} over {num(r.latency_images, '{}')} images"),
               ("Throughput img/s", num(r.throughput_per_s, "{:.0f}")),
               ("Parameters (all / trainable)", f"{num(r.parameters, '{:,}')} / "
                                                f"{num(r.trainable_parameters, '{:,}')}"),
               ("Peak host memory MB", num(r.peak_rss_mb, "{:.0f}"))]
    lines += [md_table(["Measure", "Value"], [[a, b] for a, b in metrics], "lr"), ""]
    lines += environment_lines(r.environment)
    table = class_accuracy_table(r, preds)
    if table:
        lines += ["## Per-class accuracy", "",
                  "Each class's test accuracy (its recall), worst first.", "", *table, ""]
    calibration = calibration_figure(r, preds, cache, rel, "", fig.file_stamp(pred_path))
    if calibration:
        lines += ["## Calibration", "", *calibration, ""]
    curves = curve_figures({r.contender: r}, r.budget_seconds, cache, rel, "", r.contender)
    if curves:
        lines += ["## Learning curve", "", *curves, ""]
    blocks = model_figures(r, cache, rel, "")
    for kind, heading in (("confusion", "Confusion matrix"),
                          ("predictions", "Correct and wrong test predictions"),
                          ("gradcam", "Grad-CAM"), ("features", "Feature maps")):
        if kind in blocks:
            lines += [f"## {heading}", "", *blocks[kind], ""]
    cache.save(prune=True)
    page = out_dir / "report.md"
    write_text_atomic(page, "\n".join(lines))
    return page


def trained_at(runs: list[Result]) -> str:
    """The image sizes the runs trained at (the contender's own size, at or below the
    dataset's working size), each once."""
    shapes = dict.fromkeys(" × ".join(map(str, r.image_shape)) for r in runs
                           if r.image_shape)
    return ", ".join(shapes) or "–"


def environment_lines(env: dict[str, Any]) -> list[str]:
    """Hardware and versions, one line, for every page."""
    if not env:
        return []
    machine = env.get("cpu") or "unknown CPU"
    if env.get("cpu_count"):
        machine += f" ({env['cpu_count']} cores)"
    if env.get("gpus"):
        machine += " · " + ", ".join(env["gpus"])
    versions = [f"Python {env['python']}"] if env.get("python") else []
    versions += [f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v]
    commit = f", harness commit {str(env['git_commit'])[:10]}" if env.get("git_commit") else ""
    return [f"Ran on {md_escape(machine)} with {md_escape(', '.join(versions))}{commit}.", ""]


def provenance(r: Result) -> tuple[str, ...]:
    """What a row was measured on, as a reviewer would check it: GPU model, driver,
    CUDA, GPU memory, host RAM, precision, Keras backend, deterministic ops, threads."""
    env = r.environment or {}
    gpus = env.get("gpu_details") or []
    names = ", ".join(dict.fromkeys(g.get("name", "?") for g in gpus)) or \
        ", ".join(env.get("gpus") or []) or "none"
    memory = ", ".join(dict.fromkeys(f"{g['memory_mb'] / 1024:.0f} GiB" for g in gpus
                                     if g.get("memory_mb"))) or "–"
    ram = env.get("host_ram_gb")
    deterministic = env.get("deterministic")

    def text(value: Any) -> str:
        return "–" if value in (None, "") else str(value)

    # rows of older versions said their backend in the environment only
    return (names, text(env.get("gpu_driver")), text(env.get("cuda")), memory,
            "–" if ram is None else f"{ram:.0f} GB",
            text(r.runtime.precision or (r.description or {}).get("precision")),
            text(r.runtime.backend or env.get("keras_backend")),
            "–" if deterministic is None else ("on" if deterministic else "off"),
            text(env.get("threads")))


PROVENANCE_HEADER = ["GPU", "Driver", "CUDA", "GPU memory", "Host RAM", "Precision",
                     "Keras backend", "Deterministic ops", "Threads", "Rows"]


def provenance_lines(rows: list[Result]) -> list[str]:
    """The page's provenance: each distinct setup its rows ran on, and what varies."""
    counts: dict[tuple, int] = {}
    for r in rows:
        if r.status is Status.OK:
            key = provenance(r)
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return []
    table = [[md_escape(c) for c in key] + [str(n)] for key, n in counts.items()]
    return ["## Provenance", "",
            md_table(PROVENANCE_HEADER, table, "l" * 9 + "r"), "",
            "What varies from run to run, and why: on a GPU, cuDNN and atomic adds pick "
            "kernels and summation orders at run time, so two runs with the same seed "
            "differ in their last digits unless deterministic ops are on (and then they "
            "are slower); on a CPU, the number of threads changes the order of "
            "floating-point sums the same way. The training budget is wall-clock time, so "
            "a busier or slower machine trains fewer epochs in it; and each seed draws "
            "its own validation split and initial weights. The spread over seeds and "
            "folds (± std) is the measure of it; compare rows from different setups "
            "above with care.", ""]


# -- leaderboards/README.md ---------------------------------------------------------


def write_index(directory: Path) -> Path:
    """``README.md``: one line per dataset page in ``directory``, its best per budget."""
    import pandas as pd

    rows = []
    for csv in sorted(directory.glob("*.csv")):
        md = csv.with_suffix(".md")
        if csv.stem.endswith(BUDGETS_SUFFIX) and \
                (directory / f"{csv.stem[:-len(BUDGETS_SUFFIX)]}.md").is_file():
            continue  # a budget page: linked from its dataset's line
        try:
            t = pd.read_csv(csv)
        except (OSError, ValueError, pd.errors.EmptyDataError):
            continue
        if not md.is_file() or not {"dataset", "rank", "contender"} <= set(t.columns):
            continue
        bests = []
        for (budget, gpus), g in t.groupby(["budget_seconds", "gpus"], sort=True):
            top = g[g["rank"] == 1]
            if top.empty:
                continue
            b = top.iloc[0]
            gap = "" if pd.isna(b.get("gap_to_sota_pts")) else \
                f", {b['gap_to_sota_pts']:+.2f} pts to SOTA"
            bests.append(f"{format_duration(float(budget))} · {int(gpus)} GPU: "
                         f"**{md_escape(b['contender'])}** {b['test_accuracy']:.2f} %{gap}")
        name = str(t["dataset"].iloc[0]) if len(t) else md.stem
        budget_page = md.with_name(f"{md.stem}{BUDGETS_SUFFIX}.md")
        link = f" ([by budget]({budget_page.name}))" if budget_page.is_file() else ""
        rows.append([f"[{md_escape(name)}]({md.name}){link}",
                     "; ".join(bests) or "no finished run"])
    out = ["# Leaderboards", "",
           "One line per dataset: the best contender per training budget, its test "
           "accuracy and its gap to the published state of the art. Each page has the "
           "full table, the significance tests and the figures; where a dataset ran at "
           "several budgets, its budget page says which approach wins at which budget.", ""]
    out += [md_table(["Dataset", "Best per budget"], rows) if rows else "No pages yet.", ""]
    path = directory / "README.md"
    write_text_atomic(path, "\n".join(out))
    return path
