"""The verdict: who won one table, who is tied with it, what was left out, what would settle it.

:func:`verdict` reads one group of :func:`harness.reporting.leaderboard.rank` (one
dataset, budget and GPU count, leader first, with the significance columns of
:func:`harness.scoring.stats.annotate`) and says it in a few sentences: the leader and
its accuracy with its spread; the contenders its runs cannot tell apart from it; the
one of those that trains or predicts much faster, where there is one; what did not
run, in a clause each; and the one command that would settle what the data leaves open.
Pure: the same table gives the same words.
"""

from __future__ import annotations

import math
from typing import Any

#: a tied contender is worth naming as the cheaper choice from this factor on
CHEAPER = 2.0
#: the seeds a tie needs before the tests can separate the contenders
SEEDS_TO_SETTLE = 3


def _num(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def _pct(value: Any) -> str:
    return f"{_num(value):.2f} %"


def short_reason(message: str, width: int = 32) -> str:
    """A few words for a table cell; the whole message goes below the table."""
    text = message.lower()
    if "weights" in text and ("not found" in text or "not on disk" in text):
        return "no weights" + (" offline" if ("offline" in text or "no network" in text
                                              or "download failed" in text) else "")
    if "not installed" in text:
        return "not installed"
    first = message.split(": ")[0].split(" (")[0]
    if len(first) <= width:
        return first
    return first[:width].rsplit(" ", 1)[0] + "…"


def verdict(group, markdown: bool = True) -> str:
    """One table's verdict in words (``markdown``: names in bold)."""
    from harness.core.budget import format_duration
    from harness.reporting.markdown import md_escape

    def plain(text: str) -> str:
        return md_escape(text) if markdown else text

    def name(n: str) -> str:
        return f"**{md_escape(n)}**" if markdown else n

    rows = list(group.itertuples())
    ranked = [r for r in rows if str(r.rank) != "<NA>" and not math.isnan(_num(r.test_accuracy))]
    left_out = [r for r in rows if r not in ranked]
    if not ranked:
        words = ["No contender finished this table."]
    else:
        lead = ranked[0]
        std = _num(lead.test_accuracy_std)
        spread = f" ± {std:.2f}" if not math.isnan(std) else ""
        runs = int(_num(lead.ok_runs) or 1)
        words = [f"{name(lead.contender)} leads with {_pct(lead.test_accuracy)}{spread} "
                 f"({runs} run{'s' if runs > 1 else ''})."]
        others = ranked[1:]
        verdicts = {r.contender: _tests(r) for r in others}
        tied = [r for r in others if verdicts[r.contender] and all(verdicts[r.contender])]
        split = [r for r in others if len(set(verdicts[r.contender])) == 2]
        untested = [r for r in others if not verdicts[r.contender]]
        if tied:
            words.append("Not distinguishable from it: " + ", ".join(
                f"{name(r.contender)} ({_pct(r.test_accuracy)})" for r in tied) + ".")
        if split:
            words.append("The tests disagree on " + ", ".join(
                f"{name(r.contender)} ({_pct(r.test_accuracy)})" for r in split)
                + ": tied over the runs or over the test images, not both.")
        if not tied and not split and others and len(untested) < len(others):
            words.append("Every other contender is behind it by the tests.")
        if untested:
            words.append("Not tested against it (too few runs): " + ", ".join(
                plain(r.contender) for r in untested) + ".")
        group_best = [lead, *tied]
        cheaper: dict[str, list[str]] = {}
        for column, what in (("train_seconds", "trains"), ("latency_p50_ms", "predicts")):
            fastest = min(group_best, key=lambda r: _num(getattr(r, column)) if not math.isnan(
                _num(getattr(r, column))) else math.inf)
            mine, theirs = _num(getattr(lead, column)), _num(getattr(fastest, column))
            if fastest is not lead and theirs > 0 and mine / theirs >= CHEAPER:
                unit = "s" if column == "train_seconds" else "ms an image"
                cheaper.setdefault(fastest.contender, []).append(
                    f"{what} {mine / theirs:.0f}× faster ({theirs:.3g} {unit} against "
                    f"{mine:.3g})")
        for contender, clauses in cheaper.items():
            words.append(f"{name(contender)}, which the tests cannot tell from it, "
                         f"{' and '.join(clauses)}.")
    if left_out:
        words.append("Did not run: " + "; ".join(
            plain(f"{r.contender} ({r.status}: {short_reason(r.message)})" if r.message
                  else f"{r.contender} ({r.status})") for r in left_out) + ".")
    settle = _settle(rows, ranked, left_out)
    if settle:
        dataset, budget = rows[0].dataset, format_duration(_num(rows[0].budget_seconds))
        command = settle.format(dataset=dataset, budget=budget)
        words.append(f"To settle it: `{command}`." if markdown else f"To settle it: {command}")
    return " ".join(words)


def _tests(row) -> list[bool]:
    """Whether each test done on ``row`` against the leader found them tied: over the
    runs (folds or seeds) and over the test images, where each was done."""
    done = []
    if not math.isnan(_num(getattr(row, "p_value", math.nan))):
        done.append(bool(getattr(row, "tied", False)))
    if not math.isnan(_num(getattr(row, "p_test_set", math.nan))):
        done.append(bool(getattr(row, "tied_test_set", False)))
    return done


def _settle(rows, ranked, left_out) -> str:
    """The one command that would settle what the table leaves open ('' if nothing)."""
    if len(ranked) > 1:
        tied = any(any(_tests(r)) for r in ranked[1:])
        runs = min(int(_num(r.ok_runs) or 1) for r in ranked)
        tested = any(not math.isnan(_num(getattr(r, "p_test_set", math.nan)))
                     for r in ranked[1:])
        if (tied and runs < SEEDS_TO_SETTLE) or (runs < 2 and not tested):
            return ("harness run --dataset {dataset} --budget {budget} "
                    f"--seeds {SEEDS_TO_SETTLE}")
    if any("weights" in str(r.message).lower() for r in left_out):
        # the skipped rows' messages name each file and where it goes
        return "harness run --dataset {dataset} --budget {budget} --weights-dir DIR"
    return ""
