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
from harness.execution.memory import Shape
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


def data_key(c: RunConfig) -> tuple:
    """What a config's prepared images depend on."""
    return (c.dataset, c.data_dir, c.image_size)


def shape_of(c: RunConfig, dataset) -> Shape:
    """The images ``c``'s jobs get, from the prepared ``dataset``: their working shape
    (a built-in set with ``--image-size`` is resized in each job) and counts."""
    from harness.data.registry import is_local

    height, width, channels = dataset.train.images.shape[1:]
    if c.image_size and not is_local(c.dataset):
        height = width = c.image_size
    return Shape((height, width, channels), len(dataset.train), len(dataset.test),
                 dataset.num_classes)


def prepare_data(units: list[Unit]) -> dict[tuple, Shape]:
    """Download and decode each dataset once, here, before any job starts; the shape of
    each (by :func:`data_key`), for the memory preflight.

    Done in the runner's process so that a download shows its progress bar and
    happens once, and a dataset too small for ``--folds`` fails before any training.
    """
    from harness.data.registry import prepare_dataset

    seen = set()
    shapes: dict[tuple, Shape] = {}
    for u in units:
        c = u.config
        key = (*data_key(c), c.folds, c.max_train_per_class)
        if u.todo and key not in seen:
            seen.add(key)
            dataset = prepare_dataset(c.dataset, c.data_dir, folds=c.folds,
                                      max_per_class=c.max_train_per_class,
                                      image_size=c.image_size)
            shapes[data_key(c)] = shape_of(c, dataset)
    return shapes


def check_memory(units: list[Unit], slots, shapes: dict[tuple, Shape], *,
                 local: bool = True) -> None:
    """The memory preflight (:mod:`harness.execution.memory`) of every job still to run,
    after the data is prepared and before any training. ``slots(config)``: how many
    jobs of that config run at once. On a cluster (``local=False``) only ``--max-memory``
    is checked: this machine's free memory says nothing of the nodes'."""
    from harness.execution.memory import check

    for u in units:
        c = u.config
        if not u.todo or data_key(c) not in shapes or not (local or c.max_memory_bytes):
            continue
        check(u.todo, shapes[data_key(c)], c.max_memory_bytes, slots(c))


def check_one_image_size(units: list[Unit], store: Store) -> None:
    """Refuse to add rows of a dataset at one ``--image-size`` to a store that holds rows
    of it at another: a page would average models trained on different images."""
    from harness.core.errors import HarnessError

    for u in units:
        c = u.config
        if not u.todo:
            continue
        other = {r.image_size for r in store.latest(dataset=c.dataset)} - {c.image_size}
        if other:
            theirs = ", ".join(sorted(f"--image-size {n}" if n else "the working size"
                                      for n in other))
            mine = f"--image-size {c.image_size}" if c.image_size else "the working size"
            raise HarnessError(
                f"the store holds rows of {c.dataset} at {theirs}, and this run is at "
                f"{mine}: one store (and leaderboard folder) per image size keeps their "
                "rankings apart; pass another --store and --leaderboard-dir")
