"""Claims on jobs: who holds one, and whether that runner is still alive.

A claim's owner names the machine, the process and a nonce (for pid reuse), so that a
claim left by a runner that died on this machine can be taken over at once; one from
another machine must wait for its lease to expire.
"""

from __future__ import annotations

import os
import socket
import uuid

LEASE_SECONDS = 120.0


def new_owner() -> str:
    """Who holds a claim: this machine, this process, and a nonce for pid reuse."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool:
    """False only when the owner was a process on this machine that is gone."""
    host, _, rest = owner.partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: its lease must expire
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
