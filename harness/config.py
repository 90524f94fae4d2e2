"""The one configuration object a run is given: filled by the CLI, passed down."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results import Job

DEFAULT_STORE = "sqlite:///results/harness.sqlite"
DEFAULT_MAX_ARTIFACTS = 20 * 2**30

_SIZE_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20,
               "mib": 2**20, "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40,
               "tib": 2**40}


def parse_size(text: str, what: str = "size") -> int:
    """Bytes in ``512M``, ``8G``, ``1.5GiB`` (binary units) or a bare number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS or float(match.group(1)) <= 0:
        raise HarnessError(f"invalid {what} {text!r}: use a positive size like 512M or 8G")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


@dataclass(frozen=True)
class RunConfig:
    dataset: str
    contenders: tuple[str, ...]
    budget_seconds: float
    gpus: int = 0
    folds: int = 1
    seeds: int = 1
    max_train_per_class: int | None = None
    store_url: str = DEFAULT_STORE
    runs_dir: Path = Path("results/runs")
    leaderboard_dir: Path = Path("leaderboards")
    grace_factor: float = 1.25
    grace_seconds: float = 30.0
    setup_cap_seconds: float = 900.0
    eval_cap_seconds: float = 600.0
    parallel: int = 1
    max_memory_bytes: int | None = None
    # what a job may write to its folder before it is killed: a full disk stops every job
    max_artifact_bytes: int | None = DEFAULT_MAX_ARTIFACTS
    rerun: bool = False
    keep_models: bool = False
    data_dir: Path | None = None
    weights_dir: Path | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # where jobs run: "local" (worker processes here) or "ray" (tasks on a cluster)
    executor: str = "local"
    ray_address: str | None = None
    cpus_per_job: float = 1.0

    def hard_limit(self, budget_seconds: float | None = None) -> float:
        """Seconds of training after which the runner kills the worker's process group."""
        budget = self.budget_seconds if budget_seconds is None else budget_seconds
        return budget * self.grace_factor + self.grace_seconds

    def jobs(self) -> list[Job]:
        """Every job of the run, in the order they run: seed, fold, then contender."""
        return [
            Job(
                dataset=self.dataset,
                contender=name,
                fold=fold,
                folds=self.folds,
                seed=seed,
                budget_seconds=self.budget_seconds,
                gpus=self.gpus,
                max_train_per_class=self.max_train_per_class,
                params=dict(self.params.get(name, {})),
            )
            for seed in range(self.seeds)
            for fold in range(self.folds)
            for name in self.contenders
        ]
