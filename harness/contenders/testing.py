"""The contender contract as a reusable pytest class, as Optuna ships ``SamplerTestCase``.

A plugin author checks their contenders against the same contract as the built-in
ones by subclassing :class:`ContenderTestCase` in a test module::

    from harness.contenders.testing import ContenderTestCase

    class TestMyContenders(ContenderTestCase):
        contenders = "mine-*"
        budgets = {"mine-slow": 30.0}      # seconds, by name or wildcard

Each contender is checked in a process of its own (``python -m harness.scoring.check SPEC``;
where the system forks, a child of a process that has imported the family's framework
on that backend once for the test session, which saves each check those seconds),
through the evaluation protocol the harness runs every job with
(:func:`harness.scoring.protocol.evaluate`), on tiny synthetic data (36 training images of 32x32,
3 classes, each class a bright square in its own place): it fits within its budget
(5 % slack), returns probabilities of the right shape for a batch and for one image,
encodes no image on the path the harness times (``predict_proba``: no PNG or JPEG
bytes, no files), describes itself, saves what it says it saved, and - unless it needs pretrained
weights - learns the easy data. A case that overran or learned nothing, which the
machine's load can cause, is checked once more before it fails (:attr:`reruns`). Test
settings (budgets, parameters, skips, the context) live on the test class, never on the
contenders.
"""

from __future__ import annotations

import atexit
import fnmatch
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.core.context import JobContext

if TYPE_CHECKING:
    from harness.data import Split


