"""Durations on the command line and the training budget a contender is given."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from harness.core.errors import HarnessError

_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
MAX_SECONDS = 366 * 86400.0  # a year: beyond it a number is a typo, not a budget


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds in ``90s``, ``30m``, ``1h30m``, ``1.5h`` or a bare number of seconds."""
    raw = str(text).strip().lower().replace(" ", "")
    seconds: float | None = None
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = float(raw)
    elif raw and _PART.sub("", raw) == "":
        units = [m.group(2) for m in _PART.finditer(raw)]
        if units == sorted(set(units), key="hms".index):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(raw))
    if seconds is None or not 0 < seconds <= MAX_SECONDS:  # 400 nines: inf, refused here
        shown = text if len(str(text)) <= 40 else f"{str(text)[:37]}..."
        raise HarnessError(
            f"invalid {what} {shown!r}: use a positive duration like 90s, 30m or 1h30m "
            f"(at most {MAX_SECONDS // 86400:.0f} days)"
        )
    return seconds


#: the shortest training budget: under a second, a contender has no time to train at all
MIN_BUDGET_SECONDS = 1.0


def parse_budget(text: str, what: str = "budget") -> float:
    """Seconds of one training budget: a duration of at least a second."""
    seconds = parse_duration(text, what)
    if seconds < MIN_BUDGET_SECONDS:
        raise HarnessError(f"invalid {what} {text!r}: under {MIN_BUDGET_SECONDS:g} second "
                           "no contender can train; use at least 1s")
    return seconds


def parse_budgets(text: str | list | tuple, what: str = "budget") -> tuple[float, ...]:
    """Seconds of ``1m,5m,30m`` (or a list of durations), smallest first, each once."""
    parts = text if isinstance(text, list | tuple) else str(text).split(",")
    budgets = [parse_budget(p, what) for p in parts if str(p).strip()]
    if not budgets:
        raise HarnessError(f"invalid {what} {text!r}: give one duration or a comma list "
                           "like 1m,5m,30m")
    return tuple(sorted(set(budgets)))


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1h2m5s``; the inverse of :func:`parse_duration` for whole seconds."""
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s or not (h or m) else "")
    return out


@dataclass(frozen=True)
class Budget:
    """The wall-clock training time a contender has, and its deadline.

    ``deadline`` is a ``time.monotonic()`` value: ``fit`` must return by then. The
    runner kills the worker at ``seconds * grace_factor + grace_seconds`` after the
    start of training, whatever the contender does.
    """

    seconds: float
    gpus: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline
