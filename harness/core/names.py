"""File names made from any dataset, contender or suite name: the one place for it."""

from __future__ import annotations

import hashlib


def safe_name(text: str, unique: bool = False) -> str:
    """``folder:/data/pets`` -> ``folder__data_pets``: letters, digits and ``-_.`` only.

    ``unique``: where characters had to be replaced, a short hash of the original is
    appended, so that two names that differ only there stay apart.
    """
    text = str(text)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip(".")
    if unique and safe != text:
        return f"{safe or 'x'}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"
    return safe
