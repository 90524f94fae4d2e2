from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# The contract test runs Keras and AutoMM contenders in this one process (the harness
# itself gives each job its own). With TensorFlow loaded first, `import torchvision`
# crashes the interpreter (SIGSEGV, seen with TF 2.21 and torch 2.13); torch first is fine.
with contextlib.suppress(ImportError):
    import torch  # noqa: F401
    import torchvision  # noqa: F401

from harness.data import Split

PLUGINS = Path(__file__).parent / "plugins"
ROOT = Path(__file__).parent.parent


def synthetic_split(n_per_class: int = 12, classes: int = 3, size: int = 32, seed: int = 0,
                    channels: int = 3) -> Split:
    """Easy images: each class is a bright square in its own place, plus noise."""
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


def store_rows(path: Path) -> list[tuple[str, str, str]]:
    """(job_key, contender, status) of every row, straight from SQLite."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT job_key, contender, status FROM results ORDER BY id").fetchall()


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


@pytest.fixture(autouse=True)
def _automm_stand_ins(request, monkeypatch, tmp_path_factory):
    """The contract test's AutoMM contenders get the stand-in weights and a data cache of
    their own; other tests pay nothing."""
    callspec = getattr(request.node, "callspec", None)
    if not str(callspec.params.get("name", "") if callspec else "").startswith("automm-"):
        return
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(request.getfixturevalue("automm_weights")))
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path_factory.getbasetemp() / "automm-data"))


@pytest.fixture(scope="session")
def keras_transfer_weights(tmp_path_factory) -> Path:
    """Keras' no-top ImageNet files, under Keras' names, saved from ``weights=None``
    backbones: the transfer contenders load them through their real loading path.
    Made once per session (ConvNeXtBase's alone is 350 MB)."""
    pytest.importorskip("tensorflow")
    from baselines.keras_transfer import BACKBONES, write_stand_in_weights

    root = tmp_path_factory.mktemp("keras-weights")
    for key in BACKBONES:
        write_stand_in_weights(key, root)
    return root


@pytest.fixture(autouse=True)
def _keras_transfer_stand_ins(request, monkeypatch):
    """The contract test's transfer contenders get the stand-in weights, and no download."""
    callspec = getattr(request.node, "callspec", None)
    name = str(callspec.params.get("name", "") if callspec else "")
    from harness.contender import get, list_contenders

    if name not in list_contenders("all") or get(name).family != "keras-transfer":
        return
    weights = request.getfixturevalue("keras_transfer_weights")
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")


# -- the fault suite's tally (tests/fault_tally.py) ----------------------------------

_RECORD = pytest.StashKey()


@pytest.fixture
def tally(request):
    """Where a test says which faults it injects and which bad inputs it tries."""
    from tests.fault_tally import Record

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
        from tests.fault_tally import TALLY

        TALLY.add(record, passed=report.passed)


def pytest_terminal_summary(terminalreporter):
    from tests.fault_tally import TALLY

    if TALLY.injected or TALLY.tried:
        terminalreporter.write_line(TALLY.line())
