import json
import math
import os
import re
import stat
from dataclasses import replace

import pandas as pd
import pytest

from harness.core.errors import HarnessError
from harness.core.files import write_json_atomic
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
    assert "| 1 | [sklearn-logreg](digits/1m-0gpu-sklearn-logreg.md) |" in md
    assert "(digits.csv)" in md
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
    from harness.reporting.kept import Answers

    jobdir = tmp_path / "runs" / "0123abcd"
    row = replace(_ok("optuna-tpe", 0, 0.9), artifacts=str(jobdir), description={
        "trials": str(jobdir / "trials.csv"), "weights": str(tmp_path / "w" / "lite0"),
        "layers": [str(tmp_path / "x")], "preset": "medium", "size": 64})
    data = Answers().portable(row)
    assert data["artifacts"] == "0123abcd"
    assert data["description"] == {"trials": "0123abcd/trials.csv", "weights": "…/lite0",
                                   "layers": ["…/x"], "preset": "medium", "size": 64}
    assert str(tmp_path) not in repr(data)


def _scored(contender, seed, acc, ece, log_loss, classes, dataset="digits"):
    row = _ok(contender, seed, acc, dataset=dataset)
    return replace(row, test_ece=ece, test_ece_bins=15, test_log_loss=log_loss,
                   test_class_accuracy=classes)


def test_the_csv_has_calibration_log_loss_and_the_worst_class(tmp_path):
    rows = [_scored("keras-cnn6", 0, 0.8, 0.10, 0.5, {"a": 0.9, "b": 0.5, "c": 0.8}),
            _scored("keras-cnn6", 1, 0.8, 0.30, 0.7, {"a": 0.9, "b": 0.7, "c": 0.5}),
            # a row from before these were scored: its cells are empty, not zero
            _ok("sklearn-logreg", 0, 0.4, dataset="digits")]
    leaderboard.write(rows, tmp_path)
    csv = pd.read_csv(tmp_path / "digits.csv").set_index("contender")
    assert {"test_ece_15bins", "test_log_loss", "worst_class",
            "worst_class_accuracy"} <= set(csv.columns)
    cnn = csv.loc["keras-cnn6"]
    assert cnn["test_ece_15bins"] == pytest.approx(0.2)
    assert cnn["test_log_loss"] == pytest.approx(0.6)
    # over the two runs b averages 60 %, c 65 %: b is the worst class, though c had 50 %
    assert cnn["worst_class"] == "b" and cnn["worst_class_accuracy"] == pytest.approx(60.0)
    old = csv.loc["sklearn-logreg"]
    assert math.isnan(old["test_ece_15bins"]) and math.isnan(old["worst_class_accuracy"])
    assert pd.isna(old["worst_class"])
    # the kept rows carry them: a page rebuilt from a store without them is the same
    leaderboard.write([_ok("keras-shallow", 0, 0.6, dataset="digits")], tmp_path)
    again = pd.read_csv(tmp_path / "digits.csv").set_index("contender")
    assert again.loc["keras-cnn6", "worst_class"] == "b"
    assert again.loc["keras-cnn6", "test_ece_15bins"] == pytest.approx(0.2)


def test_a_kept_row_from_before_calibration_reads_with_empty_cells(tmp_path):
    data = _ok("keras-deep", 0, 0.7, dataset="digits").to_dict()
    for name in ("test_ece", "test_ece_bins", "test_class_accuracy"):
        data.pop(name)
    (tmp_path / "digits.results.jsonl").write_text(json.dumps(data) + "\n")
    leaderboard.write([_scored("keras-cnn6", 0, 0.8, 0.1, 0.5, {"a": 0.9, "b": 0.6})],
                      tmp_path)
    csv = pd.read_csv(tmp_path / "digits.csv").set_index("contender")
    assert math.isnan(csv.loc["keras-deep", "test_ece_15bins"])
    assert csv.loc["keras-cnn6", "worst_class"] == "b"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_pages_csvs_and_figures_get_the_permissions_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        leaderboard.write([_ok("sklearn-logreg", 0, 0.4, dataset="digits"),
                           _ok("keras-cnn6", 0, 0.5, dataset="digits")], tmp_path / "boards")
        write_json_atomic(tmp_path / "result.json", {"status": "ok"})
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "boards").rglob("*") if p.is_file()]
    assert {".md", ".csv", ".png", ".jsonl"} <= {p.suffix for p in files}
    assert {p.relative_to(tmp_path).as_posix(): oct(stat.S_IMODE(p.stat().st_mode))
            for p in files} == {p.relative_to(tmp_path).as_posix(): oct(mode) for p in files}
    # a job folder's files stay owner-only, whatever the umask
    assert stat.S_IMODE((tmp_path / "result.json").stat().st_mode) == 0o600


def test_a_page_starts_with_the_verdict_of_its_main_table_and_each_table_has_its_own(tmp_path):
    rows = []
    for seed, (a, b, c) in enumerate([(0.90, 0.89, 0.50), (0.92, 0.93, 0.52),
                                      (0.94, 0.92, 0.51)]):
        rows += [_ok("keras-cnn6", seed, a, dataset="digits"),
                 _ok("keras-shallow", seed, b, dataset="digits"),
                 _ok("sklearn-logreg", seed, c, dataset="digits"),
                 _ok("sklearn-logreg", seed, 0.5, dataset="digits", budget=5.0)]
    leaderboard.write(rows, tmp_path)
    lines = [line for line in (tmp_path / "digits.md").read_text().splitlines() if line]
    assert lines[0] == "# Leaderboard: digits"
    # the largest budget is the main table: its leader and the contender tied with it
    assert lines[1].startswith("**Verdict.** At 1m (each table below has its own verdict): "
                               "**keras-cnn6** leads with 92.00 % ± 2.00 (3 runs). Not "
                               "distinguishable from it: **keras-shallow** (91.33 %).")
    assert "sklearn-logreg" not in lines[1].split("Not distinguishable")[1].split(".")[0]
    for heading in ("## Budget 5s · 0 GPUs", "## Budget 1m · 0 GPUs"):
        assert lines[lines.index(heading) + 1].startswith("**Verdict:** ")
    five = lines[lines.index("## Budget 5s · 0 GPUs") + 1]
    assert five.startswith("**Verdict:** **sklearn-logreg** leads with 50.00 %")


def test_a_contender_on_two_keras_backends_gets_a_model_page_per_backend(tmp_path):
    rows = []
    for backend, acc in (("jax", 0.9), ("torch", 0.8)):
        for seed in range(2):
            job = Job("digits", "keras-shallow", 0, 1, seed, 15.0, backend=backend)
            rows.append(Result.for_job(job, Status.OK, test_accuracy=acc + 0.01 * seed,
                                       train_seconds=15.0, latency_p50_ms=1.0))
    leaderboard.write(rows, tmp_path)
    md = (tmp_path / "digits.md").read_text()
    links = re.findall(r"\[keras-shallow \\\[(\w+)\\\]\]\((digits/[^)]+\.md)\)", md)
    assert [b for b, _ in links] == ["jax", "torch"], md
    for backend, link in links:
        page = (tmp_path / link).read_text()
        keys = {r.job_key for r in rows if r.runtime.backend == backend}
        assert all(f"`{k}`" in page for k in keys), page  # its own runs, not the other's
        assert "| Fold | Seed |" in page and page.count("| ok |") == 2
