"""The memory preflight: no job starts that cannot fit.

Before any training, each job's peak resident memory is estimated from the prepared
dataset's shape and the contender's declared footprint
(:attr:`~harness.contenders.Contender.memory_base_mb` and
:attr:`~harness.contenders.Contender.memory_per_byte`, at the size it trains at:
:meth:`~harness.contenders.Contender.input_side`), and compared with what a job may use:
``--max-memory`` where it is given, else the memory available now shared by the jobs
that run at once. A job that would not fit refuses the run in one line naming the fix,
before anything trains, rather than being killed half-way.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.contenders import get, trained_side
from harness.core.errors import HarnessError
from harness.core.jobs import Job

MIB = 2**20


@dataclass(frozen=True)
class Shape:
    """What the estimate needs of a dataset: its images' working shape and counts."""

    image_shape: tuple[int, ...]
    n_train: int
    n_test: int
    num_classes: int


def job_bytes(job: Job, data: Shape) -> int:
    """The job's estimated peak resident memory, in bytes."""
    cls = get(job.contender)
    height, width, channels = data.image_shape
    n_train = data.n_train
    if job.max_train_per_class:
        n_train = min(n_train, job.max_train_per_class * data.num_classes)
    images = n_train + data.n_test
    working = images * height * width * channels  # the splits at the working size
    side = trained_side(cls, min(height, width), job.budget_seconds, job.gpus)
    if side is not None:
        scale = side / min(height, width)
        height, width = max(1, round(height * scale)), max(1, round(width * scale))
    own = images * height * width * channels  # ... and at the contender's own size
    return int(cls.memory_base_mb * MIB + working + cls.memory_per_byte * own)


def limit_bytes(max_memory: int | None, at_once: int) -> tuple[int, str]:
    """What one job may use, and where that figure comes from."""
    if max_memory:
        return max_memory, "--max-memory"
    import psutil

    available = psutil.virtual_memory().available
    if at_once > 1:
        return available // at_once, f"the memory available now, shared by {at_once} jobs"
    return available, "the memory available now"


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / MIB:.0f} MiB"


def check(jobs: list[Job], data: Shape, max_memory: int | None, at_once: int) -> None:
    """Raise :class:`HarnessError` for the first job that cannot fit, naming the fix.

    A contender that cannot run here (its framework is missing) is left to its
    ``skipped`` row."""
    limit, source = limit_bytes(max_memory, at_once)
    for job in jobs:
        if get(job.contender).unavailable():
            continue
        need = job_bytes(job, data)
        if need <= limit:
            continue
        h, w = data.image_shape[:2]
        fixes = []
        if min(h, w) > 32:
            fixes.append(f"--image-size {max(32, min(h, w) // 2)}")
        per_class = data.n_train // data.num_classes
        if job.max_train_per_class:
            per_class = min(per_class, job.max_train_per_class)
        if per_class >= 4:
            fixes.append(f"--max-train-per-class {per_class // 2}")
        if at_once > 1 and not max_memory:
            fixes.append("--parallel 1")
        fix = f"pass {' or '.join(fixes)}, or leave the contender out" if fixes else \
            "leave the contender out or run on a machine with more memory"
        raise HarnessError(
            f"{job.contender} on {job.dataset} would need about {_size(need)} of memory "
            f"({data.n_train + data.n_test:,} images of {w}x{h}), more than {_size(limit)} "
            f"({source}): {fix}")
