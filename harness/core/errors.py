"""The exceptions of the harness: one for bad input, a few typed failures of a job.

``HarnessError`` is what the CLI turns into a one-line message and a non-zero exit.
The others are raised by contenders (or the harness's own scoring) inside a worker;
:func:`harness.core.jobs.failure_status` maps each to the status of its row, in one
place, instead of matching exception text in several.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or an unusable environment. The message names the fix."""


class ContenderUnavailable(Exception):
    """Raised when the contender finds it cannot run here after all: a ``skipped`` row.

    For what ``unavailable()`` cannot know before the job starts, such as pretrained
    weights that are neither on disk nor downloadable. The message must say what to
    install or which file to put where.
    """


class Diverged(ValueError):
    """The model's outputs are not finite: training diverged (an ``error`` row that says so)."""


class OutOfMemory(MemoryError):
    """A framework ran out of (GPU or host) memory: an ``oom`` row.

    Families translate their framework's own out-of-memory errors into this (see
    :class:`harness.contenders.Family`), so that nothing matches exception text twice.
    """


class GpuMismatch(Exception):
    """The job's framework does not see the GPUs it was given: an ``error`` row whose
    message names the fix (never a silent run on the CPU or on other GPUs)."""
