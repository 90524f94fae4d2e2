import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.budget import Budget, format_duration, parse_duration
from harness.core.config import parse_size
from harness.core.errors import HarnessError


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("1h30m", 5400), ("1.5h", 5400), ("45", 45),
    ("2h0m5s", 7205), (" 10M ", 600),
])
def test_parse_duration_accepts(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "-5m", "0s", "", "5x", "30m1h", "1h1h", "m", "1.2.3s"])
def test_parse_duration_refuses_with_the_fix(text):
    with pytest.raises(HarnessError, match="like 90s, 30m or 1h30m"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**7))
def test_format_and_parse_round_trip(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.text(max_size=12))
def test_parse_duration_never_crashes(text):
    with contextlib.suppress(HarnessError):
        assert parse_duration(text) > 0


def test_budget_deadline_counts_down():
    b = Budget(100.0)
    assert 99.0 < b.remaining() <= 100.0
    assert not b.expired()
    assert Budget(0.0).expired()


@pytest.mark.parametrize(("text", "size"), [("512M", 512 * 2**20), ("8G", 8 * 2**30),
                                            ("1.5GiB", int(1.5 * 2**30)), ("100", 100)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1G", "0", "8X", "G"])
def test_parse_size_refuses(text):
    with pytest.raises(HarnessError, match="512M or 8G"):
        parse_size(text)


def test_a_budget_list_is_sorted_and_each_budget_once():
    from harness.core.budget import parse_budgets

    assert parse_budgets("5m,1m, 30m,1m") == (60.0, 300.0, 1800.0)
    assert parse_budgets(["15s", 5.0]) == (5.0, 15.0)
    with pytest.raises(HarnessError, match="comma list"):
        parse_budgets(",")
    with pytest.raises(HarnessError, match="invalid budget"):
        parse_budgets("1m,abc")


def test_per_budget_is_one_config_per_budget():
    from harness.core.config import RunConfig

    base = RunConfig(dataset="digits", contenders=("a",), budget_seconds=5.0)
    configs = base.per_budget((5.0, 15.0))
    assert [c.budget_seconds for c in configs] == [5.0, 15.0]
    assert {j.budget_seconds for c in configs for j in c.jobs()} == {5.0, 15.0}


def test_prices_are_read_from_the_flag_and_from_a_suite_mapping():
    from harness.core.options import BY_FIELD

    option = BY_FIELD["prices"]
    assert option.parse("gpu=2.5, cpu=0.05") == {"gpu": 2.5, "cpu": 0.05}
    assert option.parse({"gpu": 3}) == {"gpu": 3.0}
    for bad in ("gpu", "tpu=1", "gpu=-1", "gpu=inf"):
        with pytest.raises(HarnessError, match="--price"):
            option.parse(bad)
