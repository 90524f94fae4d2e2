"""How the contract runs a check: in a child forked from a process that imported the
family's framework once, or in a fresh interpreter; the same facts either way, and a
check past its timeout killed with what it started, the next one served."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from harness.contenders import get, testing
from harness.contenders.testing import ContenderTestCase
from tests.conftest import PLUGINS, alive, harness_env


@pytest.fixture(autouse=True)
def _fault_contenders(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    import fault_contenders  # noqa: F401  (registers test-quick and test-hang here too)


class _Checks(ContenderTestCase):
    contenders = "test-quick"
    budget = 5.0

    def environment(self) -> dict[str, str]:
        return harness_env()


def _facts(preload: bool, tmp_path, request) -> dict:
    tmp_path.mkdir()
    checks = _Checks()
    checks.preload = preload
    facts = checks.run_check("test-quick", tmp_path, request)
    return {k: v for k, v in facts.items() if k not in ("took", "history_elapsed")}


def test_a_forked_check_gives_the_facts_of_a_fresh_interpreter(tmp_path, request):
    forked = _facts(True, tmp_path / "forked", request)
    assert forked["status"] == "ok" and forked["accuracy"] > 0.9, forked
    assert forked == _facts(False, tmp_path / "fresh", request)
    family = get("test-quick").framework.name
    assert [s for key, s in testing._SERVERS.items() if key[:2] == (family, None)
            and s.process.poll() is None]  # it forked from there


def test_a_check_past_its_timeout_is_killed_with_its_children_and_the_next_is_served(
        tmp_path, request):
    checks = _Checks()
    checks.timeout = 3.0
    (tmp_path / "hang").mkdir()
    with pytest.raises(pytest.fail.Exception, match="took over 3 s"):
        checks.run_check("test-hang", tmp_path / "hang", request)
    # the hanging contender ignores SIGTERM and leaves a sleeping child: both are gone
    child = int((tmp_path / "hang" / "job" / "work" / "child.pid").read_text())
    deadline = time.monotonic() + 10  # (killed, it may wait a moment to be reaped)
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)
    (tmp_path / "next").mkdir()
    assert checks.run_check("test-quick", tmp_path / "next", request)["status"] == "ok"


def test_a_check_s_timeout_counts_from_its_fork_not_from_its_server_s_start(tmp_path):
    """A server still importing its framework (seconds, on a busy machine) has not begun
    the check: its timeout starts when the server answers with the child's pid."""
    # a server that takes 1.5 s to answer with the pid, then 0.3 s for the exit code
    script = ("import sys, time; sys.stdin.readline(); time.sleep(1.5); "
              "print('pid 1', flush=True); time.sleep(0.3); print('exit 7', flush=True)")
    server = object.__new__(testing._Server)
    server.process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE)
    try:
        assert server.check(tmp_path / "spec.json", timeout=1.0) == 7
    finally:
        server.process.kill()
        server.process.wait()


def _facts_of(**changes) -> dict:
    """The facts of a check that kept every rule, changed where said."""
    return {"seconds": 5.0, "took": 4.0, "status": "ok", "message": "", "traceback": "",
            "proba_shape": [18, 3], "accuracy": 1.0, "encoders_called": [],
            "parameters": 10, "history_elapsed": [1.0, 2.0], "pretrained": False,
            "backend": None, **changes}


def test_a_case_that_overran_or_learned_nothing_is_checked_once_more_a_broken_rule_not(
        tmp_path, request, monkeypatch):
    checks, answers, folders = _Checks(), [], []

    def run_check(name, folder, request, backend=None):
        folders.append(folder)
        return answers.pop(0)

    monkeypatch.setattr(checks, "run_check", run_check)
    # learned nothing, then passed: it passes, and the warnings summary says so
    answers[:] = [_facts_of(accuracy=1 / 3), _facts_of()]
    with pytest.warns(UserWarning, match="passed when checked again; first learned nothing"):
        checks.test_contract("test-quick", None, tmp_path / "a", request)
    assert len(folders) == 2 and folders[0] != folders[1] and not answers
    # missed twice: it fails, saying both
    answers[:] = [_facts_of(took=5.4), _facts_of(accuracy=1 / 3)]
    with pytest.raises(pytest.fail.Exception, match=r"checked 2 times: trained 5\.4 s on a "
                       r"5 s budget; learned nothing: 0\.33 on easy synthetic data \(2 epochs"):
        checks.test_contract("test-quick", None, tmp_path / "b", request)
    # a broken rule fails at once, however the time and learning went
    answers[:] = [_facts_of(status="error", message="fit returned no FitReport"), _facts_of()]
    with pytest.raises(AssertionError, match="no FitReport"):
        checks.test_contract("test-quick", None, tmp_path / "c", request)
    assert len(answers) == 1
    # within 5 % of the budget, and a pretrained contender at chance: no miss
    answers[:] = [_facts_of(took=5.2, pretrained=True, accuracy=1 / 3)]
    checks.test_contract("test-quick", None, tmp_path / "d", request)
    assert not answers
