"""The execution layer: plan -> scheduler -> executor (local | Ray) -> worker subprocess.

- ``plan``: the jobs of a run or a suite, which are done, what runs, estimates
- ``suite``: suite files (YAML) read into run configs, each problem located to its line
- ``scheduler``: the one loop that claims jobs, submits them, records rows, handles
  interrupts; the ``Executor`` protocol
- ``local``: worker processes on this machine, each watched and capped (``Worker``)
- ``ray_executor``: the same worker inside Ray tasks, on a cluster
- ``worker``: one job in its own process (``python -m harness.execution.worker``)
- ``environment``: GPUs and what a row was measured with

Imports the core, data, contenders, scoring and store layers.
"""
