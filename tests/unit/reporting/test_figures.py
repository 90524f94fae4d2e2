"""Figures people can read: 150 dpi, no text under 9 pt, and no two labels over each
other in the figures where contenders crowd (each text's window extent, as drawn)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pytest

from harness.reporting import figures

matplotlib = pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

NAMES = ["keras-cnn6", "keras-shallow", "keras-deep", "keras-tuner-bayes", "keras-fastnet",
         "optuna-tpe", "sklearn-logreg", "mobilenet-scratch", "autogluon-best",
         "sklearn-forest", "torch-resnet18-transfer", "xgboost-hog"]
#: 8 of 12 at the same training time (their whole budget) within 1 point of each other
TRAIN = [30.0] * 8 + [0.12, 2.0, 5.5, 12.0]
ACC = [97.0, 97.2, 97.4, 97.5, 97.6, 97.8, 97.9, 98.0, 95.5, 65.0, 90.0, 96.0]
SPREAD = [0.4, 0.8, float("nan"), 1.2, 0.3, 0.5, 0.9, 0.2, 0.6, 2.5, 1.0, 0.7]
LATENCY = [3.1, 3.3, 2.9, 3.0, 3.2, 0.4, 0.05, 12.0, 40.0, 9.0, 25.0, 0.9]
BUDGETS = [5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0]  # 5s 10s 15s 30s 1m 2m 5m


@dataclass
class Drawn:
    """One figure as it was about to be saved: every text drawn, with its extent."""

    fig: object
    texts: list = field(default_factory=list)  # (text, points, shrunk window extent)
    legends: list = field(default_factory=list)  # each legend's window extent
    axes: list = field(default_factory=list)  # each axes' window extent


def _drawn_texts(fig) -> list:
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # an axis keeps a pool of ticks: those past the ones it draws hold stale labels
    hidden = set()
    for ax in fig.axes:
        if not ax.axison:  # an axes turned off draws its title alone
            hidden |= {id(t) for t in ax.findobj(Text) if t is not ax.title}
            continue
        for axis in (ax.xaxis, ax.yaxis):
            drawn = {id(t) for t in axis._update_ticks()}
            for tick in axis.majorTicks + axis.minorTicks:
                if id(tick) not in drawn:
                    hidden |= {id(tick.label1), id(tick.label2)}
    out = []
    for t in fig.findobj(Text):
        if id(t) in hidden or not t.get_visible() or not t.get_text().strip():
            continue
        b = t.get_window_extent(renderer)
        # 1 px in from each edge: texts that merely touch do not count as over each other
        out.append((t.get_text(), t.get_fontsize(),
                    Bbox.from_extents(b.x0 + 1, b.y0 + 1, b.x1 - 1, b.y1 - 1)))
    return out


@pytest.fixture
def drawn(monkeypatch):
    """The figures the figure functions save, in order, with their texts as drawn."""
    got: list[Drawn] = []
    save = figures._save

    def keep(fig, path, *args, **kwargs):
        texts = _drawn_texts(fig)  # draws it
        renderer = fig.canvas.get_renderer()
        got.append(Drawn(fig, texts, [lg.get_window_extent(renderer) for lg in fig.legends],
                         [ax.get_window_extent(renderer) for ax in fig.axes]))
        save(fig, path, *args, **kwargs)

    monkeypatch.setattr(figures, "_save", keep)
    return got


def _overlaps(d: Drawn) -> list[tuple[str, str]]:
    return [(a[0], b[0]) for a, b in itertools.combinations(d.texts, 2) if a[2].overlaps(b[2])]


def _readable_png(path) -> None:
    with Image.open(path) as im:
        dpi = im.info["dpi"]
        width, height = im.size
    assert round(dpi[0]) >= 150 and round(dpi[1]) >= 150
    assert 600 <= width <= 4000, width
    assert 300 <= height <= 4000, height


def _leaders():
    rng = np.random.default_rng(0)
    series = {n: (BUDGETS, list(90 + 8 * rng.uniform(0, 1, len(BUDGETS))),
                  list(rng.uniform(0, 2, len(BUDGETS)))) for n in NAMES[:6]}
    leaders = []
    for i, b in enumerate(BUDGETS):
        best = max(series, key=lambda n: series[n][1][i])
        leaders.append((b, series[best][1][i], best))
    return series, leaders


def _draw_each(tmp_path, name: str):
    rng = np.random.default_rng(1)
    k = 10
    classes = [f"a rather long class name {i}" for i in range(k)]
    matrix = rng.integers(0, 5, (k, k)) + np.diag(rng.integers(40, 90, k))
    images = rng.uniform(0, 1, (16, 12, 12, 1)).astype(np.float32)
    labels = rng.integers(0, k, 16)
    pred = labels.copy()
    pred[8:] = (pred[8:] + 1) % k
    path = tmp_path / f"{name}.png"
    if name == "tradeoff":
        figures.tradeoff(path, NAMES, TRAIN, ACC, "training seconds (log)",
                         "digits · 30s: accuracy against training time")
    elif name == "overview":
        figures.overview(path, NAMES, ACC, SPREAD, TRAIN, LATENCY,
                         "digits · 30s: accuracy against training time and latency")
    elif name == "budget_curves":
        figures.budget_curves(path, *_leaders(), "digits · 0 GPUs: accuracy against budget")
    elif name == "anytime":
        curves = {n: (np.linspace(0, 30, 25), np.linspace(0.1, 0.97, 25)) for n in NAMES[:8]}
        figures.anytime(path, curves, 30.0, "digits · 30s: validation accuracy while training")
    elif name == "losses":
        hist = {n: {"epoch": np.arange(1, 9), "train_loss": np.linspace(2, 0.1, 8),
                    "val_loss": np.linspace(2.1, 0.3, 8)} for n in NAMES[:4]}
        figures.losses(path, hist, "digits · 30s: training and validation loss")
    elif name == "confusion":
        figures.confusion(path, matrix, classes, "keras-cnn6: confusion on test")
    elif name == "prediction_grid":
        figures.prediction_grid(path, images, labels, pred, rng.uniform(0.5, 1, 16),
                                pred == labels, classes, "keras-cnn6: test predictions")
    elif name == "gradcam":
        figures.gradcam(path, images[:6], rng.uniform(0, 1, (6, 3, 3)), labels[:6],
                        pred[[0, 1, 2, 8, 9, 10]], classes, "keras-cnn6: Grad-CAM at conv2d_1")
    elif name == "feature_maps":
        figures.feature_maps(path, [rng.normal(size=(12, 12, 16)), rng.normal(size=(6, 6, 8))],
                             ["conv2d", "conv2d_1"], "keras-cnn6: feature maps")
    elif name == "reliability":
        edges = np.linspace(0, 1, 16)
        figures.reliability(path, edges, rng.integers(0, 40, 15), rng.uniform(0, 1, 15),
                            edges[:-1] + 1 / 30, 0.04, "keras-cnn6: calibration on test")
    return path


EVERY = ["tradeoff", "overview", "budget_curves", "anytime", "losses", "confusion",
         "prediction_grid", "gradcam", "feature_maps", "reliability"]
#: where contenders or classes crowd: the figures whose labels used to print over each other
CROWDED = ["tradeoff", "overview", "budget_curves", "confusion"]


@pytest.mark.parametrize("name", EVERY)
def test_every_figure_is_150_dpi_with_no_text_under_9_pt(tmp_path, drawn, name):
    _readable_png(_draw_each(tmp_path, name))
    (d,) = drawn
    small = [(text, pt) for text, pt, _ in d.texts if pt < figures.MIN_PT]
    assert not small


@pytest.mark.parametrize("name", CROWDED)
def test_no_two_labels_of_a_crowded_figure_overlap(tmp_path, drawn, name):
    # Guards the bug the issue reported: the old tradeoff printed each contender's name
    # beside its point, staggered four ways, so of 8 contenders at one training time two
    # and two printed their names over each other ("keras-cnn6" over "keras-fastnet"):
    # [tradeoff] fails on that code. The others guard the overview, the leaders named
    # above their rings and the durations of close budgets, and the confusion matrix's
    # wrapped names and cell numbers.
    _draw_each(tmp_path, name)
    (d,) = drawn
    assert _overlaps(d) == []
    assert len(d.texts) >= 10  # the test sees the labels: it is not vacuous


def test_tradeoff_names_contenders_in_a_legend_not_beside_points(tmp_path, drawn):
    _draw_each(tmp_path, "tradeoff")
    (d,) = drawn
    (legend,) = d.fig.legends
    entries = [t.get_text() for t in legend.get_texts()]
    assert entries == [*NAMES, "Pareto front"]
    (ax,) = d.fig.axes
    assert not ax.texts  # no annotation inside the axes
    # the legend lies outside the axes, right of them
    assert d.legends[0].x0 >= d.axes[0].x1


def test_a_contender_looks_the_same_whatever_the_order_or_the_figure():
    a = figures.looks(NAMES)
    assert a == figures.looks(list(reversed(NAMES)))
    assert len(set(a.values())) == len(NAMES)  # 12 distinct colour and marker pairs
    # a figure given fewer contenders keeps the page's looks when told the page's names
    few = figures.looks(NAMES[:3], palette=NAMES)
    assert {n: few[n] for n in NAMES[:3]} == {n: a[n] for n in NAMES[:3]}
    assert all(colour != "tab:red" for colour, _ in a.values())  # red is the front's


def test_overview_leaves_out_a_training_time_that_says_nothing(tmp_path, drawn):
    # every contender trained for its whole budget: only the latency panel remains
    same = [30.0 + 0.1 * i for i in range(len(NAMES))]
    figures.overview(tmp_path / "a.png", NAMES, ACC, SPREAD, same, LATENCY, "same time")
    figures.overview(tmp_path / "b.png", NAMES, ACC, SPREAD, TRAIN, LATENCY, "both")
    nan = [float("nan")] * len(NAMES)
    figures.overview(tmp_path / "c.png", NAMES, ACC, SPREAD, TRAIN, nan, "no latency")
    figures.overview(tmp_path / "d.png", NAMES, ACC, SPREAD, same, nan, "neither")
    panels = [[ax for ax in d.fig.axes if ax.has_data()] for d in drawn]
    assert [len(p) for p in panels] == [1, 2, 1, 1]
    assert "latency" in panels[0][0].get_xlabel()
    assert "training" in panels[2][0].get_xlabel()
    # with no cost to plot against: accuracy bars, one per contender, named on the axis
    names = [t.get_text() for t in panels[3][0].get_yticklabels()]
    assert names == NAMES and len(panels[3][0].patches) == len(NAMES)
    for d in drawn:
        assert _overlaps(d) == []
    for name in "abcd":
        _readable_png(tmp_path / f"{name}.png")


def test_overview_shares_the_accuracy_axis_and_one_legend(tmp_path, drawn):
    _draw_each(tmp_path, "overview")
    (d,) = drawn
    left, right = d.fig.axes
    assert left.get_ylim() == right.get_ylim()
    assert [t.get_text() for t in d.fig.legends[0].get_texts()] == [*NAMES, "Pareto front"]


def test_budget_curves_ring_leaders_without_naming_them_on_the_axes(tmp_path, drawn):
    _draw_each(tmp_path, "budget_curves")
    (d,) = drawn
    (ax,) = d.fig.axes
    assert not ax.texts
    entries = [t.get_text() for t in d.fig.legends[0].get_texts()]
    assert entries == [*NAMES[:6], "ringed: the leader at that budget"]
    shown = [t.get_text() for t in ax.get_xticklabels()]
    assert set(shown) <= {"5s", "10s", "15s", "30s", "1m", "2m", "5m"} and len(shown) >= 3


def test_confusion_is_normalised_per_true_class_with_names_wrapped_not_cut(tmp_path, drawn):
    names = ["a rather long class name 1", "dog", "$5 bill$"]
    m = np.array([[3, 1, 0], [0, 4, 0], [1, 0, 1]])
    figures.confusion(tmp_path / "c.png", m, names, "confusion on test")
    (d,) = drawn
    ax = d.fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(["75", "25", "100", "50", "50"])
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0] == "a rather\nlong class\nname 1"  # whole, on three lines
    assert ticks[2] == r"\$5 bill\$"  # plain text, never mathtext
    assert any("share of each true class" in t for t, _, _ in d.texts)


def test_wrap_keeps_whole_names_and_marks_only_what_it_leaves_out():
    assert figures.wrap("a rather long class name 3") == "a rather\nlong class\nname 3"
    assert figures.wrap("x" * 40).endswith("…") and figures.wrap("x" * 40).count("\n") == 2
    # on one line the middle gives way: names that differ at the end stay told apart
    assert figures.wrap("class name number 12", 12, 1).endswith("12")


def test_the_cache_key_changed_with_the_drawings():
    assert figures.VERSION >= 5 and figures.DPI >= 150 and figures.MIN_PT >= 9
