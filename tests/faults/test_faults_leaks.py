"""Injection through a real run: class and folder names with pipes, backticks, HTML,
newlines or spreadsheet formulas cannot break the markdown or the CSV.

(A store password through a real run is tests/test_postgres_store.py's: SQLite URLs
take no password; an unreachable one is tests/test_bad_input.py's.)"""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_cli

pytestmark = pytest.mark.faults

HOSTILE = ["a|b", "`tick`", "<script>alert(1)</script>", "line\nbreak", "=HYPERLINK(1)"]


def _cells(line: str) -> int:
    """Cells of a markdown table row: pipes not escaped with a backslash."""
    return len(re.findall(r"(?<!\\)\|", line))


def test_hostile_names_cannot_break_the_leaderboard(tmp_path, tally):
    data = tmp_path / "pets | <b>x</b> `y`"
    rng = np.random.default_rng(0)
    for c, name in enumerate(HOSTILE):
        (data / name).mkdir(parents=True)
        for i in range(8):
            img = rng.integers(0, 60, (16, 16, 3), np.uint8) + np.uint8(40 * c)
            Image.fromarray(img).save(data / name / f"{i}.png")
    tally.bad_input("class and folder names with |, backticks, HTML, newlines, formulas")
    done = run_cli(["run", "-d", f"folder:{data}", "-b", "1s", "-c", "test-quick"], tmp_path,
                   timeout=300)
    assert done.returncode == 0, done.stderr

    (md,) = (tmp_path / "leaderboards").glob("folder_*.md")
    text = md.read_text()
    assert "<script>" not in text and "<b>" not in text
    assert r"pets \| &lt;b&gt;x&lt;/b&gt; \`y\`" in text  # the name is there, escaped
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table and len({_cells(line) for line in table[:3]}) == 1, table[:3]
    (board,) = (tmp_path / "leaderboards").glob("folder_*.csv")
    with open(board, newline="") as fh:
        rows = list(csv.reader(fh))
    assert len({len(r) for r in rows}) == 1 and len(rows) == 2, rows  # header + one row
    assert not any(cell[:1] in "=+-@" and not cell.lstrip("-").replace(".", "").isdigit()
                   for r in rows for cell in r if cell), rows


def test_csv_cells_that_a_spreadsheet_would_run_stay_text(tally):
    import pandas as pd

    from harness.reporting.leaderboard import csv_safe

    tally.bad_input("error messages shaped like spreadsheet formulas")
    table = pd.DataFrame({"message": ["=cmd|' /C calc'!A0", "+1", "@SUM(A1)", "ok", None],
                          "test_accuracy": [-1.5, 0.5, 0.25, 1.0, 0.0]})
    safe = csv_safe(table)
    assert list(safe["message"][:4]) == ["'=cmd|' /C calc'!A0", "'+1", "'@SUM(A1)", "ok"]
    assert safe["message"][4] is None
    assert list(safe["test_accuracy"]) == list(table["test_accuracy"])  # numbers untouched
