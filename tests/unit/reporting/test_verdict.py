"""The verdict says who won, who is tied with it, what did not run, what would settle it."""

from __future__ import annotations

import math

import pandas as pd

from harness.reporting.verdict import short_reason, verdict


def _table(rows):
    base = {"dataset": "digits", "budget_seconds": 30.0, "test_accuracy_std": math.nan,
            "ok_runs": 1, "tied": False, "tied_test_set": False, "p_value": math.nan,
            "p_test_set": math.nan, "train_seconds": 30.0, "latency_p50_ms": 1.0,
            "status": "ok", "message": ""}
    return pd.DataFrame([{**base, **r} for r in rows]).astype({"rank": "Int64"})


def test_leader_tie_cheaper_choice_and_the_command_that_settles_it():
    table = _table([
        {"rank": 1, "contender": "keras-fastnet", "test_accuracy": 98.4,
         "test_accuracy_std": 0.3, "ok_runs": 2},
        {"rank": 2, "contender": "sklearn-svc", "test_accuracy": 98.1, "ok_runs": 2,
         "tied": True, "p_value": 0.4, "train_seconds": 0.2},
        {"rank": 3, "contender": "sklearn-logreg", "test_accuracy": 96.0, "ok_runs": 2,
         "p_value": 0.01},
        {"rank": None, "contender": "automm-medium", "test_accuracy": math.nan, "ok_runs": 0,
         "status": "skipped", "message": "pretrained weights for backbone x not found and "
                                         "no network (huggingface.co cannot be reached): put"},
    ])
    text = verdict(table)
    assert text.startswith("**keras-fastnet** leads with 98.40 % ± 0.30 (2 runs).")
    assert "Not distinguishable from it: **sklearn-svc** (98.10 %)." in text
    assert "sklearn-logreg" not in text.split("Did not run")[0].split("Not distinguishable")[1]
    assert ("**sklearn-svc**, which the tests cannot tell from it, trains 150× faster (0.2 s "
            "against 30).") in text
    assert "Did not run: automm-medium (skipped: no weights offline)." in text
    assert text.endswith("To settle it: `harness run --dataset digits --budget 30s --seeds 3`.")


def test_a_tied_contender_faster_both_ways_is_one_sentence():
    table = _table([
        {"rank": 1, "contender": "keras-deep", "test_accuracy": 99.3, "ok_runs": 3,
         "latency_p50_ms": 20.0},
        {"rank": 2, "contender": "sklearn-logreg", "test_accuracy": 98.0, "ok_runs": 3,
         "tied": True, "p_value": 0.2, "train_seconds": 0.1, "latency_p50_ms": 0.1},
    ])
    assert ("sklearn-logreg, which the tests cannot tell from it, trains 300× faster (0.1 s "
            "against 30) and predicts 200× faster (0.1 ms an image against 20).") \
        in verdict(table, markdown=False)


def test_a_clear_winner_needs_nothing_settled():
    table = _table([
        {"rank": 1, "contender": "a", "test_accuracy": 99.0, "ok_runs": 3},
        {"rank": 2, "contender": "b", "test_accuracy": 90.0, "ok_runs": 3, "p_value": 0.001},
    ])
    text = verdict(table, markdown=False)
    assert text == ("a leads with 99.00 % (3 runs). Every other contender is behind it by "
                    "the tests.")


def test_nothing_finished_is_said_and_reasons_stay_short():
    table = _table([{"rank": None, "contender": "a", "test_accuracy": math.nan, "ok_runs": 0,
                     "status": "timeout", "message": "killed at the hard limit of 67 s"}])
    assert verdict(table, markdown=False) == ("No contender finished this table. Did not run: "
                                              "a (timeout: killed at the hard limit of 67 s).")
    assert short_reason("tensorflow not installed: pip install 'harness[keras]'") == \
        "not installed"
    long = short_reason("a very long reason that goes on and on beyond the cell width")
    assert long.endswith("…") and len(long) <= 33 and " " + long[:-1].split()[-1] in \
        " a very long reason that goes on and on"


def test_a_pair_the_two_tests_judge_differently_is_not_called_tied():
    table = _table([
        {"rank": 1, "contender": "a", "test_accuracy": 99.1, "ok_runs": 3},
        {"rank": 2, "contender": "b", "test_accuracy": 96.7, "ok_runs": 3, "p_value": 0.06,
         "tied": True, "p_test_set": 0.04, "tied_test_set": False, "train_seconds": 0.1},
    ])
    text = verdict(table, markdown=False)
    assert "Not distinguishable" not in text and "cannot tell" not in text, text
    assert "The tests disagree on b (96.70 %)" in text
