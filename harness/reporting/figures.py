"""The report's figures, drawn headless with matplotlib and cached by their inputs.

Each function draws one PNG from plain arrays. :class:`FigureCache` remembers a hash
of what went into every file it wrote, so regenerating a leaderboard re-draws only the
figures whose inputs changed: drawing is by far the slowest part of a page.
matplotlib is imported on first use, never when the CLI starts.

Every figure is meant to be read: :data:`DPI` dots per inch, no text under
:data:`MIN_PT` points, legends beside the axes rather than over the data, no name
printed beside a point where contenders crowd (each has its colour and marker, the same
in every figure of a page), tick labels thinned until none touches another, class names
wrapped rather than cut. ``tests/unit/reporting/test_figures.py`` checks it from each
text's extent as drawn.
"""

from __future__ import annotations

import hashlib
import json
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.files import write_text_atomic, write_with

DPI = 150  # readable on a laptop screen and in print; a figure is a few hundred KB at most
#: the smallest text in any figure, in points: tick labels, legends, annotations
MIN_PT = 9
#: earlier names of the two: the reliability diagram was the first figure drawn to them
READABLE_DPI = DPI
READABLE_PT = MIN_PT
MANIFEST = ".figures.json"
#: part of every cache key: bump it when a drawing changes, so old PNGs are redrawn
VERSION = 5


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: matplotlib's sizes for every figure: nothing below MIN_PT, titles larger
_RC = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
       "xtick.labelsize": MIN_PT, "ytick.labelsize": MIN_PT, "legend.fontsize": MIN_PT,
       "legend.title_fontsize": MIN_PT, "figure.titlesize": 12, "figure.labelsize": 10}


