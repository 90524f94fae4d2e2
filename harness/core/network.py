"""Whether a run can download pretrained weights: asked once per process, in seconds.

A pretrained contender whose weights are not on disk downloads them on first use. On a
machine with no network that download fails slowly (the Hugging Face hub retries for
a minute), so a run first asks, once, whether the weights' hosts answer at all; where
none does, the run is offline and such a contender is a ``skipped`` row at once.

``HARNESS_OFFLINE=1`` (or the Hugging Face libraries' own ``HF_HUB_OFFLINE=1``) says
offline without asking; ``HARNESS_OFFLINE=0`` says online without asking.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time

#: where pretrained weights come from: Keras' applications and the Hugging Face hub
WEIGHT_HOSTS = ("storage.googleapis.com:443", "huggingface.co:443")
#: the whole probe's limit: every host is asked at once
PROBE_SECONDS = 2.0
OFFLINE_FLAGS = ("HARNESS_OFFLINE", "HF_HUB_OFFLINE")
_TRUE, _FALSE = {"1", "ON", "YES", "TRUE"}, {"0", "OFF", "NO", "FALSE"}


def _flag(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().upper()
    return True if value in _TRUE else False if value in _FALSE else None


def offline_reason(hosts: tuple[str, ...] = WEIGHT_HOSTS) -> str:
    """Why downloads are off for this run, in a clause ('' when they are on)."""
    for name in OFFLINE_FLAGS:
        if _flag(name):
            return f"{name} is set"
    if _flag("HARNESS_OFFLINE") is False:
        return ""
    down = unreachable(hosts)
    if hosts and len(down) == len(hosts):
        names = " and ".join(h.rsplit(":", 1)[0] for h in down)
        return f"no network ({names} cannot be reached)"
    return ""


@functools.cache
def unreachable(hosts: tuple[str, ...], seconds: float = PROBE_SECONDS) -> tuple[str, ...]:
    """The ``host:port`` of ``hosts`` that accepted no connection within ``seconds``
    (all asked at once: a name that does not resolve fails in milliseconds, a silent
    firewall takes the whole limit)."""
    answered: set[str] = set()

    def ask(host: str) -> None:
        name, _, port = host.rpartition(":")
        try:
            with socket.create_connection((name, int(port)), timeout=seconds):
                answered.add(host)
        except (OSError, ValueError):
            pass

    threads = [threading.Thread(target=ask, args=(h,), daemon=True) for h in hosts]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    for t in threads:  # a resolver that hangs is left behind, as a daemon thread
        t.join(max(0.0, deadline - time.monotonic()))
    return tuple(h for h in hosts if h not in answered)
