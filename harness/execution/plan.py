"""The plan: which jobs a run (or a suite) has, which are done, what runs and how long.

``harness run`` makes one :class:`Unit` from its config, ``harness suite run`` one per
benchmark of the suite; both hand the units to the same scheduler. Jobs are keyed by
content, so a job listed twice runs once, and a job whose latest row is ``ok`` is
skipped unless ``rerun``: the same run started twice runs nothing the second time, and
a run killed half-way finishes on the next start without repeating a job.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.contenders import get
from harness.core.config import RunConfig
from harness.core.jobs import Job
from harness.store import Store


@dataclass(frozen=True)
class Unit:
    """One run's (or one benchmark's) config, all its jobs, and those still to run."""

    config: RunConfig
    jobs: list[Job]
    todo: list[Job]


def backends(config: RunConfig):
    """``contender -> its Keras backends`` for ``config.jobs``: ``auto`` is the family's
    first installed backend the contender runs on, in its order for the CPU or for GPUs
    (its first, where none is installed: the job then says what to install); families
    without backends get ``(None,)``."""

    def of(name: str) -> tuple[str | None, ...]:
        cls = get(name)
        family = cls.framework
        if not family.backends:
            return (None,)
        wanted = config.keras_backends or ("auto",)
        runs_on = [b for b in family.backends if b not in cls.unsupported_backends]
        installed = [b for b in family.installed_backends(config.gpus) if b in runs_on]
        first = (installed or runs_on or family.backends)[0]
        return tuple(dict.fromkeys(first if b == "auto" else b for b in wanted))

    return of


def plan(configs: list[RunConfig], store: Store | None, rerun: bool = False) -> list[Unit]:
    """Every config's jobs; a job listed by two configs belongs to the first."""
    matrix = {id(c): c.jobs(backends(c)) for c in configs}
    keys = [j.key for c in configs for j in matrix[id(c)]]
    done = set() if rerun or store is None else store.done_keys(keys)
    seen: set[str] = set()
    units = []
    for config in configs:
        jobs = [j for j in matrix[id(config)] if j.key not in seen]
        seen.update(j.key for j in jobs)
        units.append(Unit(config, jobs, [j for j in jobs if j.key not in done]))
    return units


def estimates(jobs: list[Job]) -> dict[str, float]:
    """Seconds each job may take: its budget plus its contender's typical overhead."""
    return {j.key: j.budget_seconds + get(j.contender).overhead_seconds for j in jobs}


def prepare_data(units: list[Unit]) -> None:
    """Download and decode each dataset once, here, before any job starts.

    Done in the runner's process so that a download shows its progress bar and
    happens once, and a dataset too small for ``--folds`` fails before any training.
    """
    from harness.data.registry import prepare_dataset

    seen = set()
    for u in units:
        c = u.config
        key = (c.dataset, c.data_dir, c.folds, c.max_train_per_class, c.image_size)
        if u.todo and key not in seen:
            seen.add(key)
            prepare_dataset(c.dataset, c.data_dir, folds=c.folds,
                            max_per_class=c.max_train_per_class, image_size=c.image_size)


def check_memory(units: list[Unit], slots) -> None:
    """The memory preflight (:mod:`harness.execution.memory`) of every job still to run,
    after the data is prepared (its cached shape known) and before any training.
    ``slots(config)``: how many jobs of that config run at once."""
    from harness.data.registry import get_spec
    from harness.execution.memory import Shape, check

    for u in units:
        if not u.todo:
            continue
        c = u.config
        spec = get_spec(c.dataset, c.image_size)
        check(u.todo, Shape(tuple(spec.image_shape), spec.n_train, spec.n_test,
                            spec.num_classes), c.max_memory_bytes, slots(c))
