"""The consoles the CLI writes to, and the ranked table it prints."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

# Logs and CI get a wide table rather than rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 150)


def print_ranked(table, title: str) -> None:
    import math

    from rich.markup import escape

    from harness.reporting.verdict import short_reason, verdict

    t = Table(title=title, title_justify="left")
    for col, just in (("#", "right"), ("contender", "left"), ("family", "left"),
                      ("test acc %", "right"), ("train s", "right"), ("budget", "right"),
                      ("p50 ms", "right"), ("img/s", "right"), ("status", "left")):
        t.add_column(col, justify=just)

    def f(v, fmt):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)

    why: list[str] = []
    for r in table.itertuples():
        acc = f(r.test_accuracy, "{:.2f}")
        if not math.isnan(r.test_accuracy_std):
            acc += f" ± {r.test_accuracy_std:.2f}"
        used = f(r.budget_used_pct, "{:.0f} %") + (" ⚠" if r.over_budget else "")
        status = r.status
        if r.status != "ok" and r.message:
            status = f"{r.status}: {short_reason(r.message)}"
            why.append(f"{r.contender}: {r.message}")
        t.add_row("–" if str(r.rank) == "<NA>" else str(r.rank), escape(r.contender),
                  escape(r.family), acc, f(r.train_seconds, "{:.1f}"), used,
                  f(r.latency_p50_ms, "{:.2f}"), f(r.throughput_per_s, "{:.0f}"),
                  escape(status))
    out.print(t)
    for line in why:  # whole, below the table: the fix is in them (wrapped, never cut)
        out.print(f"  {line}", markup=False)
    if len(table):
        out.print(verdict(table, markdown=False), markup=False)
