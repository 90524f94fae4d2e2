"""Typed failures map to a row's status in one place; the job context round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.context import JobContext
from harness.core.errors import ContenderUnavailable, Diverged, OutOfMemory
from harness.core.jobs import Status, failure_status


class ResourceExhaustedError(Exception):
    """Stands in for a framework's own out-of-memory error."""


@pytest.mark.parametrize(("exc", "status", "fragment"), [
    (ContenderUnavailable("put w.h5 in --weights-dir"), Status.SKIPPED, "put w.h5"),
    (Diverged("NaN"), Status.ERROR, "diverged: NaN after training; lower the learning rate"),
    (OutOfMemory("no room"), Status.OOM, "fit: OutOfMemory: no room"),
    (MemoryError(), Status.OOM, "fit: MemoryError"),
    (ValueError("boom\nsecond line"), Status.ERROR, "fit: ValueError: boom"),
])
def test_each_failure_has_one_status(exc, status, fragment):
    got, message = failure_status(exc, stage="fit")
    assert got is status and message.startswith(fragment) and "\n" not in message


def test_a_family_tells_its_own_out_of_memory_errors():
    exc = ResourceExhaustedError("OOM when allocating tensor")
    assert failure_status(exc)[0] is Status.ERROR
    assert failure_status(exc, oom=lambda e: "OOM" in str(e))[0] is Status.OOM


def test_the_keras_family_recognises_tensorflow_oom():
    from baselines.keras import KERAS

    assert KERAS.is_oom(ResourceExhaustedError("OOM when allocating tensor"))
    assert not KERAS.is_oom(ValueError("shapes differ"))


def test_the_context_is_written_and_read_back_whole(tmp_path):
    context = JobContext(job_dir=tmp_path / "job", seed=3, gpu_ids=("0", "2"),
                         data_dir=tmp_path / "data", cache_dir=tmp_path / "cache",
                         weights_dir=None, store_url="sqlite:///x.sqlite", offline=True,
                         keep_models=True)
    back = JobContext.from_dict(context.to_dict())
    assert back == context
    assert back.work_dir == tmp_path / "job" / "work" and back.gpus == 2
    assert isinstance(back.data_dir, Path)
