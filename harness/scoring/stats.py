"""Is the leader really better, or is it noise? Paired tests over the same folds/seeds.

Every contender of a group is compared with the leader on the runs they share (the
same fold of the same seed). With K-fold the runs' training sets overlap, so the plain
paired t-test is far too confident; the corrected resampled t-test of Nadeau and
Bengio (2003) widens the variance by the test-to-train size ratio. With a single
fold, each seed draws its own split, and a paired t-test over seeds is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    #: a run's job folder -> (right or wrong per test image, an id of the test set)
    Predictions = Callable[[str], tuple[np.ndarray, str] | None]

ALPHA = 0.05
CORRECTED = "corrected resampled t-test"
PAIRED = "paired t-test over seeds"
MCNEMAR = "McNemar mid-p on the test images"


@dataclass(frozen=True)
class Comparison:
    """The leader against one contender: ``p_value`` is NaN where no test is possible."""

    p_value: float
    pairs: int
    test: str
    tied: bool
    note: str = ""


def _t_p_value(mean: float, var: float, n: int, scale: float) -> float:
    """Two-sided p of ``t = mean / sqrt(scale * var)`` with ``n - 1`` degrees of freedom."""
    # scipy.special, not scipy.stats: the latter takes seconds to import
    from scipy.special import stdtr

    if var <= 0:  # every pair differs by the same amount: no noise to hide behind
        return 1.0 if mean == 0 else 0.0
    t = mean / math.sqrt(scale * var)
    return float(2 * stdtr(n - 1, -abs(t)))


def corrected_resampled_t(diffs: np.ndarray, test_train_ratio: float) -> float:
    """p-value of Nadeau and Bengio's corrected resampled t-test.

    ``diffs`` are the per-run score differences over ``k × r`` runs of ``r``-times
    repeated K-fold; ``test_train_ratio`` is n_test / n_train of one run (1/(K-1)).
    """
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    return _t_p_value(float(d.mean()), float(d.var(ddof=1)), n, 1 / n + test_train_ratio)


def paired_t(diffs: np.ndarray) -> float:
    """p-value of the ordinary paired t-test on ``diffs``."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    return _t_p_value(float(d.mean()), float(d.var(ddof=1)), n, 1 / n)


def holm(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN (no test) stays NaN and does not count."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = len(idx)
    if not m:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return out


def mcnemar(b: int, c: int, mid: bool = True) -> float:
    """Two-sided p of McNemar's exact test on ``b`` and ``c``, the discordant counts
    (images only the first got right, images only the second got right).

    ``mid``: the mid-p version (half the probability of the observed count removed).
    """
    from scipy.special import bdtr  # the binomial CDF, without scipy.stats' import time

    n, k = int(b + c), int(min(b, c))
    if n == 0:
        return 1.0
    cdf = float(bdtr(k, n, 0.5))
    if not mid:
        return min(1.0, 2 * cdf)
    point = cdf - (float(bdtr(k - 1, n, 0.5)) if k > 0 else 0.0)
    return min(1.0, 2 * (cdf - 0.5 * point))


def discordant(pred_a: np.ndarray, pred_b: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(images only ``a`` got right, images only ``b`` got right)."""
    return discordant_right(np.asarray(pred_a) == labels, np.asarray(pred_b) == labels)


def discordant_right(right_a: np.ndarray, right_b: np.ndarray) -> tuple[int, int]:
    """The same from each model's right-or-wrong per image."""
    return int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))


def compare(leader: dict[tuple, float], other: dict[tuple, float], folds: int,
            test_train_ratio: float | None = None, alpha: float = ALPHA) -> Comparison:
    """Compare two contenders' scores keyed by ``(fold, seed)``."""
    shared = sorted(set(leader) & set(other))
    if len(shared) < 2:
        return Comparison(math.nan, len(shared), "", False,
                          "one run alone: no test" if shared else "no shared runs")
    diffs = np.array([leader[k] - other[k] for k in shared])
    if folds > 1:
        ratio = test_train_ratio if test_train_ratio else 1 / (folds - 1)
        p, test = corrected_resampled_t(diffs, ratio), CORRECTED
    else:
        p, test = paired_t(diffs), PAIRED
    return Comparison(p, len(shared), test, p >= alpha)


