"""The option table: one entry makes a RunConfig field, a CLI flag and a suite key."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import click
import pytest

from harness.cli import cli
from harness.core import options as table
from harness.core.config import RunConfig
from harness.core.errors import HarnessError
from harness.core.options import OPTIONS
from tests.conftest import ROOT


def _run_flags() -> set[str]:
    return {opt for p in cli.commands["run"].params for opt in p.opts}


def test_every_option_is_a_field_a_flag_and_where_it_says_a_suite_key():
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    suite_run = {opt for p in cli.commands["suite"].commands["run"].params for opt in p.opts}
    from harness.execution.suite import TOP_KEYS

    for o in OPTIONS:
        assert o.field in fields
        assert o.flag in _run_flags()
        assert (o.flag in suite_run) == o.override, o.flag
        if o.suite:
            assert o.suite in TOP_KEYS


def test_defaults_come_from_the_table():
    config = RunConfig(dataset="digits", contenders=("x",), budget_seconds=5.0)
    assert config.grace_seconds == 30.0 and config.grace_factor == 1.25
    assert config.max_artifact_bytes == 20 * 2**30 and config.max_memory_bytes is None
    assert config.hard_limit() == 5.0 * 1.25 + 30.0


def test_runconfig_lists_the_table_s_fields_in_its_order_with_its_defaults():
    from harness.core.config import OPTION_FIELDS

    names = [f.name for f in dataclasses.fields(RunConfig)]
    assert names == ["dataset", "contenders", "budget_seconds", "gpus", "params", "reasons",
                     *OPTION_FIELDS]
    made = RunConfig(dataset="d", contenders=("x",), budget_seconds=1.0)
    for o in OPTIONS:
        assert getattr(made, o.field) == o.value_default, o.field


NEW_OPTION = """
from harness.core import options
extra = options.Option("warmup_seconds", "--warmup", "Seconds of warm-up.", "duration",
                       "2s", suite="warmup")
options.OPTIONS = (*options.OPTIONS, extra)   # the table's entry, without its field
from harness.cli import cli
from harness.core.config import RunConfig
"""


def test_a_new_option_without_its_runconfig_field_fails_at_import_naming_the_fix():
    """Add an entry to the table and not its typed field: the import says what to add;
    `harness run` and suites take their flags and keys from the table alone."""
    done = subprocess.run([sys.executable, "-c", NEW_OPTION], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert ("RunConfig has no field for the option(s) warmup_seconds: add "
            "`warmup_seconds: <type> = _DEFAULT['warmup_seconds']` to "
            "harness/core/config.py") in done.stderr


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("folds", "3", 3), ("folds", 3, 3), ("grace_factor", "1.5", 1.5),
    ("grace_seconds", "2m", 120.0), ("max_memory_bytes", "8G", 8 * 2**30),
    ("keep_models", True, True), ("executor", "ray", "ray"),
])
def test_values_are_read_by_kind(field, value, expected):
    assert table.BY_FIELD[field].parse(value) == expected


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("folds", "0", "--folds must be an integer of at least 1"),
    ("folds", True, "--folds must be an integer"),
    ("grace_factor", "nan", "--grace-factor must be a number of at least 1"),
    ("grace_seconds", "soon", "invalid --grace 'soon'"),
    ("max_artifact_bytes", "-1G", "invalid --max-artifacts"),
    ("keep_models", "yes", "--keep-models must be true or false"),
    ("executor", "slurm", "--executor must be one of local, ray"),
])
def test_bad_values_name_the_option(field, value, fragment):
    with pytest.raises(HarnessError, match=fragment):
        table.BY_FIELD[field].parse(value)


def test_click_reports_bounds_of_integer_options():
    with pytest.raises(click.BadParameter):
        click.IntRange(min=1).convert("0", None, None)
