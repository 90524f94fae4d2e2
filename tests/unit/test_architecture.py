"""The layer contract, the absence of import cycles, and contenders that read no
environment: each checked so that breaking it fails here (and in ``make lint``)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.architecture import import_cycles, import_graph
from tests.conftest import ROOT

PACKAGES = ("harness", "baselines")


def test_there_is_no_import_cycle_counting_imports_inside_functions():
    assert import_cycles(ROOT, PACKAGES) == []


def test_the_cycle_finder_sees_a_cycle_hidden_in_a_function(tmp_path):
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg)
    # harness.core.budget -> harness.core.names, and back inside a function
    (tmp_path / "harness/core/budget.py").write_text(
        (tmp_path / "harness/core/budget.py").read_text() + "\nimport harness.core.names\n")
    (tmp_path / "harness/core/names.py").write_text(
        (tmp_path / "harness/core/names.py").read_text()
        + "\n\ndef _late():\n    from harness.core import budget\n\n    return budget\n")
    assert import_cycles(tmp_path, PACKAGES) == [["harness.core.budget", "harness.core.names"]]


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter is not installed: pip install 'harness[dev]'")
    return subprocess.run([str(exe), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def test_the_layer_contract_holds_on_this_tree():
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-2000:]


def test_the_layer_contract_fails_on_an_upward_import_inside_a_function(tmp_path):
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg)
    budget = tmp_path / "harness/core/budget.py"
    budget.write_text(budget.read_text()
                      + "\n\ndef _upward():\n    from harness.cli import main\n\n    return main\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert "harness.core.budget -> harness.cli" in done.stdout


def _environ_reads(path: Path) -> list[str]:
    """``os.environ``/``os.getenv``/``os.putenv`` uses in a module, as ``file:line``."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb")
                and isinstance(node.value, ast.Name) and node.value.id == "os"):
            hits.append(f"{path.name}:{node.lineno}")
        if isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                a.name in ("environ", "getenv") for a in node.names):
            hits.append(f"{path.name}:{node.lineno}")
    return hits


def test_no_contender_reads_the_environment():
    hits = [h for f in sorted((ROOT / "baselines").glob("*.py")) for h in _environ_reads(f)]
    assert hits == [], "contenders get their configuration from the JobContext: " + str(hits)


def test_the_environment_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\nWHERE = os.environ.get('HOME')\n")
    assert _environ_reads(bad) == ["bad.py:3"]


def test_every_module_says_its_job_in_a_docstring():
    missing = [name for name, path in import_graph(ROOT, PACKAGES)[1].items()
               if ast.get_docstring(ast.parse(path.read_text())) is None
               and path.name != "__main__.py"]
    assert missing == []
