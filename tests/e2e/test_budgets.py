"""A suite at two budgets writes the budget page: figure, crossover, time to accuracy,
cost and the recommendation; the suite page has the standings across datasets."""

import csv

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

SUITE = """
name: budgets
contenders: [sklearn-logreg, test-quick]
datasets: [digits]
budgets: [5s, 15s]
max_train_per_class: 30
"""


def test_suite_at_two_budgets_writes_the_budget_page(tmp_path):
    (tmp_path / "suite.yml").write_text(SUITE)
    done = run_cli(["suite", "run", "suite.yml", "--price", "gpu=2.5,cpu=0.05"], tmp_path)
    assert done.returncode == 0, done.stderr
    boards = tmp_path / "leaderboards"
    md = (boards / "digits-budgets.md").read_text()
    figure = "digits/budgets-0gpu-cap30-accuracy-vs-budget.png"
    assert f"]({figure})" in md and (boards / figure).stat().st_size > 0
    assert "passes from" in md or "The leader is the same at every budget" in md
    assert "### Time to accuracy" in md and "95% of best" in md
    assert "### Cost" in md and "at 2.5 per GPU-hour and 0.05 per CPU-hour" in md
    assert "### Recommendation" in md and "of training per fold: train **" in md
    assert (boards / "digits-budgets.csv").is_file()
    page = (boards / "digits.md").read_text()
    assert "(digits-budgets.md)" in page and "Holm-corrected" in page
    assert "p test imgs" in page and "## Provenance" in page
    assert "([by budget](digits-budgets.md))" in (boards / "README.md").read_text()
    suite = (boards / "suite-budgets.md").read_text()
    assert "## Standings across datasets" in suite and "Win rate" in suite


def test_run_with_a_budget_list_trains_once_per_budget(tmp_path):
    done = run_cli(["run", "--dataset", "digits", "--budget", "2s,4s", "--contenders",
                    "sklearn-logreg", "--max-train-per-class", "30"], tmp_path)
    assert done.returncode == 0, done.stderr
    boards = tmp_path / "leaderboards"
    with open(boards / "digits.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # one job per budget, each trained from scratch: a row per budget, one run each
    assert sorted(float(r["budget_seconds"]) for r in rows) == [2.0, 4.0]
    assert all(r["contender"] == "sklearn-logreg" and r["ok_runs"] == "1" for r in rows)
    page = (boards / "digits.md").read_text()
    assert "## Budget 2s" in page and "## Budget 4s" in page
    md = (boards / "digits-budgets.md").read_text()
    assert "The leader is the same at every budget" in md and "### Recommendation" in md
