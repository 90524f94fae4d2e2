"""What a committed page keeps of each job folder, so a fresh clone rebuilds it whole.

A page's rows are kept beside it (``<page>.results.jsonl``) and its figures as drawn; the
job folders themselves stay on the machine that ran them. Two tests on the page read
those folders: McNemar's test over the test images needs each run's right and wrong
answers, and the budget page's in-run time to accuracy needs its validation curve. A
kept row therefore also carries, compactly, which test images it got right (one bit
each, with a digest of the test labels, so that runs scored on other images are never
paired) and the points of its validation curve where the best so far improved (all that
"first reached" needs). :meth:`Answers.remember` loads them back, by job folder name.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.core.context import HISTORY_FILE, PREDICTIONS_FILE

if TYPE_CHECKING:
    from harness.core.jobs import Result

def test_set_id(labels: np.ndarray) -> str:
    """A digest of a test split's labels: two runs are paired only when theirs agree."""
    labels = np.asarray(labels, dtype=np.int64)
    return f"{len(labels)}:{hashlib.sha1(labels.tobytes()).hexdigest()[:16]}"


@dataclass
class Answers:
    """What the pages read of the runs' job folders: from the folder where it is on this
    machine, else from the run's kept row (:meth:`remember`). One per page build: its
    answers are arguments of whatever reads them, never module state, so the same rows
    give the same page whatever was read before."""

    #: job folder name -> {"correct": bool array, "test_set": str, "curve": history dict}
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: a predictions file's stamp -> what it says (read once per build)
    read: dict[str, tuple[np.ndarray, str] | None] = field(default_factory=dict, repr=False)

    def correctness(self, jobdir: str) -> tuple[np.ndarray, str] | None:
        """``(right or wrong per test image, test set id)`` of a run: from its job
        folder's predictions where the folder is here, else from its kept row; None
        without either."""
        from harness.reporting.figures import file_stamp

        path = Path(jobdir) / PREDICTIONS_FILE
        stamp = file_stamp(path)
        if stamp not in self.read:
            try:
                with np.load(path, allow_pickle=False) as data:
                    labels = data["labels"].astype(int)
                    self.read[stamp] = (data["proba"].argmax(1) == labels,
                                        test_set_id(labels))
            except (OSError, ValueError, KeyError):
                self.read[stamp] = None
        if self.read[stamp] is not None:
            return self.read[stamp]
        kept = self.kept.get(Path(jobdir).name, {})
        return (kept["correct"], kept["test_set"]) if "correct" in kept else None

    def history(self, jobdir: str) -> dict[str, np.ndarray] | None:
        """A run's validation curve: its job folder's ``history.csv``, else its kept
        points."""
        from harness.reporting.report import load_history

        found = load_history(Path(jobdir) / HISTORY_FILE)
        if found is not None:
            return found
        return self.kept.get(Path(jobdir).name, {}).get("curve")

    def has_history(self, row: Result) -> bool:
        return bool(row.artifacts) and (
            (Path(row.artifacts) / HISTORY_FILE).is_file()
            or "curve" in self.kept.get(Path(row.artifacts).name, {}))

    def portable(self, row: Result) -> dict[str, Any]:
        """A kept row as it may be committed: its job folder by name (``<job-key>``), not the
        path it had on the machine that ran it, with its test answers and curve points."""
        data = row.to_dict()
        if not data.get("artifacts"):
            return data
        jobdir = data["artifacts"]
        data["artifacts"] = Path(jobdir).name
        data["description"] = _without_paths(data.get("description"), jobdir)
        prior = self.kept.get(data["artifacts"], {})
        if prior.get("run_id") == row.run_id and (prior.get("raw")
                                                  or not Path(jobdir).is_dir()):
            return {**data, **prior.get("raw", {})}  # kept already, from this very run
        got = self.correctness(jobdir)
        if got is not None:
            correct, test_set = got
            data["kept_test_set"] = test_set
            data["kept_correct"] = base64.b64encode(np.packbits(correct)).decode("ascii")
        curve = self.history(jobdir)
        if curve is not None:
            best, points = -math.inf, []
            for t, v in zip(curve["elapsed_seconds"], curve["val_accuracy"], strict=True):
                if np.isfinite(v) and v > best:
                    best = float(v)
                    points.append([round(float(t), 3), round(best, 6)])
            data["kept_curve"] = points
        return data

    def remember(self, data: dict[str, Any]) -> None:
        """Load what a kept row (a line of ``<page>.results.jsonl``) carries of its folder."""
        name = Path(str(data.get("artifacts") or "")).name
        if not name:
            return
        kept: dict[str, Any] = {"run_id": data.get("run_id"), "raw": {
            k: data[k] for k in ("kept_test_set", "kept_correct", "kept_curve") if k in data}}
        test_set = str(data.get("kept_test_set", ""))
        if test_set and data.get("kept_correct"):
            n = int(test_set.split(":", 1)[0])
            bits = np.frombuffer(base64.b64decode(data["kept_correct"]), dtype=np.uint8)
            kept["correct"] = np.unpackbits(bits)[:n].astype(bool)
            kept["test_set"] = test_set
        if data.get("kept_curve"):
            points = np.asarray(data["kept_curve"], dtype=float).reshape(-1, 2)
            kept["curve"] = {"elapsed_seconds": points[:, 0], "val_accuracy": points[:, 1]}
        self.kept[name] = kept


def _without_paths(value: Any, jobdir: str) -> Any:
    """``value`` with every absolute path made machine-neutral: a file of the job folder
    as ``<job-key>/name``, any other as ``…/name`` (a weights folder, say)."""
    if isinstance(value, dict):
        return {k: _without_paths(v, jobdir) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_paths(v, jobdir) for v in value]
    if isinstance(value, str) and len(value) > 1 and Path(value).is_absolute():
        path, folder = Path(value), Path(jobdir)
        if path.is_relative_to(folder):
            return str(Path(folder.name) / path.relative_to(folder))
        return f"…/{path.name}"
    return value
