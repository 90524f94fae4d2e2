"""Where jobs run: the local pool of worker processes, or Ray tasks.

Both hand every row back to this process, which writes the store; both run each job
in the same isolated ``python -m harness.worker``.
"""

from __future__ import annotations

from harness.config import RunConfig
from harness.errors import HarnessError
from harness.results import Job, Result
from harness.runner import Interrupted, Reporter
from harness.store import Store

EXECUTORS = ("local", "ray")


def execute(
    units: list[tuple[RunConfig, list[Job]]],
    store: Store,
    reporter: Reporter | None = None,
    run_id: str = "",
    executor: str = "local",
    address: str | None = None,
    cpus_per_job: float = 1,
) -> list[Result]:
    """Run each unit's jobs under its config; rows go to ``store`` as they finish."""
    units = [(config, jobs) for config, jobs in units if jobs]
    if executor == "ray":
        from harness.ray_executor import run_on_ray

        return run_on_ray(units, store, reporter, run_id, address=address,
                          cpus_per_job=cpus_per_job)
    if executor != "local":
        raise HarnessError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
    if address:
        raise HarnessError("--address is for --executor ray")
    from harness.runner import run_jobs

    results: list[Result] = []
    for config, jobs in units:
        try:
            results += run_jobs(config, jobs, store, reporter, run_id=run_id or None)
        except Interrupted as exc:
            raise Interrupted(len(results) + exc.finished) from None
    return results
