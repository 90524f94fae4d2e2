"""The budget page: accuracy against budget, crossovers, time to accuracy, cost."""

import csv

import numpy as np
import pandas as pd

from harness.core.jobs import Job, Result, Status
from harness.reporting import budgets, kept, leaderboard


def _run(root, name, budget, seed, acc, curve=(0.5, 0.8, 0.9), gpus=0):
    job = Job("digits", name, 0, 1, seed, budget, gpus=gpus)
    folder = root / job.key
    folder.mkdir(parents=True)
    with open(folder / "history.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "elapsed_seconds", "val_accuracy"])
        for e, v in enumerate(curve, 1):
            w.writerow([e, budget * e / len(curve), v])
    labels = np.arange(300) % 10
    pred = labels.copy()
    pred[: round((1 - acc) * 300)] += 1
    np.savez(folder / "test_predictions.npz", proba=np.eye(11)[pred], labels=labels)
    return Result.for_job(job, Status.OK, test_accuracy=acc, train_seconds=budget,
                          setup_seconds=2.0, eval_seconds=1.0, latency_p50_ms=1.0,
                          n_train=900, n_val=100, artifacts=str(folder),
                          environment={"cpus_available": 2})


def _rows(root):
    rows = []
    for seed in range(3):
        rows += [_run(root, "fast-cnn", 5.0, seed, 0.90 + 0.002 * seed),
                 _run(root, "big-model", 5.0, seed, 0.70 + 0.002 * seed),
                 _run(root, "fast-cnn", 15.0, seed, 0.91 + 0.002 * seed),
                 _run(root, "big-model", 15.0, seed, 0.97 + 0.002 * seed, (0.6, 0.95, 0.97))]
    return rows


def test_budget_page_has_figure_crossover_time_to_accuracy_cost_and_advice(tmp_path):
    out = tmp_path / "boards"
    written = leaderboard.write(_rows(tmp_path / "runs"), out, prices={"cpu": 0.05})
    page = out / "digits-budgets.md"
    assert page in written and (out / "digits-budgets.csv") in written
    md = page.read_text()
    figure = out / "digits" / "budgets-0gpu-accuracy-vs-budget.png"
    assert "(digits/budgets-0gpu-accuracy-vs-budget.png)" in md and figure.stat().st_size
    assert (out / "digits" / "budgets-0gpu-accuracy-vs-cost.png").is_file()
    assert "from scratch at each budget" in md
    assert "Between 5s and 15s the lead passes from **fast-cnn** to **big-model**" in md
    assert "**significant**" in md
    assert "### Time to accuracy" in md and "90% of best" in md
    assert "### Cost" in md and "Cost per job" in md
    assert "train **fast-cnn**" in md and "train **big-model**" in md
    table = pd.read_csv(out / "digits-budgets.csv")
    assert set(table["contender"]) == {"fast-cnn", "big-model"}
    assert table["cpu_hours"].gt(0).all() and table["cost"].gt(0).all()
    main = (out / "digits.md").read_text()
    assert "(digits-budgets.md)" in main and "## Provenance" in main
    index = (out / "README.md").read_text()
    assert "([by budget](digits-budgets.md))" in index and index.count("\n| [") == 1


def test_figures_are_cached_and_one_budget_writes_no_page(tmp_path):
    out = tmp_path / "boards"
    rows = _rows(tmp_path / "runs")
    leaderboard.write(rows, out)
    figure = out / "digits" / "budgets-0gpu-accuracy-vs-budget.png"
    stamp = figure.stat().st_mtime_ns
    leaderboard.write(rows, out)
    assert figure.stat().st_mtime_ns == stamp
    one = tmp_path / "one"
    leaderboard.write([r for r in rows if r.budget_seconds == 5.0], one)
    assert not (one / "digits-budgets.md").exists()


def test_same_leader_everywhere_is_said(tmp_path):
    rows = [r for r in _rows(tmp_path / "runs") if r.contender == "fast-cnn"]
    leaderboard.write(rows, tmp_path / "boards")
    md = (tmp_path / "boards" / "digits-budgets.md").read_text()
    assert "The leader is the same at every budget: **fast-cnn**" in md
    assert "With 5s or more (measured up to 15s) of training per fold: train **fast-cnn**" in md


def test_standings_count_wins_and_average_rank():
    table = pd.DataFrame({
        "dataset": ["a", "a", "b", "b"], "budget_seconds": [5.0] * 4, "gpus": [0] * 4,
        "contender": ["x", "y", "x", "y"], "rank": pd.array([1, 2, 2, 1], dtype="Int64"),
    })
    md = "\n".join(budgets.standings(table))
    assert "| x | 1 | 50% | 1.50 | 2 |" in md


def test_job_cost_counts_gpus_and_cores():
    job = Job("digits", "m", 0, 1, 0, 3600.0, gpus=2)
    r = Result.for_job(job, Status.OK, setup_seconds=0.0, train_seconds=3600.0,
                       eval_seconds=0.0, environment={"cpus_available": 8})
    c = budgets.job_cost(r, {"gpu": 2.5, "cpu": 0.05})
    assert c["gpu_hours"] == 2 and c["cpu_hours"] == 8 and c["cost"] == 2 * 2.5 + 8 * 0.05


def _section(md: str, heading: str) -> str:
    start = md.index(heading)
    end = md.find("\n## ", start + 1)
    return md[start:end if end > 0 else None]


def test_a_page_rebuilt_without_its_job_folders_keeps_its_tests_figures_and_curves(tmp_path):
    """A fresh clone has the committed page's kept rows but none of their job folders:
    adding a run must not lose McNemar's test, the in-run time to accuracy or a figure."""
    import re
    import shutil

    out, runs = tmp_path / "boards", tmp_path / "runs"
    leaderboard.write(_rows(runs), out)
    before = (out / "digits.md").read_text()
    before_budgets = (out / "digits-budgets.md").read_text()
    models_before = {p.name: p.read_text() for p in (out / "digits").glob("*.md")}
    shutil.rmtree(runs)  # the job folders stay on the machine that ran them
    fresh = _run(tmp_path / "other", "slow-cnn", 30.0, 0, 0.5)
    leaderboard.write([fresh], out)
    after = (out / "digits.md").read_text()

    for heading in ("## Budget 5s", "## Budget 15s"):
        old, new = _section(before, heading), _section(after, heading)
        table = [line for line in old.splitlines() if line.startswith("| ")]
        assert table == [line for line in new.splitlines() if line.startswith("| ")]
        assert re.search(r"\| 0\.\d{3}|< 0\.001", "\n".join(table))  # McNemar was there
        # (the overview of the page's main group is at its top: the new 30 s group is)
        figures = [f for f in re.findall(r"\]\((digits/[^)]+\.png)\)", old)
                   if not f.endswith("overview.png")]
        assert any("anytime" in f for f in figures)
        assert figures == [f for f in re.findall(r"\]\((digits/[^)]+\.png)\)", new)
                           if not f.endswith("overview.png")]
        assert all((out / f).stat().st_size > 0 for f in figures)
        models = re.findall(r"\]\((digits/[^)]+\.md)\)", old)
        assert models and models == re.findall(r"\]\((digits/[^)]+\.md)\)", new)
        for model in models:  # each model page keeps its figures, drawn when it could be
            was, now = models_before[model[7:]], (out / model).read_text()
            drawn = re.findall(r"\]\(\./([^)]+\.png)\)", was)
            assert any("confusion" in f for f in drawn), was
            assert drawn == re.findall(r"\]\(\./([^)]+\.png)\)", now)
            assert all((out / "digits" / f).stat().st_size > 0 for f in drawn)
            assert "drawn when the job folder was on the machine" in now
    overviews = [f for f in re.findall(r"\]\((digits/[^)]+\.png)\)", before)
                 if f.endswith("overview.png")]
    assert len(overviews) == 2  # one per budget: the main one at the top of the page
    assert set(overviews) < {f for f in re.findall(r"\]\((digits/[^)]+\.png)\)", after)
                             if f.endswith("overview.png")}
    in_run = [line for line in _section(before_budgets, "### Time to accuracy").splitlines()
              if line.startswith(("| fast-cnn", "| big-model"))]
    after_budgets = (out / "digits-budgets.md").read_text()
    assert in_run and all(line in after_budgets for line in in_run)
    assert re.search(r"\| \d+s \| \d+\.\d \|", "\n".join(in_run))  # in-run seconds kept
    kept = leaderboard.kept_rows(out / "digits.results.jsonl")
    assert len(kept) == len(_rows(tmp_path / "again")) + 1


def test_each_budget_gets_the_test_its_own_runs_allow(tmp_path):
    """Seeds at one budget, folds at another: each group is tested as it was run."""
    rows = _rows(tmp_path / "runs")
    for fold in range(3):
        job = Job("digits", "fast-cnn", fold, 3, 0, 30.0)
        rows.append(Result.for_job(job, Status.OK, test_accuracy=0.9 + 0.01 * fold,
                                   train_seconds=30.0, n_train=900, n_val=100))
        job = Job("digits", "big-model", fold, 3, 0, 30.0)
        rows.append(Result.for_job(job, Status.OK, test_accuracy=0.95 + 0.01 * fold,
                                   train_seconds=30.0, n_train=900, n_val=100))
    table = leaderboard.rank(rows)
    tests = dict(zip(table["budget_seconds"], table["test"], strict=False))
    by_budget = {b: set(table.loc[table["budget_seconds"] == b, "test"]) - {"leader"}
                 for b in tests}
    assert by_budget[5.0] == by_budget[15.0] == {"paired t-test over seeds"}
    assert by_budget[30.0] == {"corrected resampled t-test"}


def _plain(name, budget, acc, fold=0, folds=1, seed=0, status=Status.OK):
    job = Job("digits", name, fold, folds, seed, budget)
    if status is not Status.OK:
        return Result.for_job(job, status, "killed at the hard limit")
    return Result.for_job(job, status, test_accuracy=acc, train_seconds=budget,
                          latency_p50_ms=1.0, n_train=900, n_val=100, n_test=360)


def test_budgets_run_with_other_protocols_are_named_and_not_compared(tmp_path):
    """One --folds 3 run at 10 s, one --seeds 2 run at 5 s, the same contenders: the lead
    changes between them, but the protocol changed too; the page says so, draws nothing."""
    rows = []
    for seed in range(2):
        rows += [_plain("fast-cnn", 5.0, 0.95 + 0.01 * seed, seed=seed),
                 _plain("big-model", 5.0, 0.80 + 0.01 * seed, seed=seed)]
    for fold in range(3):
        rows += [_plain("fast-cnn", 10.0, 0.90 + 0.01 * fold, fold=fold, folds=3),
                 _plain("big-model", 10.0, 0.97 + 0.01 * fold, fold=fold, folds=3)]
    out = tmp_path / "boards"
    leaderboard.write(rows, out)
    md = (out / "digits-budgets.md").read_text()
    assert "passes from" not in md and "### Crossover budgets" not in md
    assert "### Recommendation" not in md and "### Time to accuracy" not in md
    assert "- 5s: 2 seeds of 2 contenders, 360 test images — not compared" in md
    assert "- 10s: 3 folds of 2 contenders, 360 test images — not compared" in md
    assert "These differ in folds or seeds, so" in md
    # each budget still has its verdict, from its own table, at the top
    top = md.split("Back to the leaderboard")[0]
    assert "- **At 5s:** **fast-cnn** leads" in top and "- **At 10s:** **big-model** leads" in top


def test_protocols_are_compared_within_themselves(tmp_path):
    """Seeds at 5 s and 15 s, folds at 30 s: the two seeded budgets are compared, the
    folded one is named apart, and no crossover reaches it."""
    rows = _rows(tmp_path / "runs")
    for fold in range(3):
        rows += [_plain("fast-cnn", 30.0, 0.99, fold=fold, folds=3),
                 _plain("big-model", 30.0, 0.5, fold=fold, folds=3),
                 _plain("other", 30.0, 0.6, fold=fold, folds=3)]
    out = tmp_path / "boards"
    leaderboard.write(rows, out)
    md = (out / "digits-budgets.md").read_text()
    # the seeded rows predate the test-set size: it is not held against them
    assert "- 30s: 3 folds of 3 contenders — not compared" in md
    assert "### Compared: 5s, 15s (3 seeds of 2 contenders)" in md
    assert "Between 5s and 15s the lead passes from **fast-cnn** to **big-model**" in md
    assert "and 30s" not in md and "train **fast-cnn** with a budget of 30s" not in md


def _pair(p_value, tied, p_test_set, tied_test_set):
    return pd.Series({"p_value": p_value, "tied": tied, "p_test_set": p_test_set,
                      "tied_test_set": tied_test_set})


def test_a_change_is_significant_only_where_its_own_table_tells_the_pair_apart():
    # the committed page's case: 0.132 '=' over runs, 0.016 on the test images
    assert budgets._distinct(_pair(0.132, True, 0.016, False)) is False
    assert budgets._distinct(_pair(0.001, False, 0.016, False)) is True
    assert budgets._distinct(_pair(0.001, False, float("nan"), False)) is True
    assert budgets._distinct(_pair(float("nan"), False, float("nan"), False)) is None


def test_the_advice_never_falls_below_a_smaller_budget_and_names_what_is_missing(tmp_path):
    rows = []
    for seed in range(3):
        rows += [_plain("fast-cnn", 5.0, 0.95 + 0.001 * seed, seed=seed),
                 _plain("big-model", 5.0, 0.70 + 0.001 * seed, seed=seed),
                 _plain("slow-net", 5.0, 0.60 + 0.001 * seed, seed=seed),
                 _plain("fast-cnn", 15.0, 0.80 + 0.001 * seed, seed=seed),
                 _plain("big-model", 15.0, 0.90 + 0.001 * seed, seed=seed),
                 _plain("slow-net", 15.0, 0, seed=seed, status=Status.TIMEOUT)]
    leaderboard.write(rows, tmp_path)
    md = (tmp_path / "digits-budgets.md").read_text()
    advice = md.split("### Recommendation")[1]
    assert "train **big-model**" not in advice
    assert ("- With 15s or more (measured up to 15s) of training per fold: train **fast-cnn** "
            "with a budget of 5s (95.10 % there)") in advice
    assert "Not in the recommendation: slow-net: no result at 15s (timeout)." in advice
    assert "| slow-net | 60.10 ± 0.10 | timeout |" in md


def test_the_same_rows_give_the_same_pages_whatever_was_read_before(tmp_path):
    """Reporting holds no module state: a page rebuilt from its kept rows (job folders
    gone) is byte for byte the same whether or not another page's rows were read and
    ranked first, in processes that import the modules in different orders."""
    import json
    import re
    import shutil
    import subprocess
    import sys

    from tests.conftest import ROOT

    runs = tmp_path / "runs"
    leaderboard.write(_rows(runs), tmp_path / "made")
    shutil.rmtree(runs)  # what a fresh clone has: the kept rows, not the folders
    other = tmp_path / "other"
    leaderboard.write([_run(tmp_path / "elsewhere", "fast-cnn", 5.0, 7, 0.5)], other)
    shutil.rmtree(tmp_path / "elsewhere")
    plain = ("from pathlib import Path\nimport sys\n"
             "from harness.reporting import leaderboard\n"
             "leaderboard.write([], Path(sys.argv[1]))\n")
    first_other = ("from pathlib import Path\nimport sys\n"
                   "from harness.reporting import budgets, kept, report, leaderboard\n"
                   "rows = leaderboard.kept_rows(Path(sys.argv[2]) / 'digits.results.jsonl',"
                   " kept.Answers())\n"
                   "leaderboard.rank(rows + leaderboard.kept_rows("
                   "Path(sys.argv[1]) / 'digits.results.jsonl'))\n"
                   "leaderboard.write([], Path(sys.argv[1]))\n")
    pages = []
    for name, script in (("a", plain), ("b", first_other)):
        shutil.copytree(tmp_path / "made", tmp_path / name)
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path / name),
                               str(other)], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        pages.append({p.name: "\n".join(line for line in p.read_text().splitlines()
                                        if not line.startswith("Generated by"))
                      for p in sorted((tmp_path / name).rglob("*.md"))
                      + sorted((tmp_path / name).glob("*.csv"))})
    assert pages[0] == pages[1]
    assert re.search(r"\| 0\.\d{3}|< 0\.001", pages[0]["digits.md"])  # McNemar, from kept
    # in one process: reading kept rows changes nothing a later ranking sees
    lines = (tmp_path / "made" / "digits.results.jsonl").read_text().splitlines()
    rows = [Result.from_dict(json.loads(line)) for line in lines]
    before = leaderboard.rank(rows)
    leaderboard.kept_rows(tmp_path / "made" / "digits.results.jsonl")
    leaderboard.kept_rows(tmp_path / "made" / "digits.results.jsonl", kept.Answers())
    pd.testing.assert_frame_equal(before, leaderboard.rank(rows))
