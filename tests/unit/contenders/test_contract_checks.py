"""How the contract runs a check: in a child forked from a process that imported the
family's framework once, or in a fresh interpreter; the same facts either way, and a
check past its timeout killed with what it started, the next one served."""

from __future__ import annotations

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
