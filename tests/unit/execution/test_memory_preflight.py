"""The memory preflight: a job that cannot fit stops the run before anything trains."""

from __future__ import annotations

import pytest

from harness.core.errors import HarnessError
from harness.core.jobs import Job
from harness.execution.memory import MIB, Shape, check, job_bytes
from tests.conftest import run_cli

PHOTOS = Shape((224, 224, 3), 960, 240, 4)


def job(contender: str, **fields) -> Job:
    return Job("folder:photos", contender, 0, 1, 0, 30.0, **fields)


def test_the_estimate_grows_with_the_images_and_uses_the_contenders_own_size():
    small, large = Shape((224, 224, 3), 100, 20, 4), Shape((224, 224, 3), 10_000, 2_000, 4)
    assert job_bytes(job("keras-fastnet"), large) > job_bytes(job("keras-fastnet"), small)
    # scikit-learn trains on 32 px thumbnails: its float copies are of those, not of 224 px
    sklearn = job_bytes(job("sklearn-logreg"), PHOTOS)
    working = 1200 * 224 * 224 * 3
    assert working < sklearn - 250 * MIB < 2 * working
    # --max-train-per-class counts
    capped = job_bytes(job("sklearn-logreg", max_train_per_class=10), PHOTOS)
    assert capped < sklearn


def test_a_job_that_cannot_fit_is_refused_naming_the_fix():
    jobs = [job("sklearn-logreg"), job("keras-fastnet")]
    check(jobs, PHOTOS, max_memory=8 * 2**30, at_once=1)  # fits: nothing raised
    with pytest.raises(HarnessError) as caught:
        check(jobs, PHOTOS, max_memory=1024 * MIB, at_once=1)
    message = str(caught.value)
    assert message.startswith("keras-fastnet on folder:photos would need about")
    assert "--max-memory" in message and "--image-size 112" in message
    assert "--max-train-per-class 120" in message
    with pytest.raises(HarnessError, match="--max-train-per-class 5,"):  # below its cap
        check([job("keras-fastnet", max_train_per_class=10)], PHOTOS, 1024 * MIB, 1)
    with pytest.raises(HarnessError, match="--parallel 1"):  # the machine's memory, shared
        check(jobs, Shape((224, 224, 3), 10**7, 10**6, 4), max_memory=None, at_once=2)


def test_the_run_stops_before_training_and_records_nothing(tmp_path):
    done = run_cli(["run", "-d", "digits", "-c", "sklearn-logreg", "-b", "2s",
                    "--max-memory", "200M"], tmp_path, timeout=120)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("harness: error")]
    assert len(errors) == 1 and "sklearn-logreg on digits would need about" in errors[0]
    assert "data: 1,797 images at 8x8x1" in done.stdout  # the plan said what it got
    assert not list((tmp_path / "results" / "runs").glob("*/result.json"))


def test_one_store_holds_one_image_size_per_dataset(tmp_path):
    """Rows of one dataset at two image sizes would be averaged on one page."""
    args = ["run", "-d", "digits", "-c", "sklearn-logreg", "-b", "1s"]
    assert run_cli(args, tmp_path, timeout=300).returncode == 0
    done = run_cli([*args, "--image-size", "16"], tmp_path, timeout=120)
    assert done.returncode == 1
    assert "the store holds rows of digits at the working size" in done.stderr
    assert "pass another --store and --leaderboard-dir" in done.stderr
    other = ["--store", "sqlite:///results/16px.sqlite", "--leaderboard-dir", "lb16"]
    done = run_cli([*args, "--image-size", "16", *other], tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "data: 1,797 images at 16x16x1 (resized in each job)" in done.stdout