def file_stamp(path: Path) -> str:
    """What stands for a file's content in a cache key: its path, size and mtime."""
    try:
        st = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def digest(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class FigureCache:
    """``directory/.figures.json``: file name to the hash of the inputs it was drawn from."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / MANIFEST
        try:
            self.known: dict[str, str] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.known = {}
        self.drawn = 0
        self.used: set[str] = set()

    def fresh(self, name: str, key: str) -> bool:
        """True when ``name`` exists and was drawn from inputs hashing to ``key``."""
        target = self.directory / name
        if self.known.get(name) == digest(key, VERSION) and target.is_file() \
                and target.stat().st_size > 0:
            self.used.add(name)
            return True
        return False

    def kept(self, name: str) -> bool:
        """True when ``name`` is a figure this cache drew earlier and still has: a page
        rebuilt without the job folders it came from keeps showing it, as drawn."""
        target = self.directory / name
        if name in self.known and target.is_file() and target.stat().st_size > 0:
            self.used.add(name)
            return True
        return False

    def draw(self, name: str, key: str, fn, *args: Any, **kwargs: Any) -> str:
        """Draw ``fn(path, *args)`` unless fresh; return ``name``."""
        if not self.fresh(name, key):
            self.directory.mkdir(parents=True, exist_ok=True)
            fn(self.directory / name, *args, **kwargs)
            self.known[name] = digest(key, VERSION)
            self.drawn += 1
            self.used.add(name)
        return name

    def save(self, prune: bool = False) -> None:
        """Write the manifest; with ``prune``, delete the PNGs this page no longer shows."""
        if prune and self.directory.is_dir():
            for png in self.directory.glob("*.png"):
                if png.name not in self.used:
                    png.unlink()
                    self.known.pop(png.name, None)
                    self.drawn += 1
        if self.drawn:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, json.dumps(self.known, indent=0, sort_keys=True))


def plain(text: object, limit: int = 0) -> str:
    """Text from users' data, shown as is: a ``$`` pair would start matplotlib's mathtext."""
    text = str(text)[:limit] if limit else str(text)
    return text.replace("$", r"\$")


def wrap(text: object, width: int = 12, lines: int = 3) -> str:
    """``text`` as plain text wrapped at ``width`` characters on at most ``lines`` lines,
    with "…" only beyond them: a class name is read whole, never cut at a fixed length.
    On one line the middle gives way: names often differ only at their ends."""
    text = " ".join(str(text).split())
    if lines == 1 and len(text) > width:
        return plain(text[:(width - 1) // 2].rstrip() + "…" + text[-(width // 2):].lstrip())
    parts = textwrap.wrap(text, width) or [text]
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][:max(width - 1, 1)].rstrip() + "…"
    return plain("\n".join(parts))


def _title(text: object, width_in: float, pt: float = 12) -> str:
    """A title wrapped to a figure ``width_in`` inches wide: never wider than its figure."""
    chars = max(int(width_in * 72 / (0.55 * pt)), 20)
    return plain(textwrap.fill(str(text), chars))


def _style():
    """Every text of a figure drawn under this is at least :data:`MIN_PT` points."""
    return _plt().rc_context(_RC)


def _save(fig, path: Path, dpi: int = DPI) -> None:
    try:  # whole or not at all: a full disk leaves no truncated PNG behind
        write_with(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight",
                                                 pad_inches=0.1, format="png"))
    finally:
        _plt().close(fig)


def pareto_front(xs: list[float], ys: list[float]) -> list[int]:
    """Indices of the points no other point beats on both (lower x, higher y), by x."""
    order = sorted(range(len(xs)), key=lambda i: (xs[i], -ys[i]))
    front, best = [], -math.inf
    for i in order:
        if ys[i] > best:
            front.append(i)
            best = ys[i]
    return front


# -- looks: one colour and marker per contender, the same in every figure of a page -------

#: tab10 without its red, which marks the Pareto front
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
#: 7 markers against 9 colours: 63 contenders before a look repeats
MARKERS = "osD^vPX"
FRONT = "tab:red"


def looks(names: list[str], palette: list[str] | None = None) -> dict[str, tuple[str, str]]:
    """Colour and marker of each name, assigned over the sorted ``palette`` (default: the
    names themselves): the same contender looks the same in every figure given it."""
    everyone = sorted({str(n) for n in [*(palette or []), *names]})
    return {n: (COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)])
            for i, n in enumerate(everyone)}


def _handle(label: str, colour: str, marker: str, line: bool = False):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=colour, marker=marker, markersize=7,
                  linestyle="-" if line else "none", label=wrap(label, 28, 2))


def _front_handle():
    from matplotlib.lines import Line2D

    return Line2D([], [], color=FRONT, marker="o", markersize=11, markerfacecolor="none",
                  markeredgecolor=FRONT, label="Pareto front")


def _point_looks(labels: list[str], palette: list[str] | None):
    """Each label's (colour, marker) and the legend's handles, in the order given.

    Labels that all read ``name @ budget`` (the budget page's cost figure: one point per
    contender and budget) take their colour from the name and their marker from the
    budget, and the legend names each once: one entry per point would run off the page."""
    from matplotlib.patches import Patch

    pairs = [str(lb).rsplit(" @ ", 1) for lb in labels]
    if labels and all(len(p) == 2 for p in pairs):
        names = list(dict.fromkeys(p[0] for p in pairs))
        budgets = list(dict.fromkeys(p[1] for p in pairs))
        colour = {n: c for n, (c, _) in looks(names, palette).items()}
        marker = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(budgets)}
        per_label = [(colour[n], marker[b]) for n, b in pairs]
        handles = [Patch(color=colour[n], label=wrap(n, 28, 2)) for n in names]
        handles += [_handle(f"@ {b}", "dimgray", marker[b]) for b in budgets]
        return per_label, handles
    look = looks([str(lb) for lb in labels], palette)
    per_label = [look[str(lb)] for lb in labels]
    handles = [_handle(str(lb), *look[str(lb)]) for lb in dict.fromkeys(labels)]
    return per_label, handles


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


# -- axes ---------------------------------------------------------------------------------

def _num(v: float) -> str:
    """A tick value as people write it: ``0.01``, ``2``, ``300``; never ``3×10^1``."""
    return f"{v:.3g}" if abs(v) < 1e5 else f"{v:.0e}".replace("e+0", "e")


def _log_x(ax, values: list[float]) -> None:
    """A log x axis over ``values`` (all positive) with a few plain-number ticks: at the
    decades, else at 1-2-5 steps, else at every integer multiple, whatever gives three."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    l0, l1 = math.log10(min(values)), math.log10(max(values))
    pad = max(0.08 * (l1 - l0), 0.12)
    lo, hi = 10 ** (l0 - pad), 10 ** (l1 + pad)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    e0, e1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks: list[float] = []
    for mults in ((1,), (1, 2, 5), range(1, 10)):
        ticks = [float(f"{m * 10.0 ** e:.12g}") for e in range(e0, e1 + 1) for m in mults
                 if lo <= m * 10.0 ** e <= hi]
        if len(ticks) >= 3:
            break
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _num(v)))
    ax.xaxis.set_minor_locator(LogLocator(subs="auto"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _thin_xticks(fig, ax, inside: bool = False, gap: float = 6.0) -> None:
    """Leave out x tick labels that would touch (``gap`` pixels apart at least): from the
    left, each one that clears the last kept and the rightmost, which always stays (the
    largest budget is as telling as the smallest). With ``inside``, only labels within
    the axes' width, so that side-by-side panels' end labels never meet."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    lo, hi = sorted(ax.get_xlim())
    span = ax.get_window_extent(renderer)
    shown = []
    for loc, text in zip(ax.get_xticks(), ax.get_xticklabels(), strict=False):
        if not (lo <= loc <= hi) or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        if inside and (box.x0 < span.x0 - 1 or box.x1 > span.x1 + 1):
            continue
        shown.append((box.x0, box.x1, loc, text.get_text()))
    shown.sort()
    kept = shown[:1]
    for t in shown[1:]:
        if kept[-1][1] + gap <= t[0] and (t is shown[-1] or t[1] + gap <= shown[-1][0]):
            kept.append(t)
    ax.set_xticks([t[2] for t in kept], [t[3] for t in kept])


def _points(ax, labels: list[str], xs: list[float], ys: list[float], spread: list[float],
            per_label: list[tuple[str, str]]) -> bool:
    """Accuracy against one cost: a marker per contender with its ± std bar, the Pareto
    front as a red step line through red rings. False when no point has both values."""
    pts = [(float(x), float(y), s, look)
           for x, y, s, look in zip(xs, ys, spread, per_label, strict=True)
           if _finite(x) and _finite(y)]
    if not pts:
        return False
    for x, y, s, (colour, marker) in pts:
        err = [float(s)] if _finite(s) and float(s) > 0 else None
        ax.errorbar([x], [y], yerr=err, fmt=marker, color=colour, markersize=7,
                    markeredgecolor="white", markeredgewidth=0.6, capsize=3, elinewidth=1,
                    alpha=0.9, zorder=3)
    px, py = [p[0] for p in pts], [p[1] for p in pts]
    front = pareto_front(px, py)
    ax.step([px[i] for i in front], [py[i] for i in front], where="post", color=FRONT,
            linewidth=1.2, zorder=2)
    ax.scatter([px[i] for i in front], [py[i] for i in front], s=130, facecolors="none",
               edgecolors=FRONT, linewidths=1.3, zorder=4)
    if min(px) > 0:
        _log_x(ax, px)
    ax.grid(alpha=0.3)
    return True


def _legend(fig, handles, ncol: int | None = None) -> None:
    """The legend outside the axes on the right: it never hides a point or a curve."""
    n = len(handles)
    fig.legend(handles=handles, loc="outside right upper", fontsize=MIN_PT,
               ncol=ncol or (1 if n <= 16 else 2 if n <= 32 else 3), frameon=False)


# -- the figures --------------------------------------------------------------------------

def tradeoff(path: Path, labels: list[str], xs: list[float], ys: list[float], xlabel: str,
             title: str, *, palette: list[str] | None = None) -> None:
    """Accuracy against a cost (log scale), one colour and marker per contender named in
    a legend beside the axes, the Pareto front joined by a red step line and ringed."""
    plt = _plt()
    per_label, handles = _point_looks(labels, palette)
    with _style():
        fig, ax = plt.subplots(figsize=(7, 4.4), layout="constrained")
        _points(ax, labels, xs, ys, [math.nan] * len(xs), per_label)
        ax.set(xlabel=plain(xlabel), ylabel="test accuracy %")
        ax.set_title(_title(title, 7, 11))
        _legend(fig, [*handles, _front_handle()])
        _thin_xticks(fig, ax)
        _save(fig, path)


#: training times within this factor of each other say nothing: every contender used its
#: whole budget, and the overview leaves that panel out
SAME_TIME = 1.25


def overview(path: Path, labels: list[str], accuracy: list[float], spread: list[float],
             train_seconds: list[float], latency_ms: list[float], title: str, *,
             palette: list[str] | None = None) -> None:
    """The page's overview: test accuracy (± std bars) against training seconds and
    against single-image latency side by side, both log scale and sharing the accuracy
    axis, the Pareto front of each in red, one legend. A panel that carries no
    information is left out: training time when every contender took about as long
    (within :data:`SAME_TIME`), a cost no contender has; with neither, accuracy bars."""
    plt = _plt()
    labels = [str(lb) for lb in labels]
    ok = [_finite(a) for a in accuracy]

    def usable(values: list[float]) -> list[float]:
        return [float(v) for v, good in zip(values, ok, strict=True)
                if good and _finite(v) and float(v) > 0]

    panels, note = [], ""
    train = usable(train_seconds)
    if train and max(train) > SAME_TIME * min(train):
        panels.append((train_seconds, "training seconds (log)", "against training time"))
    elif train:
        note = ("Training time not shown: every contender took about as long "
                "(its whole budget).")
    if usable(latency_ms):
        panels.append((latency_ms, "single-image latency p50, ms (log)",
                       "against single-image latency"))
    if not panels:
        _accuracy_bars(path, labels, accuracy, spread, title, palette, note)
        return
    per_label, handles = _point_looks(labels, palette)
    n = len(panels)
    width = 4.4 * n + 2.6
    with _style():
        fig, axes = plt.subplots(1, n, figsize=(width, 4.6), sharey=True,
                                 layout="constrained", squeeze=False)
        for ax, (xs, xlabel, what) in zip(axes[0], panels, strict=True):
            cost = [float(x) if _finite(x) and float(x) > 0 else math.nan for x in xs]
            _points(ax, labels, cost, accuracy, spread, per_label)
            ax.set_xlabel(xlabel)
            ax.set_title(what, fontsize=10)
        axes[0][0].set_ylabel("test accuracy %")
        fig.suptitle(_title(title, width, 12))
        if note:
            fig.supxlabel(note, fontsize=MIN_PT, color="dimgray")
        _legend(fig, [*handles, _front_handle()])
        for ax in axes[0]:
            _thin_xticks(fig, ax, inside=n > 1)
        _save(fig, path)


def _accuracy_bars(path: Path, labels: list[str], accuracy: list[float],
                   spread: list[float], title: str, palette: list[str] | None,
                   note: str = "") -> None:
    """The overview without a cost to plot against: accuracy per contender, ± std."""
    plt = _plt()
    look = looks(labels, palette)
    rows = [(lb, float(a), s) for lb, a, s in zip(labels, accuracy, spread, strict=True)
            if _finite(a)]
    width = 7.5
    with _style():
        fig, ax = plt.subplots(figsize=(width, max(2.6, 1.4 + 0.4 * len(rows))),
                               layout="constrained")
        for i, (lb, a, s) in enumerate(rows):
            err = float(s) if _finite(s) and float(s) > 0 else None
            ax.barh(i, a, xerr=err, height=0.62, color=look[lb][0], capsize=3,
                    error_kw={"elinewidth": 1})
            inside = a >= 15
            ax.text(1.5 if inside else a + (err or 0) + 1.5, i, f"{a:.1f}", va="center",
                    ha="left", fontsize=MIN_PT, color="white" if inside else "black")
        ax.set_yticks(range(len(rows)), [wrap(lb, 26, 2) for lb, _, _ in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("test accuracy % (bars: ± std over folds and seeds)")
        ax.grid(axis="x", alpha=0.3)
        if not rows:
            ax.text(50, 0.5, "no contender has a test accuracy", ha="center", va="center")
            ax.set_yticks([])
        fig.suptitle(_title(title, width, 12))
        if note:
            fig.supxlabel(note, fontsize=MIN_PT, color="dimgray")
        _save(fig, path)


def budget_curves(path: Path, series: dict[str, tuple[list, list, list]],
                  leaders: list[tuple[float, float, str]], title: str, *,
                  palette: list[str] | None = None) -> None:
    """Test accuracy against budget (log scale), one line per contender with ± std bars,
    the leader of each budget ringed; the legend beside the axes names them all."""
    plt = _plt()
    look = looks(list(series), palette)
    with _style():
        fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
        handles = []
        for label, (xs, ys, err) in series.items():
            colour, marker = look[str(label)]
            ax.errorbar(xs, ys, yerr=err, marker=marker, markersize=6, capsize=3,
                        color=colour, linewidth=1.5, elinewidth=1)
            handles.append(_handle(str(label), colour, marker, line=True))
        if leaders:
            ax.scatter([x for x, _, _ in leaders], [y for _, y, _ in leaders], s=240,
                       facecolors="none", edgecolors="black", linewidths=1.4, zorder=5)
            from matplotlib.lines import Line2D

            handles.append(Line2D([], [], linestyle="none", marker="o", markersize=14,
                                  markerfacecolor="none", markeredgecolor="black",
                                  label="ringed: the leader at that budget"))
        ax.set_xscale("log")
        budgets = sorted({float(x) for xs, _, _ in series.values() for x in xs})
        if budgets:
            pad = max(0.06 * math.log10(budgets[-1] / budgets[0]), 0.08)
            ax.set_xlim(budgets[0] / 10 ** pad, budgets[-1] * 10 ** pad)
        ax.set_xticks(budgets, [_duration(b) for b in budgets])
        ax.minorticks_off()
        ax.set(xlabel="training budget per fold (log)", ylabel="test accuracy %")
        ax.set_title(_title(title, 7.5, 11))
        ax.grid(alpha=0.3)
        _legend(fig, handles)
        _thin_xticks(fig, ax)
        ax.minorticks_off()
        _save(fig, path)


def _duration(seconds: float) -> str:
    from harness.core.budget import format_duration

    return format_duration(seconds)


def anytime(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], budget: float,
            title: str, *, palette: list[str] | None = None) -> None:
    """Validation accuracy against elapsed training seconds, one line per contender; the
    legend beside the axes, where it hides no curve."""
    plt = _plt()
    look = looks(list(curves), palette)
    with _style():
        fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
        for label, (t, acc) in curves.items():
            colour, marker = look[str(label)]
            ax.plot(t, np.asarray(acc) * 100, marker=marker, markersize=3, linewidth=1.3,
                    color=colour, label=wrap(label, 28, 2))
        ax.axvline(budget, color="black", linestyle="--", linewidth=1, label="budget")
        ax.set(xlabel="training seconds", ylabel="validation accuracy %")
        ax.set_title(_title(title, 7.5, 11))
        ax.grid(alpha=0.3)
        _legend(fig, ax.get_legend_handles_labels()[0])
        _save(fig, path)


def losses(path: Path, curves: dict[str, dict[str, np.ndarray]], title: str) -> None:
    """Training and validation loss per epoch, one small panel per contender."""
    from matplotlib.lines import Line2D

    plt = _plt()
    n = len(curves)
    cols = max(min(n, 3), 1)
    rows = max(math.ceil(n / cols), 1)
    width = 3.6 * cols + 1.6
    kinds = (("train_loss", "-", "tab:blue"), ("val_loss", "--", "tab:orange"))
    with _style():
        fig, axes = plt.subplots(rows, cols, figsize=(width, 2.9 * rows + 0.7),
                                 squeeze=False, layout="constrained")
        for ax, (label, h) in zip(axes.flat, curves.items(), strict=False):
            for key, style, colour in kinds:
                if len(h.get(key, [])) and np.isfinite(h[key]).any():
                    # markers only where they can be told apart: they bloat the PNG
                    ax.plot(h["epoch"], h[key], style, color=colour, markersize=2.5,
                            marker="o" if len(h[key]) <= 30 else None)
            ax.set_title(wrap(label, 34, 2), fontsize=10)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        _legend(fig, [Line2D([], [], linestyle=s, color=c, label=k.replace("_", " "))
                      for k, s, c in kinds])
        fig.suptitle(_title(title, width, 12))
        _save(fig, path)


def confusion(path: Path, matrix: np.ndarray, class_names: list[str], title: str) -> None:
    """Confusion matrix normalised per true class (each row sums to 100 %), the share in
    every cell where the numbers fit (up to 12 classes), class names wrapped on both
    axes, the figure as large as the classes need."""
    plt = _plt()
    matrix = np.asarray(matrix)
    k = len(class_names)
    lines = 3 if k <= 12 else 2 if k <= 30 else 1
    names = [wrap(c, 12 if lines > 1 else 22, lines) for c in class_names]
    used = max((n.count("\n") + 1 for n in names), default=1)
    # inches: room for the names' lines of text, and for "100" where cells are numbered
    cell = {3: 0.58, 2: 0.42, 1: 0.38 if k <= 12 else 0.17}[used]
    side = cell * k
    width = side + 3.2
    totals = matrix.sum(1, keepdims=True)
    share = 100 * matrix / np.where(totals > 0, totals, 1)
    with _style():
        fig, ax = plt.subplots(figsize=(max(width, 5), max(side + 2.4, 4)),
                               layout="constrained")
        im = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
        ticks = np.arange(k)
        # upright where every name fits its column, turned a quarter where one would not
        longest = max((len(line) for n in names for line in n.split("\n")), default=0)
        turn = 90 if longest * 0.6 * MIN_PT > cell * 72 - 4 else 0
        ax.set_xticks(ticks, names, rotation=turn, fontsize=MIN_PT)
        ax.set_yticks(ticks, names, fontsize=MIN_PT)
        if k <= 12:
            for i in range(k):
                for j in range(k):
                    if matrix[i, j]:
                        v = share[i, j]
                        ax.text(j, i, "<1" if v < 0.5 else f"{v:.0f}", ha="center",
                                va="center", fontsize=MIN_PT,
                                color="white" if v > 50 else "black")
        bar = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02)
        bar.set_label("share of each true class, %")
        ax.set(xlabel="predicted class", ylabel="true class")
        ax.set_title(_title(title, max(width, 5), 11))
        _save(fig, path)


def _show(ax, image: np.ndarray) -> None:
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def prediction_grid(path: Path, images: np.ndarray, labels: np.ndarray, pred: np.ndarray,
                    confidence: np.ndarray, correct: np.ndarray, class_names: list[str],
                    title: str) -> None:
    """Two rows: correct and wrong test predictions, each with its confidence."""
    plt = _plt()
    cols = max(int(correct.sum()), int((~correct).sum()), 1)
    width = max(1.6 * cols, 5.0)
    with _style():
        fig, axes = plt.subplots(2, cols, figsize=(width, 4.8), squeeze=False,
                                 layout="constrained")
        for ax in axes.flat:
            ax.axis("off")
        for row, mask in enumerate((correct, ~correct)):
            for ax, i in zip(axes[row], np.flatnonzero(mask), strict=False):
                ax.axis("on")
                _show(ax, images[i])
                text = f"{wrap(class_names[pred[i]], 13, 2)}: {confidence[i]:.0%}"
                if row:
                    text += f"\ntrue: {wrap(class_names[labels[i]], 13, 2)}"
                ax.set_title(text, fontsize=MIN_PT,
                             color="tab:green" if row == 0 else "tab:red")
        for row, (mask, name) in enumerate(((correct, "correct"), (~correct, "wrong"))):
            if mask.any():
                axes[row][0].set_ylabel(name)
        fig.suptitle(_title(title, width, 11), fontsize=11)
        _save(fig, path)


def gradcam(path: Path, images: np.ndarray, heatmaps: np.ndarray, labels: np.ndarray,
            pred: np.ndarray, class_names: list[str], title: str) -> None:
    """Each image above its Grad-CAM heatmap (upsampled to the image) laid over it."""
    plt = _plt()
    n = len(images)
    width = max(1.7 * n, 5.0)
    with _style():
        fig, axes = plt.subplots(2, n, figsize=(width, 4.6), squeeze=False,
                                 layout="constrained")
        for j in range(n):
            img = images[j]
            _show(axes[0][j], img)
            ok = pred[j] == labels[j]
            axes[0][j].set_title(wrap(class_names[pred[j]], 13, 2)
                                 + ("" if ok else f"\ntrue: {wrap(class_names[labels[j]], 13, 2)}"),
                                 fontsize=MIN_PT, color="tab:green" if ok else "tab:red")
            _show(axes[1][j], img)
            h, w = img.shape[:2]
            axes[1][j].imshow(heatmaps[j], cmap="jet", alpha=0.5,
                              extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="bilinear",
                              vmin=0, vmax=1)
        fig.suptitle(_title(title, width, 11), fontsize=11)
        _save(fig, path)


def feature_maps(path: Path, maps: list[np.ndarray], names: list[str], title: str) -> None:
    """One row of channels per convolutional layer."""
    plt = _plt()
    cols = max(m.shape[-1] for m in maps)
    width = max(0.85 * cols + 1.0, 5.0)
    with _style():
        fig, axes = plt.subplots(len(maps), cols, figsize=(width, 0.95 * len(maps) + 0.9),
                                 squeeze=False, layout="constrained")
        for r, (m, name) in enumerate(zip(maps, names, strict=True)):
            for c in range(cols):
                ax = axes[r][c]
                ax.set_xticks([])
                ax.set_yticks([])
                if c < m.shape[-1]:
                    # nearest: the maps' own pixels, and PNGs a tenth the size
                    ax.imshow(m[:, :, c].astype(np.float32), cmap="viridis",
                              interpolation="nearest")
                else:
                    ax.axis("off")
            axes[r][0].set_ylabel(wrap(name, 10, 2), fontsize=MIN_PT)
        fig.suptitle(_title(title, width, 11), fontsize=11)
        _save(fig, path)


def reliability(path: Path, edges: np.ndarray, counts: np.ndarray, accuracy: np.ndarray,
                confidence: np.ndarray, ece: float, title: str) -> None:
    """A reliability diagram: the accuracy of each confidence bin against the diagonal
    of perfect calibration, each bin's mean confidence marked and its gap drawn in red;
    below, the share of the images in each bin."""
    plt = _plt()
    bins = len(counts)
    width = np.diff(edges)
    centers = edges[:-1] + width / 2
    full = counts > 0
    with _style():
        fig, (ax, hist) = plt.subplots(2, 1, figsize=(5, 6), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1]})
        ax.bar(centers[full], accuracy[full], width=width[full], color="tab:blue",
               alpha=0.8, edgecolor="white", label="accuracy of the bin")
        # the gap as a line, never a shaded bar over the accuracy bar: readable both ways
        ax.vlines(centers[full], accuracy[full], confidence[full], color="tab:red",
                  linewidth=2, zorder=3)
        ax.plot(centers[full], confidence[full], "o", color="tab:red", markersize=4,
                zorder=4, label="its mean confidence (the gap in red)")
        ax.plot([0, 1], [0, 1], "--", color="black", linewidth=1, zorder=5,
                label="perfect calibration")
        ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
        ax.set_title(f"{_title(title, 5, 11)}\nexpected calibration error over {bins} "
                     f"bins: {ece:.3f}")
        ax.grid(alpha=0.3)
        share = counts / max(int(counts.sum()), 1)
        hist.bar(centers, share, width=width, color="tab:gray", edgecolor="white")
        hist.set(xlabel="confidence (the top probability)", ylabel="share of\nimages",
                 ylim=(0, max(float(share.max()), 0.01) * 1.1))
        hist.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        fig.tight_layout()
        # below the figure: inside, it would hide the bins of an under-confident model
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=1, fontsize=MIN_PT, frameon=False)
        _save(fig, path)
