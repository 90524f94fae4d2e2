"""Reports: statistics with known answers, figures and their cache, links that resolve."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from harness.core.jobs import Job, Result, Status
from harness.reporting import figures, leaderboard
from harness.reporting.report import most_confused, write_index
from harness.scoring import stats
from tests.conftest import run_cli

PNG = b"\x89PNG\r\n\x1a\n"


def _row(contender: str, fold: int, acc: float, folds: int = 3, seed: int = 0) -> Result:
    job = Job("digits", contender, fold, folds, seed, 60.0)
    return Result.for_job(job, Status.OK, test_accuracy=acc, train_seconds=10.0,
                          n_train=800, n_val=400)


# -- statistics ---------------------------------------------------------------------


def test_identical_scores_are_tied():
    runs = {(f, 0): 0.9 + 0.01 * f for f in range(3)}
    c = stats.compare(runs, dict(runs), folds=3)
    assert c.p_value == 1.0 and c.tied and c.test == stats.CORRECTED


def test_a_consistent_gap_over_folds_is_significant():
    leader = {(0, 0): 0.95, (1, 0): 0.96, (2, 0): 0.94}
    other = {(0, 0): 0.90, (1, 0): 0.90, (2, 0): 0.90}
    c = stats.compare(leader, other, folds=3)
    # by hand: d = (5, 6, 4) pts, mean 5, var 1, corrected scale 1/3 + 1/2, df 2
    t = 0.05 / math.sqrt((1 / 3 + 1 / 2) * 0.0001)
    from scipy import stats as st

    assert c.p_value == pytest.approx(2 * st.t.sf(t, 2), rel=1e-6)
    assert c.p_value < 0.05 and not c.tied


def test_the_correction_is_less_confident_than_the_plain_paired_test():
    d = np.array([0.02, -0.01, 0.03, 0.01, 0.0])
    from scipy import stats as st

    plain = st.ttest_rel(d, np.zeros_like(d)).pvalue
    assert stats.paired_t(d) == pytest.approx(plain)
    assert stats.corrected_resampled_t(d, 1 / 4) > plain


def test_noisy_overlapping_scores_are_tied_and_seeds_use_the_paired_test():
    leader = {(0, s): a for s, a in enumerate([0.91, 0.93, 0.90])}
    other = {(0, s): a for s, a in enumerate([0.92, 0.90, 0.91])}
    c = stats.compare(leader, other, folds=1)
    assert c.tied and c.test == stats.PAIRED


def test_one_run_alone_says_so():
    c = stats.compare({(0, 0): 0.9}, {(0, 0): 0.8}, folds=1)
    assert math.isnan(c.p_value) and not c.tied and "one run alone" in c.note


def test_table_marks_ties_and_p_values():
    rows = [_row("a", f, acc) for f, acc in enumerate([0.95, 0.96, 0.94])]
    rows += [_row("b", f, acc) for f, acc in enumerate([0.95, 0.96, 0.94])]
    rows += [_row("c", f, 0.5 + 0.01 * f) for f in range(3)]
    table = leaderboard.rank(rows).set_index("contender")
    assert table.loc["b", "tied"] and table.loc["b", "p_value"] == 1.0
    assert not table.loc["c", "tied"] and table.loc["c", "p_value"] < 0.05
    md = leaderboard.to_markdown("digits", leaderboard.rank(rows))
    assert "1.000 =" in md and "p vs #1" in md


# -- pieces -------------------------------------------------------------------------


def test_pareto_front():
    xs, ys = [1.0, 2.0, 3.0, 0.5], [90.0, 95.0, 94.0, 80.0]
    assert figures.pareto_front(xs, ys) == [3, 0, 1]


def test_most_confused_pairs_escape_class_names():
    m = np.array([[5, 3, 0], [0, 5, 1], [0, 0, 5]])
    md = most_confused(m, ["a|b", "<c>", "d"], top=2)
    assert md.splitlines()[2:] == ["| a\\|b | &lt;c&gt; | 3 |", "| &lt;c&gt; | d | 1 |"]


def test_index_links_every_page(tmp_path):
    leaderboard.write([_row("a", f, 0.9) for f in range(3)], tmp_path)
    index = (tmp_path / "README.md").read_text()
    assert "[digits](digits.md)" in index and "**a** 90.00 %" in index


# -- a real run ---------------------------------------------------------------------


def _links(md: str) -> list[str]:
    return [m for m in re.findall(r"\]\(([^)\s]+)\)", md) if "://" not in m]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    done = run_cli(["run", "-d", "digits", "-b", "3s", "--folds", "3",
                    "-c", "sklearn-logreg,test-quick,test-noisy",
                    "--max-train-per-class", "40"], root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_digits_page_is_short_and_every_figure_is_a_link_away(digits_run):
    lb = digits_run / "leaderboards"
    md = (lb / "digits.md").read_text()
    assert md.startswith("# Leaderboard: digits\n\n**Verdict.**")
    for piece in ("overview.png", "anytime.png", "p vs #1", "Pareto front"):
        assert piece in md, piece
    # the per-model figures live on each contender's page, one link from its row
    for piece in ("confusion.png", "predictions.png", "gradcam.png", "losses.png"):
        assert piece not in md, piece
    assert len(md.splitlines()) < 60 and md.count("![") == 2  # overview + curves
    assert "Worst class %" in md and re.search(r"\| [0-9] \(\d+\.\d\) \|", md), md
    models = [link for link in _links(md) if link.endswith(".md") and "/" in link]
    assert sorted(Path(m).stem.removeprefix("3s-0gpu-cap40-") for m in models) == [
        "sklearn-logreg", "test-noisy", "test-quick"]
    pages = {m: (lb / m).read_text() for m in models}
    joined = "\n".join(pages.values())
    for piece in ("confusion.png", "predictions.png", "gradcam.png", "features.png",
                  "losses.png", "reliability.png", "## Per-class accuracy", "## Runs",
                  "harness report ", "Latency mean ms"):
        assert piece in joined, piece
    for page in ("digits.md", "README.md", *models):
        links = _links((lb / page).read_text())
        assert links
        for link in links:
            target = (lb / page).parent / link
            assert target.is_file(), (page, link)
            if link.endswith(".png"):
                data = target.read_bytes()
                assert data.startswith(PNG) and len(data) > 1000, link
    # the job key a model page names is one `harness report` takes
    key = re.search(r"harness report ([0-9a-f]+)", joined).group(1)
    done = run_cli(["report", key, "--out", str(digits_run / "one")], digits_run)
    assert done.returncode == 0, done.stderr


def test_unchanged_figures_are_not_redrawn(digits_run):
    lb = digits_run / "leaderboards"
    before = {p.name: p.stat().st_mtime_ns for p in (lb / "digits").glob("*.png")}
    done = run_cli(["leaderboard"], digits_run)
    assert done.returncode == 0, done.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (lb / "digits").glob("*.png")}
    assert before == after


def test_report_renders_one_job(digits_run):
    jobdir = next(p for p in (digits_run / "results" / "runs").iterdir()
                  if '"test-noisy"' in (p / "job.json").read_text())
    done = run_cli(["report", jobdir.name[:8]], digits_run)
    assert done.returncode == 0, done.stderr
    md = (jobdir / "report.md").read_text()
    assert "test-noisy" in md and "Grad-CAM" in md
    assert "## Per-class accuracy" in md and "figures/reliability.png" in md
    row = json.loads((jobdir / "result.json").read_text())
    assert row["test_ece_bins"] == 15 and 0 <= row["test_ece"] <= 1
    assert len(row["test_class_accuracy"]) == 10  # digits: ten classes, by name
    for link in _links(md):
        assert (jobdir / link).read_bytes().startswith(PNG), link
    bad = run_cli(["report", "nope"], digits_run)
    assert bad.returncode == 1 and "no job folder" in bad.stderr


def test_write_index_skips_foreign_csv(tmp_path):
    (tmp_path / "other.csv").write_text("x,y\n1,2\n")
    assert "No pages yet" in write_index(tmp_path).read_text()


def test_keras_explain_writes_gradcam_and_feature_maps(tmp_path):
    pytest.importorskip("tensorflow")
    from baselines.keras import import_keras
    from baselines.keras.explain import explain

    keras = import_keras(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    images = np.random.default_rng(0).integers(0, 255, (4, 8, 8, 1)).astype(np.uint8)
    explain(model, images, tmp_path / "explain.npz")
    data = np.load(tmp_path / "explain.npz")
    assert data["gradcam"].shape == (4, 8, 8)
    assert data["gradcam"].min() >= 0 and data["gradcam"].max() <= 1
    assert data["features_0"].shape == (8, 8, 4) and data["features_1"].shape == (8, 8, 4)


def test_keras_explain_reaches_into_a_nested_backbone(tmp_path):
    pytest.importorskip("tensorflow")
    from baselines.keras import import_keras
    from baselines.keras.explain import explain

    keras = import_keras(0)
    inner_in = keras.Input((16, 16, 1))
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inner_in)
    backbone = keras.Model(inner_in, keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(4, 3, padding="same", activation="relu")(y)))
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Resizing(16, 16)(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(backbone(x)))
    images = np.random.default_rng(0).integers(0, 255, (3, 8, 8, 1)).astype(np.uint8)
    explain(model, images, tmp_path / "explain.npz")
    data = np.load(tmp_path / "explain.npz")
    assert str(data["notes"]) == "" and data["gradcam"].shape == (3, 16, 16)
    assert data["features_0"].shape == (16, 16, 4)


def test_committed_pages_links_resolve():
    from tests.conftest import ROOT

    pages = sorted((ROOT / "leaderboards").glob("*.md"))
    for page in pages:
        for link in _links(page.read_text()):
            target = page.parent / link
            assert target.is_file(), f"{page.name}: {link}"
            if link.endswith(".png"):
                assert target.read_bytes().startswith(PNG), link


def test_class_names_from_users_data_draw_as_plain_text(tmp_path):
    names = ["$5 bill$", "a_b^c", "<x>"]
    m = np.array([[3, 1, 0], [0, 4, 0], [1, 0, 2]])
    figures.confusion(tmp_path / "c.png", m, names, "$x$ title")
    assert (tmp_path / "c.png").read_bytes().startswith(PNG)


def _job_folder(tmp_path, scored: bool):
    """A finished job's folder: its row and its test predictions (10 cats, 10 dogs of
    which 6 taken for birds, 10 birds), without training anything."""
    from harness.core.context import PREDICTIONS_FILE, RESULT_FILE
    from harness.scoring.metrics import score

    names = ["cat", "dog", "bird"]
    labels = np.repeat([0, 1, 2], 10)
    predicted = labels.copy()
    predicted[10:16] = 2
    proba = np.full((30, 3), 0.05)
    proba[np.arange(30), predicted] = 0.9
    jobdir = tmp_path / "0123abcd"
    jobdir.mkdir()
    np.savez_compressed(jobdir / PREDICTIONS_FILE, proba=proba.astype(np.float32),
                        labels=labels, class_names=np.array(names))
    s = score(proba, labels, 3, names)
    extra = dict(test_ece=s["ece"], test_ece_bins=s["ece_bins"],
                 test_class_accuracy=s["class_accuracy"]) if scored else {}
    row = Result.for_job(Job("pets", "keras-cnn6", 0, 1, 0, 60.0), Status.OK,
                         test_accuracy=s["accuracy"], artifacts=str(jobdir), **extra)
    (jobdir / RESULT_FILE).write_text(json.dumps(row.to_dict()))
    return jobdir


@pytest.mark.parametrize("scored", [True, False], ids=["scored", "from-before-scoring"])
def test_job_report_has_per_class_accuracy_and_a_readable_reliability_diagram(tmp_path,
                                                                             scored):
    from PIL import Image

    from harness.reporting.report import job_page

    md = job_page(_job_folder(tmp_path, scored)).read_text()
    # worst class first, with its images, those right and what it is taken for
    table = md.split("## Per-class accuracy", 1)[1].split("##", 1)[0]
    body = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert body[1:] == ["| dog | 10 | 4 | 40.00 | bird (6) |",
                        "| cat | 10 | 10 | 100.00 | – |",
                        "| bird | 10 | 10 | 100.00 | – |"]
    assert "| Worst class (accuracy %) | dog (40.00) |" in md
    # 24 right at 90 % confidence, 6 wrong: all in the bin (13/15, 14/15], gap 0.1
    assert "| Expected calibration error (15 bins) | 0.100 |" in md
    assert "figures/reliability.png" in md
    png = tmp_path / "0123abcd" / "figures" / "reliability.png"
    with Image.open(png) as im:
        dpi = im.info["dpi"]
        width, height = im.size
    assert round(dpi[0]) >= 150 and round(dpi[1]) >= 150
    assert width >= 600 and height >= 600
