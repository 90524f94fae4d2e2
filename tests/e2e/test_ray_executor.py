"""The Ray executor, in local mode with no cluster, gives the rows the local one gives."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli, store_results

SUITE = """\
name: ray
datasets: [digits]
contenders: [test-quick, test-sleep]
budgets: [20s]
max_train_per_class: 10
"""


def _rows(db) -> list[tuple]:
    return sorted((r.job_key, r.contender, r.status.value, r.test_accuracy, r.n_train)
                  for r in store_results(db))


@pytest.mark.slow
def test_ray_local_mode_gives_the_same_rows_as_the_local_executor(tmp_path):
    pytest.importorskip("ray")
    (tmp_path / "suite.yml").write_text(SUITE)
    local = run_cli(["suite", "run", "suite.yml", "--store", "sqlite:///local.sqlite"],
                    tmp_path)
    assert local.returncode == 0, local.stderr
    on_ray = run_cli(["suite", "run", "suite.yml", "--store", "sqlite:///ray.sqlite",
                      "--executor", "ray", "--runs-dir", "ray-runs"], tmp_path, timeout=300)
    assert on_ray.returncode == 0, on_ray.stderr
    assert "on the ray executor" in on_ray.stdout
    expected = _rows(tmp_path / "local.sqlite")
    assert len(expected) == 2 and all(r[2] == "ok" for r in expected)
    assert _rows(tmp_path / "ray.sqlite") == expected
    # each job ran in a worker of its own, its artifacts where the runner said
    assert sorted(p.parent.name for p in (tmp_path / "ray-runs").glob("*/result.json")) == \
        sorted(r[0] for r in expected)
