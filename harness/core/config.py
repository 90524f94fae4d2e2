"""``RunConfig``: the one configuration object a run is given, filled once, passed down.

Its fields are the run's matrix (dataset, contenders, budget, GPUs, parameters) and
one field per entry of the option table (:mod:`harness.core.options`), with the
table's defaults, written out so that a type checker reads them; a new option adds its
field here (a test fails until it does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.core.jobs import Job
from harness.core.options import DEFAULT_STORE, OPTIONS, parse_size

__all__ = ["DEFAULT_STORE", "RunConfig", "parse_size"]


#: the option table's defaults by field: the table stays the one source of them (every
#: one is immutable: a tuple, a path, a number, a string or None)
_DEFAULT: dict[str, Any] = {o.field: o.value_default for o in OPTIONS}


@dataclass(frozen=True)
class RunConfig:
    """One run: its matrix and every option of the option table (each field below the
    matrix is an option's ``field``, with the table's default; a test checks that the
    two list the same names)."""

    dataset: str
    contenders: tuple[str, ...]
    budget_seconds: float
    gpus: int = 0
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: why each contender is in the run (a lineup's reasons), for the plan
    reasons: dict[str, str] = field(default_factory=dict)
    # -- the option table's fields ----------------------------------------------------
    folds: int = _DEFAULT["folds"]
    seeds: int = _DEFAULT["seeds"]
    max_train_per_class: int | None = _DEFAULT["max_train_per_class"]
    image_size: int | None = _DEFAULT["image_size"]
    keras_backends: tuple[str, ...] = _DEFAULT["keras_backends"]
    store_url: str = _DEFAULT["store_url"]
    runs_dir: Path = _DEFAULT["runs_dir"]
    leaderboard_dir: Path = _DEFAULT["leaderboard_dir"]
    grace_seconds: float = _DEFAULT["grace_seconds"]
    grace_factor: float = _DEFAULT["grace_factor"]
    setup_cap_seconds: float = _DEFAULT["setup_cap_seconds"]
    eval_cap_seconds: float = _DEFAULT["eval_cap_seconds"]
    parallel: int = _DEFAULT["parallel"]
    max_memory_bytes: int | None = _DEFAULT["max_memory_bytes"]
    max_artifact_bytes: int = _DEFAULT["max_artifact_bytes"]
    data_dir: Path | None = _DEFAULT["data_dir"]
    weights_dir: Path | None = _DEFAULT["weights_dir"]
    keep_models: bool = _DEFAULT["keep_models"]
    rerun: bool = _DEFAULT["rerun"]
    executor: str = _DEFAULT["executor"]
    ray_address: str | None = _DEFAULT["ray_address"]
    prices: dict[str, float] | None = _DEFAULT["prices"]
    cpus_per_job: float = _DEFAULT["cpus_per_job"]

    def hard_limit(self, budget_seconds: float | None = None) -> float:
        """Seconds of training after which the runner kills the worker's process group."""
        budget = self.budget_seconds if budget_seconds is None else budget_seconds
        return budget * self.grace_factor + self.grace_seconds

    def jobs(self, backends_of: Callable[[str], tuple[str | None, ...]] | None = None
             ) -> list[Job]:
        """Every job of the run, in the order they run: seed, fold, contender, backend.

        ``backends_of(contender)``: the Keras backends it runs on, one job each (``None``
        for a contender with no backend to choose; the plan knows which those are). Left
        out, every job has none, and the worker takes the family's first installed one.
        """
        backends_of = backends_of or (lambda name: (None,))
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
                image_size=self.image_size,
                params=dict(self.params.get(name, {})),
                backend=backend,
            )
            for seed in range(self.seeds)
            for fold in range(self.folds)
            for name in self.contenders
            for backend in backends_of(name)
        ]

    def per_budget(self, budgets: tuple[float, ...] | list[float]) -> list[RunConfig]:
        """This run once per budget: each contender trained from scratch at each one.

        The one expansion of a budget list, for ``--budget 1m,5m`` and a suite's
        ``budgets:`` alike (the 5-minute mark of a 30-minute run is not a 5-minute run:
        its schedule was sized for 30).
        """
        return [replace(self, budget_seconds=float(b)) for b in dict.fromkeys(budgets)]


#: the fields that come from the option table, in its order
OPTION_FIELDS = tuple(o.field for o in OPTIONS)
_MISSING = [name for name in OPTION_FIELDS
            if name not in {f.name for f in fields(RunConfig)}]
if _MISSING:  # an option added to the table without its field: say so at import
    raise TypeError(f"RunConfig has no field for the option(s) {', '.join(_MISSING)}: add "
                    f"`{_MISSING[0]}: <type> = _DEFAULT[{_MISSING[0]!r}]` to "
                    "harness/core/config.py")
