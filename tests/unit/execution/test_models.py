"""Which models a run keeps, and which one `harness export-model` picks."""

from __future__ import annotations

import pytest

from harness.core.errors import HarnessError
from harness.core.jobs import Result, Status
from harness.execution.models import choose, keep_leaders, leaders


def _row(tmp_path, key, contender, acc, budget=10.0, status=Status.OK, model=True):
    folder = tmp_path / key
    (folder / "model").mkdir(parents=True)
    if not model:
        (folder / "model").rmdir()
    return Result(job_key=key, dataset="digits", contender=contender, family="test", fold=0,
                  folds=1, seed=int(key[-1]), budget_seconds=budget, gpus=0, status=status,
                  test_accuracy=acc, artifacts=str(folder))


def test_the_leader_is_the_best_mean_and_its_best_job_is_kept(tmp_path):
    rows = [_row(tmp_path, "a1", "a", 90.0), _row(tmp_path, "a2", "a", 96.0),  # mean 93
            _row(tmp_path, "b1", "b", 94.0), _row(tmp_path, "b2", "b", 94.5),  # mean 94.25
            _row(tmp_path, "c1", "c", None, status=Status.ERROR),
            _row(tmp_path, "d1", "d", 99.0, budget=30.0)]
    lead = leaders(rows)
    assert {t[1]: r.job_key for t, r in lead.items()} == {10.0: "b2", 30.0: "d1"}
    removed = keep_leaders(rows[:5], rows)  # d1 ran in another run: untouched
    assert sorted(p.parent.name for p in removed) == ["a1", "a2", "b1", "c1"]
    assert sorted(p.name for p in tmp_path.glob("*/model")) == ["model", "model"]
    assert (tmp_path / "b2/model").is_dir() and (tmp_path / "d1/model").is_dir()


def test_export_picks_the_largest_budget_unless_told(tmp_path):
    rows = [_row(tmp_path, "a1", "a", 90.0), _row(tmp_path, "b1", "b", 80.0, budget=30.0),
            _row(tmp_path, "c1", "c", 95.0, budget=30.0, model=False)]
    # the 30 s leader's model is gone: the largest budget whose leader's model is here
    assert choose(rows).job_key == "a1"
    assert choose(rows[:2]).job_key == "b1"
    assert choose(rows, budget=10.0).job_key == "a1"
    assert choose(rows, contender="b").job_key == "b1"
    with pytest.raises(HarnessError, match="--keep-models"):
        choose(rows, contender="c")
    with pytest.raises(HarnessError, match="--budget"):
        choose(rows, budget=60.0)
