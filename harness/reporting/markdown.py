"""Markdown and CSV cells that cannot break the page, the table or a spreadsheet."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def md_escape(value: object) -> str:
    """A table cell that cannot break the table: no pipes, backticks, HTML or newlines."""
    text = " ".join(str(value).split())
    for a, b in (("\\", "\\\\"), ("|", "\\|"), ("`", "\\`"), ("<", "&lt;"), (">", "&gt;"),
                 ("*", "\\*"), ("_", "\\_"), ("[", "\\["), ("]", "\\]")):
        text = text.replace(a, b)
    return text


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """The table with text cells a spreadsheet would run as a formula (``=``, ``+``,
    ``-``, ``@``, tab, CR: OWASP's CSV injection) prefixed with a quote to stay text."""
    out = table.copy()
    for col in out.select_dtypes(include=["object", "string"]).columns:
        out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str) and v[:1] in
                                ("=", "+", "-", "@", "\t", "\r") else v)
    return out


def md_table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    align = align or "l" * len(header)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
