"""``harness doctor``: what is installed and usable, each problem with its fix.

Heavy libraries are probed in subprocesses with a timeout, so that a broken install
shows up as a line here instead of crashing the doctor.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

OK, WARN, FAIL = "ok", "warn", "fail"
_MARK = {OK: "[green]✓[/]", WARN: "[yellow]–[/]", FAIL: "[red]✗[/]"}

EXTRAS = {
    "keras": ("tensorflow", "keras", "keras_tuner", "optuna"),
    "automm": ("autogluon.multimodal", "torch", "torchvision", "timm"),
    "ray": ("ray",),
}


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    detail: str
    fix: str = ""


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _probe(code: str, timeout: float = 180) -> tuple[bool, str]:
    """Run ``code`` in a fresh interpreter: (succeeded, last line of output)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s"
    text = (done.stdout if done.returncode == 0 else done.stderr).strip().splitlines()
    return done.returncode == 0, text[-1] if text else f"exit code {done.returncode}"


def check_extras() -> list[Check]:
    out = []
    for extra, modules in EXTRAS.items():
        missing = [m for m in modules if not _has(m)]
        if missing:
            out.append(Check(f"extra [{extra}]", WARN, f"missing {', '.join(missing)}",
                             f"pip install 'harness[{extra}]'"))
        else:
            out.append(Check(f"extra [{extra}]", OK, "installed"))
    return out


def check_tensorflow() -> Check:
    if not _has("tensorflow"):
        return Check("TensorFlow", WARN, "not installed", "pip install 'harness[keras]'")
    ok, line = _probe(
        "import tensorflow as tf; d=tf.config.list_physical_devices(); "
        "print(tf.__version__, 'devices:', ', '.join(x.device_type + ':' + x.name.split(':')[-1] "
        "for x in d))"
    )
    if ok:
        return Check("TensorFlow", OK, line)
    return Check("TensorFlow", FAIL, f"import failed: {line}",
                 "pip install --force-reinstall 'harness[keras]'")


def check_torch() -> list[Check]:
    if not _has("torch"):
        return [Check("torch", WARN, "not installed", "pip install 'harness[automm]'")]
    ok, line = _probe(
        "import torch; n=torch.cuda.device_count() if torch.cuda.is_available() else 0; "
        "print(torch.__version__, f'CUDA devices: {n}')"
    )
    out = [Check("torch", OK if ok else FAIL, line if ok else f"import failed: {line}",
                 "" if ok else "pip install --force-reinstall torch")]
    if _has("torchvision"):
        ok, line = _probe(
            "import torch, torchvision; "
            "torchvision.ops.nms(torch.zeros((1, 4)), torch.zeros(1), 0.5); "
            "print('torchvision', torchvision.__version__, 'compiled ops load')"
        )
        fix = ("torchvision was built for another torch build: reinstall the pair from one "
               "index, e.g. pip install --force-reinstall torch torchvision "
               "(with no find-links pointing at a CPU-only torch wheel)")
        out.append(Check("torchvision ops", OK if ok else FAIL, line, "" if ok else fix))
    if _has("autogluon.multimodal"):
        ok, line = _probe("import autogluon.multimodal as m; print('autogluon.multimodal', "
                          "m.__version__)")
        out.append(Check("AutoMM", OK if ok else FAIL, line if ok else f"import failed: {line}",
                         "" if ok else "pip install --force-reinstall 'harness[automm]' "
                                       "'setuptools<81'"))
    return out


def check_gpus() -> Check:
    from harness.environment import gpu_models

    gpus = gpu_models()
    if gpus:
        return Check("GPUs", OK, f"{len(gpus)}: {', '.join(gpus)}")
    return Check("GPUs", WARN, "none found (nvidia-smi absent or silent): runs use the CPU",
                 "install the NVIDIA driver to train on a GPU; --gpus 0 runs on the CPU")


def check_disk() -> list[Check]:
    from harness.data import data_root

    out = []
    root = data_root()
    probe = root if root.exists() else Path.home()
    free = shutil.disk_usage(probe).free / 2**30
    level = OK if free > 20 else WARN
    out.append(Check("free disk", level, f"{free:.1f} GiB free at {probe}",
                     "" if level == OK else "free space or set HARNESS_DATA to a larger disk"))
    cached = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    out.append(Check("dataset cache", OK,
                     f"{root}: {', '.join(cached) if cached else 'empty'}"))
    return out


def check_weights() -> list[Check]:
    keras_dir = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    hf = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    out = []
    for name, path in (("Keras weights cache", keras_dir), ("Hugging Face hub cache", hf)):
        n = len(list(path.iterdir())) if path.is_dir() else 0
        out.append(Check(name, OK, f"{path}: {n} entr{'y' if n == 1 else 'ies'}"))
    if os.environ.get("HF_HUB_OFFLINE"):
        out.append(Check("HF_HUB_OFFLINE", OK, "set: AutoMM backbones come from the cache or "
                         "--weights-dir only"))
    return out


def run_checks() -> list[Check]:
    checks = [Check("python", OK if sys.version_info >= (3, 11) else FAIL,
                    sys.version.split()[0], "use Python 3.11 or newer")]
    with ThreadPoolExecutor(4) as pool:
        tf = pool.submit(check_tensorflow)
        torch = pool.submit(check_torch)
        checks += check_extras()
        checks += [check_gpus(), *check_disk(), *check_weights()]
        checks += [tf.result(), *torch.result()]
    return checks


def doctor_command() -> int:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    checks = run_checks()
    for c in checks:
        line = f"{_MARK[c.level]} {escape(c.name)}: {escape(c.detail)}"
        if c.fix and c.level != OK:
            line += f"  [dim]fix: {escape(c.fix)}[/]"
        console.print(line)
    failed = [c for c in checks if c.level == FAIL]
    console.print(f"{len(failed)} problem(s)" if failed else "everything installed works")
    return 1 if failed else 0