def test_set_comparison(lead: dict[tuple, str], other: dict[tuple, str],
                        predictions: Predictions) -> tuple[float, str]:
    """McNemar's mid-p between the first pair of runs (same fold and seed, else each
    one's first run) whose test predictions are both there; (NaN, why) otherwise."""
    shared = sorted(set(lead) & set(other))
    pairs = [(k, k) for k in shared] or ([(min(lead), min(other))] if lead and other else [])
    for a, b in pairs:
        pa, pb = predictions(lead[a]), predictions(other[b])
        if pa is None or pb is None:
            continue
        if pa[1] != pb[1]:
            # not scored on the same test images: no other pair would be either
            return math.nan, "different test images"
        only_lead, only_other = discordant_right(pa[0], pb[0])
        return mcnemar(only_lead, only_other), f"{only_lead}/{only_other}"
    return math.nan, "no test predictions"


def annotate(table: pd.DataFrame, frame: pd.DataFrame, group: list[str],
             alpha: float = ALPHA, predictions: Predictions | None = None
             ) -> pd.DataFrame:
    """Add, for each row against its group's leader: ``p_raw`` and ``p_value`` (that p
    Holm-corrected over the group's k - 1 comparisons), ``tied`` and ``test``; and the
    test over the shared test images, ``p_test_set`` (Holm-corrected McNemar mid-p),
    ``tied_test_set`` and ``discordant`` ("only the leader right / only this one right").

    ``table`` is the ranked table (leader first in each group), ``frame`` the raw rows,
    ``predictions`` reads a job folder's test predictions (None: no test-set test).
    """
    import pandas as pd

    table = table.copy()
    table["p_value"], table["p_raw"], table["tied"], table["test"] = math.nan, math.nan, \
        False, ""
    table["p_test_set"], table["tied_test_set"], table["discordant"] = math.nan, False, ""
    if frame.empty or table.empty:
        return table
    ok = frame[frame["status"] == "ok"]
    ok = ok.assign(acc=pd.to_numeric(ok["test_accuracy"], errors="coerce")).dropna(subset=["acc"])
    runs, folders, nfolds = {}, {}, {}
    artifacts = ok["artifacts"] if "artifacts" in ok else pd.Series("", index=ok.index)
    ok = ok.assign(artifacts=artifacts.fillna(""))
    for k, g in ok.groupby([*group, "contender"], sort=False, dropna=False):
        keys = list(zip(g["fold"], g["seed"], strict=True))
        runs[k] = dict(zip(keys, g["acc"], strict=True))
        folders[k] = {key: a for key, a in zip(keys, g["artifacts"], strict=True) if a}
        nfolds[k] = int(pd.to_numeric(g["folds"], errors="coerce").max() or 1)
    sizes = ok.assign(ratio=pd.to_numeric(ok["n_val"], errors="coerce")
                      / pd.to_numeric(ok["n_train"], errors="coerce"))
    ratio = sizes.groupby(group, dropna=False)["ratio"].mean().to_dict()
    for keys, g in table.groupby(group, sort=False, dropna=False):
        ranked = g[g["rank"].notna()]
        if ranked.empty:
            continue
        lead = ranked.iloc[0]
        lead_runs = runs.get((*keys, lead["contender"]), {})
        lead_folders = folders.get((*keys, lead["contender"]), {})
        # the leader's runs in this group: another budget may have run with other folds
        folds = nfolds.get((*keys, lead["contender"]), 1)
        raw: dict = {}
        on_test: dict = {}
        for idx in ranked.index:
            name = table.at[idx, "contender"]
            if name == lead["contender"]:
                table.at[idx, "test"] = "leader" if len(lead_runs) > 1 else "one run alone"
                continue
            r = ratio.get(keys, math.nan)
            c = compare(lead_runs, runs.get((*keys, name), {}), folds,
                        None if r is None or math.isnan(r) else r, alpha)
            raw[idx] = c.p_value
            table.at[idx, "test"] = c.test or c.note
            if predictions is not None:
                on_test[idx] = test_set_comparison(
                    lead_folders, folders.get((*keys, name), {}), predictions)
        for idx, p_raw, p in zip(raw, raw.values(), holm(list(raw.values())), strict=True):
            table.at[idx, "p_raw"] = p_raw
            table.at[idx, "p_value"] = p
            table.at[idx, "tied"] = bool(p >= alpha)  # NaN: no test, so not shown as tied
        tests = [p for p, _ in on_test.values()]
        for (idx, (_, counts)), p in zip(on_test.items(), holm(tests), strict=True):
            table.at[idx, "p_test_set"] = p
            table.at[idx, "tied_test_set"] = bool(p >= alpha)
            table.at[idx, "discordant"] = counts
    return table
