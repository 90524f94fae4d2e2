"""The run's one question before pretrained weights: can their hosts be reached?"""

from __future__ import annotations

import socket
import time

import pytest

from harness.core import network


@pytest.fixture
def listening():
    """A local port that accepts connections, and one that refuses them."""
    server = socket.create_server(("127.0.0.1", 0))
    closed = socket.create_server(("127.0.0.1", 0))
    refused = closed.getsockname()[1]
    closed.close()
    yield f"127.0.0.1:{server.getsockname()[1]}", f"127.0.0.1:{refused}"
    server.close()


def test_a_host_that_answers_is_reachable_and_one_that_refuses_is_not(listening):
    up, down = listening
    network.unreachable.cache_clear()
    start = time.monotonic()
    assert network.unreachable((up, down), seconds=2.0) == (down,)
    assert time.monotonic() - start < 2.0  # a refusal is not waited out
    assert network.unreachable(("no-such-host.invalid:443",), seconds=2.0) == (
        "no-such-host.invalid:443",)


def test_offline_when_said_or_when_no_host_answers(listening, monkeypatch):
    up, down = listening
    network.unreachable.cache_clear()
    for name in network.OFFLINE_FLAGS:
        monkeypatch.delenv(name, raising=False)
    assert network.offline_reason((up, down)) == ""  # one host answers: online
    why = network.offline_reason((down,))
    assert why.startswith("no network (127.0.0.1 cannot be reached")
    monkeypatch.setenv("HARNESS_OFFLINE", "0")  # online without asking
    assert network.offline_reason((down,)) == ""
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    assert network.offline_reason((up,)) == "HARNESS_OFFLINE is set"
    monkeypatch.setenv("HARNESS_OFFLINE", "")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert network.offline_reason((up,)) == "HF_HUB_OFFLINE is set"


def test_the_job_context_carries_the_reason_to_the_contender(tmp_path, monkeypatch):
    from harness.core.context import JobContext

    context = JobContext(job_dir=tmp_path, offline=True, offline_reason="no network (x)")
    again = JobContext.from_dict(context.to_dict())
    assert again.offline and again.why_offline == "no network (x)"
    assert JobContext(job_dir=tmp_path, offline=True).why_offline.startswith("HARNESS_OFFLINE")
