"""The fault suite's tally: faults injected and survived, bad inputs tried and refused.

Tests report what they inject through the ``tally`` fixture while they run; whether
it was survived (or refused clearly) is the test's own outcome. ``conftest.py``'s hooks
put each test's record on its report and add the reports up where they are logged (with
pytest-xdist's workers, in the controller). Nothing here is a fixed count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field


@dataclass
class Record:
    """What one test injected or tried, and the rows it found lost."""

    faults: list[str] = field(default_factory=list)
    bad_inputs: list[str] = field(default_factory=list)
    rows_lost: int = 0

    def fault(self, name: str) -> None:
        self.faults.append(name)

    def bad_input(self, name: str) -> None:
        self.bad_inputs.append(name)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, said: dict) -> Record:
        return cls(**said)

    def rows(self, before: Iterable, after: Iterable) -> int:
        """Rows recorded before the fault that are missing or changed after it."""
        kept = list(after)
        lost = sum(1 for row in before if row not in kept)
        self.rows_lost += lost
        return lost


@dataclass
class Tally:
    injected: int = 0
    survived: int = 0
    rows_lost: int = 0
    tried: int = 0
    refused: int = 0

    def add(self, record: Record, passed: bool) -> None:
        self.injected += len(record.faults)
        self.tried += len(record.bad_inputs)
        self.rows_lost += record.rows_lost
        if passed:
            self.survived += len(record.faults)
            self.refused += len(record.bad_inputs)

    def line(self) -> str:
        return (f"faults: {self.injected} injected, {self.survived} survived, "
                f"{self.rows_lost} rows lost · bad inputs: {self.tried} tried, "
                f"{self.refused} refused clearly")


TALLY = Tally()
