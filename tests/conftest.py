from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

# TensorFlow and torchvision both load in this process: the stand-in weights fixtures
# below (Keras backbones, AutoMM's timm checkpoints, for the contract's subprocesses) and
# the in-process tests of tests/unit/contenders. With TensorFlow loaded first, `import
# torchvision` crashes the interpreter (SIGSEGV, seen with TF 2.21 and torch 2.13, and
# again at this commit); torch first is fine. It costs the session about 3 s.
with contextlib.suppress(ImportError):
    import torch  # noqa: F401
    import torchvision  # noqa: F401

from harness.contenders.testing import synthetic_split, tiny_splits
from harness.core.jobs import Result

__all__ = ["synthetic_split", "tiny_splits"]

PLUGINS = Path(__file__).parent / "plugins"
ROOT = Path(__file__).parent.parent


@pytest.fixture
def tiny():
    return tiny_splits()


def harness_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(PLUGINS), env.get("PYTHONPATH", "")])
    env["HARNESS_PLUGINS"] = "fault_contenders"
    env.pop("HARNESS_TEST_SLEEP", None)
    env.update(extra)
    return env


def run_cli(args: list[str], cwd: Path, timeout: float = 600, **env: str):
    """``harness ARGS`` in a subprocess, as a user would type it."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=cwd, env=harness_env(**env),
        capture_output=True, text=True, timeout=timeout,
    )


def alive(pid: int) -> bool:
    """Whether process ``pid`` still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def store_results(path: Path) -> list[Result]:
    """Every row of the SQLite store at ``path``, in the order they were added, through
    the store's own API (tests of the storage itself read its SQL)."""
    from harness.store import Store

    store = Store(f"sqlite:///{path}", create=False)
    try:
        return store.all_rows()
    finally:
        store.close()


def store_rows(path: Path) -> list[tuple[str, str, str]]:
    """(job_key, contender, status) of every row of the SQLite store at ``path``."""
    return [(r.job_key, r.contender, r.status.value) for r in store_results(path)]


# Tests never reach the network: the Hugging Face hub (timm, AutoMM) stays offline, in
# this process and in the workers it starts. Set before anything imports huggingface_hub.
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def automm_weights(tmp_path_factory) -> Path:
    """Random-initialised timm checkpoints standing in for the AutoMM backbones' weights.

    AutoMM itself is imported here too: imports are setup, not training budget.
    """
    pytest.importorskip("autogluon.multimodal")
    from baselines.automm import BACKBONES, save_backbone

    root = tmp_path_factory.mktemp("weights")
    for _gpu, cpu in BACKBONES.values():
        save_backbone(cpu, root, pretrained=False)
    return root


@pytest.fixture(scope="session")
def keras_transfer_weights(tmp_path_factory) -> Path:
    """Keras' no-top ImageNet files, under Keras' names, saved from ``weights=None``
    backbones: the transfer contenders load them through their real loading path.
    Made once per session (ConvNeXtBase's alone is 350 MB)."""
    pytest.importorskip("tensorflow")
    from baselines.keras.transfer import BACKBONES, write_stand_in_weights

    root = tmp_path_factory.mktemp("keras-weights")
    for key in BACKBONES:
        write_stand_in_weights(key, root)
    return root


# -- the fault suite's tally (tests/fault_tally.py) ----------------------------------

_RECORD = pytest.StashKey()


@pytest.fixture
def tally(request):
    """Where a test says which faults it injects and which bad inputs it tries."""
    from tests.faults.tally import Record

    record = Record()
    request.node.stash[_RECORD] = record
    return record


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    record = item.stash.get(_RECORD, None)
    # counted once per test: at its call, or at a setup that failed before it
    if record is not None and (report.when == "call" or (report.when == "setup"
                                                          and report.failed)):
        from tests.faults.tally import TALLY

        TALLY.add(record, passed=report.passed)


def pytest_terminal_summary(terminalreporter):
    from tests.faults.tally import TALLY

    if TALLY.injected or TALLY.tried:
        terminalreporter.write_line(TALLY.line())


# -- the two tiers: `make test` (not slow) and `make test-all` --------------------------

#: the contract cases of the everyday tier: the quickest contender of each family that
#: needs no stand-in Keras weights, on its first backend; every other case (other
#: backends, the tuners, the heavier networks, every transfer backbone, whose stand-in
#: weights take eight backbones to make) runs in `make test-all`
EVERYDAY_CONTRACT = frozenset({
    "sklearn-logreg", "sklearn-svc", "keras-shallow@tensorflow", "automm-medium",
})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if (item.originalname == "test_contract" and hasattr(item, "callspec")
                and item.callspec.id not in EVERYDAY_CONTRACT):
            item.add_marker(pytest.mark.slow)