def synthetic_split(n_per_class: int = 12, classes: int = 3, size: int = 32, seed: int = 0,
                    channels: int = 3) -> Split:
    """Easy images: each class is a bright square in its own place, plus noise."""
    import numpy as np

    from harness.data import Split

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            img = rng.integers(0, 60, (size, size, channels))
            r, q = divmod(c, 2)
            y0, x0 = r * size // 2, q * size // 2
            img[y0 : y0 + size // 2, x0 : x0 + size // 2] += 150
            images.append(img)
            labels.append(c)
    order = rng.permutation(len(labels))
    return Split(np.clip(np.array(images), 0, 255).astype(np.uint8)[order],
                 np.array(labels)[order], classes)


def tiny_splits() -> tuple[Split, Split, Split]:
    """(train, val, test) of synthetic 32x32 RGB images in 3 classes: the contract's data."""
    return synthetic_split(12, seed=0), synthetic_split(4, seed=1), synthetic_split(6, seed=2)


def _match(table: dict[str, Any], name: str, default: Any = None) -> Any:
    """The value of the first key of ``table`` that is ``name`` or a wildcard matching it."""
    if name in table:
        return table[name]
    for pattern, value in table.items():
        if fnmatch.fnmatchcase(name, pattern):
            return value
    return default


#: how long a check server may take to start (its imports) and fork its first child
STARTUP_SECONDS = 120.0


class _Server:
    """``python -m harness.scoring.check --serve``: one per family and backend, kept for
    the test session, forking a child per check."""

    def __init__(self, name: str, backend: str | None, env: dict[str, str], log: Path) -> None:
        cmd = [sys.executable, "-m", "harness.scoring.check", "--serve", name]
        self.log = log
        with open(log, "ab") as err:
            self.process = subprocess.Popen([*cmd, *([backend] if backend else [])], env=env,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=err)

    def _answer(self, deadline: float) -> str:
        """The next line the server writes, or ``TimeoutError`` at ``deadline``."""
        fd, line = self.process.stdout.fileno(), b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            byte = os.read(fd, 1)
            if not byte:
                raise EOFError("the check server ended")
            line += byte
        return line.decode().strip()

    def check(self, spec_file: Path, timeout: float) -> int:
        """Check ``spec_file`` in a forked child: its exit code (``TimeoutError`` past
        ``timeout`` seconds from the fork, the child killed). A server still starting
        (its imports) has ``STARTUP_SECONDS`` more to fork the child."""
        self.process.stdin.write(f"{spec_file}\n".encode())
        self.process.stdin.flush()
        pid = int(self._answer(time.monotonic() + max(timeout, STARTUP_SECONDS)).split()[1])
        try:
            return int(self._answer(time.monotonic() + timeout).split()[1])
        except TimeoutError:  # the child and whatever it started
            os.killpg(pid, signal.SIGKILL)
            self._answer(time.monotonic() + 30)
            raise

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


#: by family, backend and environment
_SERVERS: dict[tuple[str, str | None, tuple[tuple[str, str], ...]], _Server] = {}


@atexit.register
def _close_servers() -> None:
    for server in _SERVERS.values():
        server.close()
    _SERVERS.clear()


class ContenderTestCase:
    """Every contender named by :attr:`contenders` against the contract; subclass it."""

    #: which registered contenders to check: a comma list or wildcards
    contenders: ClassVar[str] = "all"
    #: the training budget in seconds, and exceptions by name or wildcard
    budget: ClassVar[float] = 15.0
    budgets: ClassVar[dict[str, float]] = {}
    #: parameters to create a contender with, by name or wildcard (smaller inputs, say)
    params: ClassVar[dict[str, dict[str, Any]]] = {}
    #: contenders not to train here, with the reason the skip shows
    skips: ClassVar[dict[str, str]] = {}
    #: accuracy a contender that needs no pretrained weights must reach on the easy data
    min_accuracy: ClassVar[float] = 0.6
    #: how many times a case that overran its budget or learned nothing is checked again
    #: before it fails: both move with the machine's load (beside another case a traced
    #: first step once took 27 s of a 30 s budget), while a broken rule fails at once
    reruns: ClassVar[int] = 1
    #: seconds the check process may take in all (imports, setup, fit, predict, save)
    timeout: ClassVar[float] = 600.0
    #: the backends to check a contender on, for families that have several (Keras):
    #: ``None`` for every one installed here. Budgets, params and skips may name
    #: ``NAME@BACKEND`` to apply to one backend only.
    backends: ClassVar[tuple[str, ...] | None] = None
    #: check in children forked from a process per family and backend that has imported
    #: the framework once (where the system forks); ``False``: a fresh interpreter each
    preload: ClassVar[bool] = True

    def pytest_generate_tests(self, metafunc) -> None:
        if "contender_name" in metafunc.fixturenames:
            from harness.contenders import get, list_contenders

            cases, ids = [], []
            for name in list_contenders(self.contenders):
                family = get(name).framework
                installed = family.installed_backends()
                chosen = [b for b in (self.backends or installed) if b in installed]
                for backend in chosen or [None]:
                    cases.append((name, backend))
                    ids.append(f"{name}@{backend}" if backend else name)
            if "backend" in metafunc.fixturenames:
                metafunc.parametrize(("contender_name", "backend"), cases, ids=ids)
            else:
                names = list(dict.fromkeys(n for n, _ in cases))
                metafunc.parametrize("contender_name", names, ids=names)

    # -- hooks a subclass may override ---------------------------------------------------

    def context(self, name: str, job_dir: Path, request) -> JobContext:
        """The job context the contender is handed (weights, caches, offline...)."""
        return JobContext(job_dir=job_dir, data_dir=job_dir / "data",
                          cache_dir=job_dir / "cache", offline=True)

    def environment(self) -> dict[str, str]:
        """The environment of the check process (plugins on the path, say)."""
        return dict(os.environ)

    # -- the test --------------------------------------------------------------------------

    def _setting(self, table: dict[str, Any], name: str, backend: str | None,
                 default: Any = None) -> Any:
        """A test setting for ``name`` on ``backend``: ``NAME@BACKEND`` first, then ``NAME``."""
        if backend:
            found = _match(table, f"{name}@{backend}")
            if found is not None:
                return found
        return _match(table, name, default)

    def run_check(self, name: str, tmp_path: Path, request, backend: str | None = None
                  ) -> dict[str, Any]:
        import pytest

        from harness.contenders import get

        cls = get(name)
        why = (cls.unavailable() or cls.unsupported_backends.get(backend or "")
               or self._setting(self.skips, name, backend))
        if why:
            pytest.skip(why)
        spec = {"name": name, "backend": backend,
                "seconds": self._setting(self.budgets, name, backend, self.budget),
                "params": self._setting(self.params, name, backend, {}),
                "context": self.context(name, tmp_path / "job", request).to_dict()}
        spec_file = tmp_path / "spec.json"
        spec_file.write_text(json.dumps(spec))
        if self.preload and hasattr(os, "fork"):
            code, output = self._check_forked(name, backend, spec_file, tmp_path)
        else:
            done = subprocess.run([sys.executable, "-m", "harness.scoring.check",
                                   str(spec_file)], env=self.environment(),
                                  capture_output=True, text=True, timeout=self.timeout)
            code, output = done.returncode, done.stderr
        assert code == 0, output[-3000:]
        return json.loads((tmp_path / "facts.json").read_text())

    def _check_forked(self, name: str, backend: str | None, spec_file: Path,
                      tmp_path: Path) -> tuple[int, str]:
        """Check ``spec_file`` in a child of the server for ``name``'s family on
        ``backend`` (started on first use): its exit code and what it printed."""
        import pytest

        from harness.contenders import get

        family, environment = get(name).framework.name, self.environment()
        key = (family, backend, tuple(sorted(environment.items())))
        if key not in _SERVERS or _SERVERS[key].process.poll() is not None:
            log = tmp_path.parent / f"check-server-{family}-{backend}.log"
            _SERVERS[key] = _Server(name, backend, environment, log)
        try:
            code = _SERVERS[key].check(spec_file, self.timeout)
        except TimeoutError:
            pytest.fail(f"{name}: the check took over {self.timeout:.0f} s")
        except (EOFError, OSError) as exc:  # the server is gone: say so, start another next
            server = _SERVERS.pop(key)
            server.close()
            pytest.fail(f"{name}: the check server ended ({exc}); its log: {server.log}")
        log = spec_file.parent / "check.log"
        return code, log.read_text(errors="replace") if log.exists() else ""

    def test_contract(self, contender_name: str, backend: str | None, tmp_path: Path,
                      request) -> None:
        import warnings

        import pytest

        name, missed = contender_name, []
        for attempt in range(self.reruns + 1):
            folder = tmp_path / f"again-{attempt}" if attempt else tmp_path
            folder.mkdir(exist_ok=True)
            facts = self.run_check(name, folder, request, backend)
            self._check_rules(name, backend, facts)
            miss = self._missed(facts)
            if miss is None:
                if missed:  # said in the run's warnings summary, not lost
                    warnings.warn(f"{name}: passed when checked again; first {missed[0]}",
                                  stacklevel=1)
                return
            missed.append(miss)
        pytest.fail(f"{name}, checked {len(missed)} times: " + "; ".join(missed))

    def _check_rules(self, name: str, backend: str | None, facts: dict[str, Any]) -> None:
        """What no load of the machine excuses: a failure here fails at once."""
        if backend:  # the check ran on the backend it was asked for, not a default
            assert facts["backend"] == backend, f"{name} ran on {facts['backend']}"
        # fit returned a FitReport, the probabilities are finite rows summing to 1 (for
        # the test split and for one image), describe() gave a dict with 'params', and
        # save() returned a path that exists: the protocol says which did not
        assert facts["status"] == "ok", f"{name}: {facts['message']}\n{facts['traceback']}"
        assert facts["proba_shape"] == [18, 3]
        assert not facts["encoders_called"], \
            f"{name} encodes images on its timed path: {facts['encoders_called']}"
        assert facts["parameters"] is None or facts["parameters"] > 0
        assert all(0 <= e <= facts["took"] + 1 for e in facts["history_elapsed"])

    def _missed(self, facts: dict[str, Any]) -> str | None:
        """What the machine's load can cause, said, or ``None``: the budget overrun by
        more than 5 %, or the easy data not learned in it."""
        seconds, took = facts["seconds"], facts["took"]
        if took > seconds * 1.05:
            return f"trained {took:.1f} s on a {seconds:.0f} s budget"
        # Pretrained contenders may run here on random stand-in weights with fine-tuning
        # recipes (tiny learning rates) not meant to learn from scratch in seconds: for
        # them the contract is the shape of what they return.
        if not facts["pretrained"] and facts["accuracy"] <= self.min_accuracy:
            ends = facts["history_elapsed"] or [0.0]
            return (f"learned nothing: {facts['accuracy']:.2f} on easy synthetic data "
                    f"({len(facts['history_elapsed'])} epochs, ending {ends[0]:.1f}-"
                    f"{ends[-1]:.1f} s into the budget)")
        return None
