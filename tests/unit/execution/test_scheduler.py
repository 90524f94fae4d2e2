"""The one scheduler, with a fake executor: claims, rows, skips and interrupts."""

from __future__ import annotations

import pytest

from harness.core.config import RunConfig
from harness.core.jobs import Result, Status
from harness.execution import scheduler
from harness.store import Store, new_owner


class FakeExecutor:
    """Finishes each job on its second poll; remembers what it was asked to do."""

    name = "fake"

    def __init__(self, interrupt_after: int | None = None) -> None:
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.polls: dict[str, int] = {}
        self.closed = False
        self.interrupt_after = interrupt_after

    def check(self, configs): ...
    def slots(self, config): return 1
    def has_room(self, config): return len(self.submitted) - len(self.polls_done()) < 2

    def polls_done(self):
        return [k for k, n in self.polls.items() if n >= 2]

    def submit(self, job, config):
        self.submitted.append(job.key)
        return job

    def poll(self, job):
        self.polls[job.key] = self.polls.get(job.key, 0) + 1
        if self.interrupt_after is not None and len(self.polls_done()) >= self.interrupt_after:
            raise KeyboardInterrupt
        if self.polls[job.key] < 2:
            return None
        return Result.for_job(job, Status.OK, family="test", test_accuracy=0.5)

    def phase(self, job): return None

    def cancel(self, job, grace=0.0):
        self.cancelled.append(job.key)

    def close(self):
        self.closed = True


def _config(**kw) -> RunConfig:
    return RunConfig(dataset="digits", contenders=("sklearn-logreg", "keras-shallow"),
                     budget_seconds=5.0, seeds=2, **kw)


def test_every_job_is_claimed_run_and_recorded_once(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    config = _config()
    jobs = config.jobs()
    executor = FakeExecutor()
    results = scheduler.run([(config, jobs)], store, executor, run_id="r1")
    assert sorted(executor.submitted) == sorted(j.key for j in jobs)
    assert sorted(r.job_key for r in store.latest()) == sorted(j.key for j in jobs)
    assert {r.run_id for r in results} == {"r1"} and executor.closed
    # every claim was released once its row was in: another runner may take them now
    assert all(store.claim(j.key, new_owner()) for j in jobs)


def test_a_job_claimed_by_another_runner_is_left_to_it(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    config = _config()
    jobs = config.jobs()
    assert store.claim(jobs[0].key, new_owner())  # another live runner holds it
    executor = FakeExecutor()
    scheduler.run([(config, jobs)], store, executor)
    assert jobs[0].key not in executor.submitted and len(executor.submitted) == 3


def test_a_contender_that_cannot_run_is_a_skipped_row_not_a_submission(tmp_path, monkeypatch):
    from harness.contenders import get

    monkeypatch.setattr(get("keras-shallow"), "unavailable",
                        classmethod(lambda cls: "nothing here: pip install it"))
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    config = _config()
    executor = FakeExecutor()
    scheduler.run([(config, config.jobs())], store, executor)
    rows = {r.job_key: r for r in store.latest()}
    skipped = [r for r in rows.values() if r.status is Status.SKIPPED]
    assert len(skipped) == 2 and all(r.message.startswith("nothing here") for r in skipped)
    assert not set(executor.submitted) & {r.job_key for r in skipped}


def test_an_interrupt_cancels_what_runs_and_keeps_what_finished(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    config = _config()
    executor = FakeExecutor(interrupt_after=1)
    with pytest.raises(scheduler.Interrupted):
        scheduler.run([(config, config.jobs())], store, executor)
    assert executor.cancelled and executor.closed
    assert len(executor.cancelled) == len(set(executor.cancelled))  # each stopped once
    # nothing recorded for the cancelled jobs, and their claims are free again
    recorded = {r.job_key for r in store.latest()}
    assert not recorded & set(executor.cancelled)
    assert all(store.claim(k, new_owner()) for k in executor.cancelled)


def test_address_is_only_for_ray():
    from harness.core.errors import HarnessError

    with pytest.raises(HarnessError, match="--address is for --executor ray"):
        scheduler.make_executor("local", address="127.0.0.1:6379")


class FlakyExecutor(FakeExecutor):
    """Cannot start the first job once (a full disk); the second job's node is always lost."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def submit(self, job, config):
        if job.seed == 0 and job.contender == "sklearn-logreg" and not self.refused:
            self.refused += 1
            raise OSError(28, "No space left on device")
        return super().submit(job, config)

    def poll(self, job):
        result = super().poll(job)
        if result is not None and job.seed == 1 and job.contender == "sklearn-logreg":
            return Result.for_job(job, Status.INFRA, "Ray task failed: node lost",
                                  family="test")
        return result


def test_the_machine_s_failures_are_tried_once_more_then_recorded_as_infra(tmp_path, tally):
    tally.fault("a job that could not be started (no space for its folder)")
    tally.fault("a Ray node lost twice under one job")
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    config = _config()
    jobs = config.jobs()
    executor = FlakyExecutor()
    scheduler.run([(config, jobs)], store, executor)
    rows = {(r.contender, r.seed): r.status for r in store.latest()}
    assert rows[("sklearn-logreg", 0)] is Status.OK  # started on its second try
    assert rows[("sklearn-logreg", 1)] is Status.INFRA  # lost twice: recorded as such
    lost = next(j for j in jobs if j.seed == 1 and j.contender == "sklearn-logreg")
    assert executor.submitted.count(lost.key) == 2
    assert len(store.all_rows()) == len(jobs)  # one row per job, retries included


def test_an_infra_row_is_never_a_regression():
    from harness.core.jobs import Job
    from harness.reporting.regressions import find_regressions

    job = Job("digits", "keras-shallow", 0, 1, 0, 5.0)
    before = Result.for_job(job, Status.OK, family="keras-cnn", test_accuracy=0.99,
                            run_id="old")
    now = Result.for_job(job, Status.INFRA, "Ray task failed", family="keras-cnn",
                         run_id="new")
    failed = Result.for_job(job, Status.ERROR, "boom", family="keras-cnn", run_id="new")
    assert find_regressions([now], [before, now]) == []
    assert len(find_regressions([failed], [before, failed])) == 1
