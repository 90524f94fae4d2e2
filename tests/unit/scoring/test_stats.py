"""Holm's correction and McNemar's test against reference implementations."""

import math

import numpy as np
import pytest

from harness.core.jobs import Job, Result, Status
from harness.scoring import stats

P_VALUES = [0.01, 0.04, 0.03, 0.005, 0.2, math.nan, 0.04]


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    got = stats.holm(P_VALUES)
    finite = [p for p in P_VALUES if not math.isnan(p)]
    _, want, _, _ = multitest.multipletests(finite, method="holm")
    assert math.isnan(got[5])
    np.testing.assert_allclose([g for g in got if not math.isnan(g)], want, rtol=1e-12)


def test_holm_of_nothing_and_of_one():
    assert stats.holm([]).size == 0
    assert stats.holm([0.03]).tolist() == [0.03]
    assert math.isnan(stats.holm([math.nan])[0])


@pytest.mark.parametrize(("b", "c"), [(0, 0), (5, 0), (3, 9), (12, 12), (40, 21), (1, 0)])
def test_mcnemar_exact_matches_statsmodels_and_mid_p_matches_scipy(b, c):
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    from scipy.stats import binom

    table = [[50, b], [c, 30]]
    want = contingency.mcnemar(table, exact=True).pvalue
    assert stats.mcnemar(b, c, mid=False) == pytest.approx(want, rel=1e-10)
    n, k = b + c, min(b, c)
    mid = 1.0 if n == 0 else min(1.0, 2 * binom.cdf(k, n, 0.5) - binom.pmf(k, n, 0.5))
    assert stats.mcnemar(b, c) == pytest.approx(mid, rel=1e-10)
    assert stats.mcnemar(b, c) <= stats.mcnemar(b, c, mid=False)


def test_discordant_counts():
    labels = np.array([0, 1, 2, 0, 1])
    a = np.array([0, 1, 0, 0, 2])
    b = np.array([0, 0, 2, 1, 2])
    assert stats.discordant(a, b, labels) == (2, 1)


def _row(name, seed, acc, folder=""):
    job = Job("digits", name, 0, 1, seed, 60.0)
    return Result.for_job(job, Status.OK, test_accuracy=acc, n_train=900, n_val=100,
                          artifacts=folder)


def test_annotate_holm_corrects_the_group_and_tests_the_test_images(tmp_path):
    from harness.reporting import leaderboard

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 400)
    rows = []
    for name, acc, wrong in (("a", 0.95, 20), ("b", 0.94, 24), ("c", 0.60, 160)):
        for seed in range(3):
            pred = labels.copy()
            pred[rng.choice(400, wrong, replace=False)] += 1
            folder = tmp_path / f"{name}{seed}"
            folder.mkdir()
            np.savez(folder / "test_predictions.npz", proba=np.eye(11)[pred], labels=labels)
            rows.append(_row(name, seed, acc + 0.003 * seed * (name != "b"), str(folder)))
    table = leaderboard.rank(rows).set_index("contender")
    raw = table.loc[["b", "c"], "p_raw"].to_numpy()
    np.testing.assert_allclose(table.loc[["b", "c"], "p_value"], stats.holm(raw))
    assert table.loc["c", "p_test_set"] < 0.001 and not table.loc["c", "tied_test_set"]
    assert table.loc["b", "tied_test_set"]
    assert table.loc["a", "test"] == "leader" and math.isnan(table.loc["a", "p_test_set"])
    md = leaderboard.to_markdown("digits", table.reset_index())
    assert "p test imgs" in md


def test_one_run_each_still_gets_a_test_set_verdict(tmp_path):
    labels = np.arange(200) % 5
    rows = []
    for name, wrong in (("good", 5), ("bad", 80)):
        pred = labels.copy()
        pred[:wrong] = (pred[:wrong] + 1) % 5
        folder = tmp_path / name
        folder.mkdir()
        np.savez(folder / "test_predictions.npz", proba=np.eye(5)[pred], labels=labels)
        rows.append(_row(name, 0, 1 - wrong / 200, str(folder)))
    from harness.reporting import leaderboard

    table = leaderboard.rank(rows).set_index("contender")
    assert math.isnan(table.loc["bad", "p_value"])
    assert table.loc["bad", "p_test_set"] == pytest.approx(stats.mcnemar(75, 0))
    assert table.loc["bad", "discordant"] == "75/0"
