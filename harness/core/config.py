"""``RunConfig``: the one configuration object a run is given, filled once, passed down.

Its fields are the run's matrix (dataset, contenders, budget, GPUs, parameters) and
one field per entry of the option table (:mod:`harness.core.options`), with the
table's defaults: a new option needs no edit here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field, make_dataclass, replace
from typing import Any

from harness.core.jobs import Job
from harness.core.options import DEFAULT_STORE, OPTIONS, parse_size

__all__ = ["DEFAULT_STORE", "RunConfig", "parse_size"]


def _hard_limit(self, budget_seconds: float | None = None) -> float:
    """Seconds of training after which the runner kills the worker's process group."""
    budget = self.budget_seconds if budget_seconds is None else budget_seconds
    return budget * self.grace_factor + self.grace_seconds


def _jobs(self, backends_of: Callable[[str], tuple[str | None, ...]] | None = None
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
            params=dict(self.params.get(name, {})),
            keras_backend=backend,
        )
        for seed in range(self.seeds)
        for fold in range(self.folds)
        for name in self.contenders
        for backend in backends_of(name)
    ]


def _per_budget(self, budgets: tuple[float, ...] | list[float]) -> list:
    """This run once per budget: each contender trained from scratch at each one.

    The one expansion of a budget list, for ``--budget 1m,5m`` and a suite's
    ``budgets:`` alike (the 5-minute mark of a 30-minute run is not a 5-minute run: its
    schedule was sized for 30).
    """
    return [replace(self, budget_seconds=float(b)) for b in dict.fromkeys(budgets)]


def _default(value: Any):
    return field(default=value)


RunConfig = make_dataclass(
    "RunConfig",
    [
        ("dataset", str),
        ("contenders", tuple[str, ...]),
        ("budget_seconds", float),
        ("gpus", int, field(default=0)),
        ("params", dict[str, dict[str, Any]], field(default_factory=dict)),
        # why each contender is in the run (a lineup's reasons), for the plan
        ("reasons", dict[str, str], field(default_factory=dict)),
        *[(o.field, Any, _default(o.value_default)) for o in OPTIONS],
    ],
    frozen=True,
    namespace={"hard_limit": _hard_limit, "jobs": _jobs, "per_budget": _per_budget,
               "__doc__": "One run: its matrix and every option of the option table."},
)
RunConfig.__module__ = __name__  # so that it pickles (Ray) and prints as what it is
