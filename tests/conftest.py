from __future__ import annotations

import contextlib
import fnmatch
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


def built_once(request, name: str, sources: tuple[str, ...], build) -> Path:
    """A folder that ``build(folder)`` fills once for every test process of this checkout:
    the xdist workers and both passes of a tier (``make test``) share it, in pytest's
    cache, under a name that changes with the ``sources`` files and the installed
    packages. Without pytest's cache (``-p no:cacheprovider``): once per process."""
    import fcntl
    import hashlib
    import shutil
    from importlib import metadata

    cache = getattr(request.config, "cache", None)
    if cache is None:
        folder = request.getfixturevalue("tmp_path_factory").mktemp(name)
        build(folder)
        return folder
    digest = hashlib.sha256()
    for source in sources:
        digest.update((ROOT / source).read_bytes())
    for dist in ("keras", "tensorflow", "timm", "torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            digest.update(f"{dist}=={metadata.version(dist)}".encode())
    folder = cache.mkdir(f"{name}-{digest.hexdigest()[:12]}")
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process builds; the others wait for it
        if not (folder / ".complete").exists():
            shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            (folder / ".complete").touch()
    return folder


@pytest.fixture(scope="session")
def automm_weights(request) -> Path:
    """Random-initialised timm checkpoints standing in for the AutoMM backbones' weights.

    AutoMM itself is imported here too: imports are setup, not training budget.
    """
    pytest.importorskip("autogluon.multimodal")
    from baselines.automm import BACKBONES, save_backbone

    def build(root: Path) -> None:
        for _gpu, cpu in BACKBONES.values():
            save_backbone(cpu, root, pretrained=False)

    return built_once(request, "automm-weights", ("baselines/automm/weights.py",), build)


@pytest.fixture(scope="session")
def keras_transfer_weights(request) -> Path:
    """Keras' no-top ImageNet files, under Keras' names, saved from ``weights=None``
    backbones: the transfer contenders load them through their real loading path.
    Made once for the checkout's test processes (ConvNeXtBase's alone is 350 MB)."""
    pytest.importorskip("tensorflow")
    from baselines.keras.transfer import BACKBONES, write_stand_in_weights

    def build(root: Path) -> None:
        for key in BACKBONES:
            write_stand_in_weights(key, root)

    return built_once(request, "keras-weights", ("baselines/keras/transfer.py",), build)


# -- the fault suite's tally (tests/fault_tally.py) ----------------------------------

_RECORD = pytest.StashKey()
TALLY_KEY = "harness-tally"


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
    # counted once per test: at its call, or at a setup that failed before it. The
    # record travels on the report, so that with pytest-xdist (`make test` runs two
    # workers) the controller adds up what every worker's tests said
    if record is not None and (report.when == "call" or (report.when == "setup"
                                                          and report.failed)):
        report.user_properties.append((TALLY_KEY, record.to_dict()))


def pytest_runtest_logreport(report):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # a worker: its controller counts the report
    from tests.faults.tally import TALLY, Record

    for key, value in report.user_properties:
        if key == TALLY_KEY:
            TALLY.add(Record.from_dict(value), passed=report.passed)


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


#: contract cases that run alone (marked serial): beside another test on 2 cores AutoMM's
#: fixed costs outgrow what it set aside for them (automm-best trained 16.3 s on a 15 s
#: budget, 15.3 s alone); every other case runs on two workers
SERIAL_CONTRACT = ("automm-*",)

#: the order in which the test folders go to pytest-xdist's workers; the rest follow
LONG_FIRST = {"e2e": 0, "contract": 1}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.originalname != "test_contract" or not hasattr(item, "callspec"):
            continue
        case = item.callspec.id
        if case not in EVERYDAY_CONTRACT:
            item.add_marker(pytest.mark.slow)
        if any(fnmatch.fnmatchcase(case, pattern) for pattern in SERIAL_CONTRACT):
            item.add_marker(pytest.mark.serial)
    # Shared among pytest-xdist workers, the long tests go first (the end-to-end runs,
    # then the contract's, each 10-90 s): a pass then ends on short ones, not with one
    # worker idle while the other finishes a long one
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers collect, in the order they run
        items.sort(key=lambda item: LONG_FIRST.get(Path(item.path).parent.name, len(LONG_FIRST)))
