"""A real two-node Ray cluster on loopback: ``ray start --head``, then a second node
joining it, each with one CPU of its own. A suite runs through ``--executor ray
--address``; the second node is killed mid-job; the job runs again on the head, and
the store ends with each job once and nothing lost. Two runners sharing one store and
one cluster run each job once."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import alive, harness_env, store_rows

pytestmark = pytest.mark.slow

SUITE = """\
name: cluster
datasets: [digits]
contenders: [{contenders}]
budgets: [{budget}]
seeds: {seeds}
max_train_per_class: 10
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray() -> str:
    ray = Path(sys.executable).with_name("ray")
    if not ray.exists():
        pytest.skip("Ray is not installed: pip install 'harness[ray]'")
    return str(ray)


@contextlib.contextmanager
def cluster(tmp_path: Path, **env: str):
    """A head node and a second node on 127.0.0.1, one CPU each; yields (address, node)
    where ``node`` is the second node's ``ray start --block`` process (its own group)."""
    ray = _ray()
    port = _free_port()
    environment = harness_env(RAY_USAGE_STATS_ENABLED="0", **env)
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    logs = tmp_path / "ray-logs"
    logs.mkdir()
    head = subprocess.run(
        [ray, "start", "--head", "--port", str(port), "--include-dashboard", "false",
         "--resources", '{"head": 1}', *common],
        env=environment, capture_output=True, text=True, timeout=180)
    assert head.returncode == 0, head.stderr[-2000:]
    address = f"127.0.0.1:{port}"
    node = None
    try:
        with open(logs / "node.log", "w") as log:
            node = subprocess.Popen(
                [ray, "start", "--address", address, "--block", "--resources",
                 '{"second": 1}', *common],
                env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_nodes(address, 2, environment)
        yield address, node
    finally:
        if node is not None and node.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL)
        subprocess.run([ray, "stop", "--force"], env=environment, capture_output=True,
                       timeout=120)


def _wait_for_nodes(address: str, count: int, env: dict, timeout: float = 120) -> None:
    code = (f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
            "print(sum(n['Alive'] for n in ray.nodes()))")
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=120)
        if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise AssertionError(f"the cluster at {address} never had {count} nodes")


def _suite(tmp_path: Path, contenders: str, budget: str, seeds: int) -> Path:
    path = tmp_path / "suite.yml"
    path.write_text(SUITE.format(contenders=contenders, budget=budget, seeds=seeds))
    return path


def _harness(args: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _pids(runs: Path) -> dict[str, int]:
    """Job key -> pid of the worker that is (or was) training it (test-sleep writes it)."""
    out = {}
    for f in runs.glob("*/worker.pid"):
        with contextlib.suppress(OSError, ValueError):
            out[f.parent.name] = int(f.read_text())
    return out


@pytest.mark.serial  # a node is killed and its loss detected in time
def test_a_lost_node_s_job_runs_again_elsewhere_and_each_job_is_stored_once(tmp_path, tally):
    # two 15 s jobs, one per node; each sleeps until its deadline (HARNESS_TEST_SLEEP)
    env = {"HARNESS_TEST_SLEEP": "1"}
    with cluster(tmp_path, **env) as (address, node):
        _suite(tmp_path, "test-sleep", "15s", seeds=2)
        runner = _harness(["suite", "run", "suite.yml", "--executor", "ray", "--address",
                           address, "--runs-dir", str(tmp_path / "runs")], tmp_path,
                          harness_env(**env))
        runs = tmp_path / "runs"
        stop = time.monotonic() + 120
        while len(before := _pids(runs)) < 2 and time.monotonic() < stop:
            assert runner.poll() is None, runner.communicate()
            time.sleep(0.5)
        assert len(before) == 2, "both jobs never started at once, one per node"
        tally.fault("a Ray node killed mid-job")
        os.killpg(node.pid, signal.SIGKILL)  # the second node dies mid-job
        _out, err = runner.communicate(timeout=300)
        assert runner.returncode == 0, err[-3000:]

    rows = store_rows(tmp_path / "results/harness.sqlite")
    keys = [k for k, _, _ in rows]
    assert sorted(keys) == sorted(before), rows  # each job once: nothing lost, no twin
    assert all(status == "ok" for _, _, status in rows), rows
    after = _pids(runs)
    rerun = [k for k in before if after[k] != before[k]]
    assert len(rerun) == 1, (before, after)  # the lost node's job, trained again
    assert not alive(before[rerun[0]])  # its first worker died with its node


def test_two_runners_on_one_store_and_cluster_run_each_job_once(tmp_path, tally):
    tally.fault("two runners on one store and one Ray cluster")
    with cluster(tmp_path) as (address, _node):
        _suite(tmp_path, "test-quick, test-noisy", "5s", seeds=2)
        args = ["suite", "run", "suite.yml", "--executor", "ray", "--address", address]
        first, second = (_harness(args, tmp_path, harness_env()) for _ in range(2))
        outputs = [p.communicate(timeout=300) for p in (first, second)]
        assert first.returncode == 0 and second.returncode == 0, [e[-2000:] for _, e in outputs]

    rows = store_rows(tmp_path / "results/harness.sqlite")
    keys = [k for k, _, _ in rows]
    assert len(keys) == 4 and len(set(keys)) == 4, rows  # 2 contenders x 2 seeds, once each
    assert all(status == "ok" for _, _, status in rows), rows
