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
    import pandas as pd

ALPHA = 0.05
CORRECTED = "corrected resampled t-test"
PAIRED = "paired t-test over seeds"


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


def annotate(table: pd.DataFrame, frame: pd.DataFrame, group: list[str],
             alpha: float = ALPHA) -> pd.DataFrame:
    """Add ``p_value``, ``tied`` and ``test`` columns: each row against its group's leader.

    ``table`` is the ranked table (leader first in each group), ``frame`` the raw rows.
    """
    import pandas as pd

    table = table.copy()
    table["p_value"], table["tied"], table["test"] = math.nan, False, ""
    if frame.empty or table.empty:
        return table
    ok = frame[frame["status"] == "ok"]
    ok = ok.assign(acc=pd.to_numeric(ok["test_accuracy"], errors="coerce")).dropna(subset=["acc"])
    runs = {k: dict(zip(zip(g["fold"], g["seed"], strict=True), g["acc"], strict=True))
            for k, g in ok.groupby([*group, "contender"], sort=False, dropna=False)}
    sizes = ok.assign(ratio=pd.to_numeric(ok["n_val"], errors="coerce")
                      / pd.to_numeric(ok["n_train"], errors="coerce"))
    ratio = sizes.groupby(group, dropna=False)["ratio"].mean().to_dict()
    for keys, g in table.groupby(group, sort=False, dropna=False):
        ranked = g[g["rank"].notna()]
        if ranked.empty:
            continue
        lead = ranked.iloc[0]
        lead_runs = runs.get((*keys, lead["contender"]), {})
        folds = int(ok.loc[ok["contender"] == lead["contender"], "folds"].max() or 1)
        for idx in ranked.index:
            name = table.at[idx, "contender"]
            if name == lead["contender"]:
                table.at[idx, "test"] = "leader" if len(lead_runs) > 1 else "one run alone"
                continue
            r = ratio.get(keys, math.nan)
            c = compare(lead_runs, runs.get((*keys, name), {}), folds,
                        None if r is None or math.isnan(r) else r, alpha)
            table.at[idx, "p_value"] = c.p_value
            table.at[idx, "tied"] = c.tied
            table.at[idx, "test"] = c.test or c.note
    return table
