import math

import pytest

from harness.core.errors import HarnessError
from harness.core.jobs import Job, Result, Status
from harness.reporting import leaderboard


def _ok(contender, seed, acc, train=50.0, dataset="cifar10", budget=60.0):
    job = Job(dataset, contender, 0, 1, seed, budget)
    return Result.for_job(job, Status.OK, test_accuracy=acc, test_macro_f1=acc,
                          train_seconds=train, latency_p50_ms=1.0, throughput_per_s=100.0,
                          parameters=1000)


def test_rank_by_mean_accuracy_with_std_over_seeds():
    rows = [_ok("sklearn-logreg", 0, 0.40), _ok("sklearn-logreg", 1, 0.42),
            _ok("keras-shallow", 0, 0.60), _ok("keras-shallow", 1, 0.64)]
    table = leaderboard.rank(rows)
    assert list(table["contender"]) == ["keras-shallow", "sklearn-logreg"]
    assert list(table["rank"]) == [1, 2]
    assert table.loc[0, "test_accuracy"] == pytest.approx(62.0)
    assert table.loc[0, "test_accuracy_std"] == pytest.approx(math.sqrt(8))
    assert table.loc[0, "gap_to_sota_pts"] == pytest.approx(62.0 - 99.5)


def test_failed_rows_are_listed_unranked_with_their_reason():
    job = Job("cifar10", "keras-shallow", 0, 1, 0, 60.0)
    rows = [_ok("sklearn-logreg", 0, 0.4),
            Result.for_job(job, Status.TIMEOUT, "training passed the hard limit of 105 s")]
    table = leaderboard.rank(rows)
    assert str(table.loc[1, "rank"]) == "<NA>" and table.loc[1, "status"] == "timeout"
    md = leaderboard.to_markdown("cifar10", table)
    assert "training passed the hard limit of 105 s" in md


def test_over_budget_rows_are_flagged():
    rows = [_ok("sklearn-logreg", 0, 0.4, train=64.0), _ok("keras-shallow", 0, 0.5, train=62.0)]
    table = leaderboard.rank(rows)
    flags = dict(zip(table["contender"], table["over_budget"], strict=True))
    assert flags == {"sklearn-logreg": True, "keras-shallow": False}
    assert "⚠" in leaderboard.to_markdown("cifar10", table)


def test_markdown_shows_references_with_sources_and_seed_gap():
    table = leaderboard.rank([_ok("keras-cnn6", 0, 0.80)])
    md = leaderboard.to_markdown("cifar10", table)
    assert "Dosovitskiy" in md and "99.50" in md and "86.49" in md
    assert table.loc[0, "gap_to_seed_pts"] == pytest.approx(80.0 - 86.49)


def test_user_names_cannot_break_the_table():
    cell = leaderboard.md_escape("a|b `c` <script>\nnew line")
    assert "|" not in cell.replace("\\|", "")
    assert "<" not in cell and "\n" not in cell and "`" not in cell.replace("\\`", "")


def test_write_creates_markdown_and_csv(tmp_path):
    rows = [_ok("sklearn-logreg", 0, 0.4, dataset="digits")]
    written = leaderboard.write(rows, tmp_path / "boards")
    assert sorted(p.name for p in written) == ["README.md", "digits.csv", "digits.md"]
    md = (tmp_path / "boards" / "digits.md").read_text()
    assert "| 1 | sklearn-logreg |" in md and "(digits.csv)" in md
    assert "No published reference" in md


def test_leaderboard_dir_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "boards"
    target.write_text("")
    with pytest.raises(HarnessError, match="--leaderboard-dir"):
        leaderboard.write([_ok("sklearn-logreg", 0, 0.4)], target)


def test_a_page_keeps_the_rows_it_was_made_from_and_a_new_store_only_adds(tmp_path):
    committed = [_ok("keras-deep", 0, 0.7), _ok("sklearn-logreg", 0, 0.4)]
    leaderboard.write(committed, tmp_path)
    kept = tmp_path / "cifar10.results.jsonl"
    assert [r.contender for r in leaderboard.kept_rows(kept)] == ["keras-deep",
                                                                  "sklearn-logreg"]
    # a fresh clone: its store has none of the committed rows, one job again, one new
    again = _ok("sklearn-logreg", 0, 0.45)
    fresh = [again, _ok("keras-shallow", 0, 0.6)]
    leaderboard.write(fresh, tmp_path)
    rows = leaderboard.kept_rows(kept)
    assert [(r.contender, r.test_accuracy) for r in rows] == [
        ("keras-deep", 0.7), ("sklearn-logreg", 0.45), ("keras-shallow", 0.6)]
    md = (tmp_path / "cifar10.md").read_text()
    assert "keras-deep" in md and "keras-shallow" in md and "45.00" in md


def test_a_kept_row_names_no_path_of_the_machine_that_ran_it(tmp_path):
    from dataclasses import replace

    from harness.reporting.kept import portable

    jobdir = tmp_path / "runs" / "0123abcd"
    row = replace(_ok("optuna-tpe", 0, 0.9), artifacts=str(jobdir), description={
        "trials": str(jobdir / "trials.csv"), "weights": str(tmp_path / "w" / "lite0"),
        "layers": [str(tmp_path / "x")], "preset": "medium", "size": 64})
    data = portable(row)
    assert data["artifacts"] == "0123abcd"
    assert data["description"] == {"trials": "0123abcd/trials.csv", "weights": "…/lite0",
                                   "layers": ["…/x"], "preset": "medium", "size": 64}
    assert str(tmp_path) not in repr(data)
