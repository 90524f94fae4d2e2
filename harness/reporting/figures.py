"""The report's figures, drawn headless with matplotlib and cached by their inputs.

Each function draws one PNG from plain arrays. :class:`FigureCache` remembers a hash
of what went into every file it wrote, so regenerating a leaderboard re-draws only the
figures whose inputs changed: drawing is by far the slowest part of a page.
matplotlib is imported on first use, never when the CLI starts.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.files import write_text_atomic, write_with

DPI = 72  # small committed PNGs: tens of KB each
MANIFEST = ".figures.json"
#: part of every cache key: bump it when a drawing changes, so old PNGs are redrawn
VERSION = 4


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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


def _save(fig, path: Path, dpi: int = DPI) -> None:
    try:  # whole or not at all: a full disk leaves no truncated PNG behind
        write_with(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight",
                                                 format="png"))
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


def tradeoff(path: Path, labels: list[str], xs: list[float], ys: list[float], xlabel: str,
             title: str) -> None:
    """Accuracy against a cost (log scale), the Pareto front joined by a step line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(xs, ys, color="tab:blue", zorder=3)
    # staggered by rank of accuracy: close contenders' names would print over each other
    order = np.argsort(np.argsort(-np.asarray(ys)))
    for label, x, y, k in zip(labels, xs, ys, order, strict=True):
        ax.annotate(plain(label), (x, y), textcoords="offset points", xytext=(4, 4 - 9 * (k % 4)),
                    fontsize=7)
    front = pareto_front(xs, ys)
    ax.step([xs[i] for i in front], [ys[i] for i in front], where="post", color="tab:red",
            zorder=2)
    ax.scatter([xs[i] for i in front], [ys[i] for i in front], s=90, facecolors="none",
               edgecolors="tab:red", zorder=4)
    if min(xs) > 0:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel="test accuracy %", title=plain(title))
    ax.grid(alpha=0.3)  # no legend: it hid points; the page says red is the front
    _save(fig, path)


def budget_curves(path: Path, series: dict[str, tuple[list, list, list]],
                  leaders: list[tuple[float, float, str]], title: str) -> None:
    """Test accuracy against budget (log scale), one line per contender with ± std bars;
    the leader of each budget ringed and named."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, (xs, ys, err) in series.items():
        ax.errorbar(xs, ys, yerr=err, marker="o", markersize=4, capsize=3, label=plain(label))
    for x, y, name in leaders:
        ax.scatter([x], [y], s=160, facecolors="none", edgecolors="black", zorder=5)
        ax.annotate(plain(name, 24), (x, y), textcoords="offset points", xytext=(0, 9),
                    ha="center", fontsize=7)
    ax.set_xscale("log")
    budgets = sorted({x for xs, _, _ in series.values() for x in xs})
    ax.set_xticks(budgets, [_duration(b) for b in budgets])
    ax.minorticks_off()
    ax.set(xlabel="training budget per fold (log)", ylabel="test accuracy %",
           title=plain(title))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)


def _duration(seconds: float) -> str:
    from harness.core.budget import format_duration

    return format_duration(seconds)


def anytime(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], budget: float,
            title: str) -> None:
    """Validation accuracy against elapsed training seconds, one line per contender."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (t, acc) in curves.items():
        ax.plot(t, np.asarray(acc) * 100, marker="o", markersize=3, label=plain(label))
    ax.axvline(budget, color="black", linestyle="--", linewidth=1, label="budget")
    ax.set(xlabel="training seconds", ylabel="validation accuracy %", title=plain(title))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)


def losses(path: Path, curves: dict[str, dict[str, np.ndarray]], title: str) -> None:
    """Training and validation loss per epoch, one small panel per contender."""
    plt = _plt()
    n = len(curves)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, (label, h) in zip(axes.flat, curves.items(), strict=False):
        for key, style in (("train_loss", "-"), ("val_loss", "--")):
            if len(h.get(key, [])) and np.isfinite(h[key]).any():
                # markers only where they can be told apart: they bloat the PNG
                ax.plot(h["epoch"], h[key], style, marker="o" if len(h[key]) <= 30 else None,
                        markersize=2, label=key.replace("_", " "))
        ax.set_title(plain(label), fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(plain(title), fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def confusion(path: Path, matrix: np.ndarray, class_names: list[str], title: str) -> None:
    """Row-normalised confusion matrix with the class names on both axes."""
    plt = _plt()
    k = len(class_names)
    size = min(3 + 0.35 * k, 12)
    fig, ax = plt.subplots(figsize=(size, size))
    totals = matrix.sum(1, keepdims=True)
    norm = matrix / np.where(totals > 0, totals, 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(k)
    ax.set_xticks(ticks, [plain(c, 14) for c in class_names], rotation=90, fontsize=7)
    ax.set_yticks(ticks, [plain(c, 14) for c in class_names], fontsize=7)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=6,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=plain(title))
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
    fig, axes = plt.subplots(2, cols, figsize=(1.3 * cols, 3.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, mask in enumerate((correct, ~correct)):
        for ax, i in zip(axes[row], np.flatnonzero(mask), strict=False):
            ax.axis("on")
            _show(ax, images[i])
            text = f"{plain(class_names[pred[i]], 10)} {confidence[i]:.0%}"
            if row:
                text += f"\ntrue {plain(class_names[labels[i]], 10)}"
            ax.set_title(text, fontsize=7, color="tab:green" if row == 0 else "tab:red")
    axes[0][0].set_ylabel("correct", fontsize=8)
    axes[1][0].set_ylabel("wrong", fontsize=8)
    fig.suptitle(plain(title), fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def gradcam(path: Path, images: np.ndarray, heatmaps: np.ndarray, labels: np.ndarray,
            pred: np.ndarray, class_names: list[str], title: str) -> None:
    """Each image above its Grad-CAM heatmap (upsampled to the image) laid over it."""
    plt = _plt()
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n, 3.4), squeeze=False)
    for j in range(n):
        img = images[j]
        _show(axes[0][j], img)
        ok = pred[j] == labels[j]
        axes[0][j].set_title(plain(class_names[pred[j]], 10)
                             + ("" if ok else f"\ntrue {plain(class_names[labels[j]], 10)}"),
                             fontsize=7, color="tab:green" if ok else "tab:red")
        _show(axes[1][j], img)
        h, w = img.shape[:2]
        axes[1][j].imshow(heatmaps[j], cmap="jet", alpha=0.5, extent=(-0.5, w - 0.5, h - 0.5, -0.5),
                          interpolation="bilinear", vmin=0, vmax=1)
    fig.suptitle(plain(title), fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def feature_maps(path: Path, maps: list[np.ndarray], names: list[str], title: str) -> None:
    """One row of channels per convolutional layer."""
    plt = _plt()
    cols = max(m.shape[-1] for m in maps)
    fig, axes = plt.subplots(len(maps), cols, figsize=(0.8 * cols, 1.0 * len(maps) + 0.5),
                             squeeze=False)
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
        axes[r][0].set_ylabel(plain(name, 12), fontsize=7)
    fig.suptitle(plain(title), fontsize=9)
    fig.tight_layout()
    _save(fig, path)


#: the reliability diagram's resolution and smallest text: readable where it is shown
READABLE_DPI = 150
READABLE_PT = 9


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
    with plt.rc_context({"font.size": READABLE_PT + 1}):
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
        ax.set_title(f"{plain(title)}\nexpected calibration error over {bins} bins: "
                     f"{ece:.3f}")
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
                   ncol=1, fontsize=READABLE_PT, frameon=False)
    _save(fig, path, dpi=max(DPI, READABLE_DPI))
