"""``harness doctor``: what is installed and usable, each problem with its fix.

What to check comes from the contenders' families (their extras, modules and
probes); heavy libraries are probed in subprocesses with a timeout, so that a broken
install shows up as a line here instead of crashing the doctor.
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


def extras() -> dict[str, tuple[str, ...]]:
    """Each extra and the modules it must bring: from the families, and Ray's."""
    from harness.contenders import families, get, list_contenders

    out: dict[str, list[str]] = {}
    for family in families():
        if family.extra:
            out.setdefault(family.extra, []).extend(family.modules)
    for name in list_contenders("all"):  # modules a contender needs beyond its family's
        cls = get(name)
        if cls.framework.extra:
            out[cls.framework.extra].extend(cls.requires)
    out["ray"] = ["ray"]  # the Ray executor's
    return {extra: tuple(dict.fromkeys(mods)) for extra, mods in out.items()}


def check_extras() -> list[Check]:
    out = []
    for extra, modules in extras().items():
        missing = [m for m in modules if not _has(m)]
        if missing:
            out.append(Check(f"extra [{extra}]", WARN, f"missing {', '.join(missing)}",
                             f"pip install 'harness[{extra}]'"))
        else:
            out.append(Check(f"extra [{extra}]", OK, "installed"))
    return out


def check_probes() -> list[Check]:
    """Each family's probes, in fresh interpreters: a broken install is a line, not a crash."""
    from harness.contenders import families

    def run(family, probe) -> Check | None:
        if not _has(probe.needs):
            if probe.needs in family.modules[:1]:  # the framework itself: say so once
                return Check(probe.name, WARN, "not installed",
                             f"pip install 'harness[{family.extra}]'")
            return None
        ok, line = _probe(probe.code)
        return Check(probe.name, OK if ok else FAIL, line if ok else f"failed: {line}",
                     "" if ok else probe.fix)

    todo = [(f, p) for f in families() for p in f.probes]
    with ThreadPoolExecutor(4) as pool:
        return [c for c in pool.map(lambda fp: run(*fp), todo) if c is not None]


def check_gpus() -> Check:
    from harness.execution.environment import gpu_models

    gpus = gpu_models()
    if gpus:
        return Check("GPUs", OK, f"{len(gpus)}: {', '.join(gpus)}")
    return Check("GPUs", WARN, "none found (nvidia-smi absent or silent): runs use the CPU",
                 "install the NVIDIA driver to train on a GPU; --gpus 0 runs on the CPU")


def check_disk() -> list[Check]:
    from harness.data.sources import data_root

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


def check_pretrained() -> Check:
    """Whether each pretrained contender's weights are on disk, downloadable or missing."""
    from harness.cli.commands import weights_context
    from harness.contenders import get, list_contenders

    context = weights_context()
    states: dict[str, list[str]] = {"on disk": [], "downloadable": [], "missing": []}
    first_missing = ""
    for name in list_contenders("all"):
        cls = get(name)
        if not cls.pretrained or cls.unavailable() is not None:
            continue
        state, detail = cls.weights_status(context)
        states[state].append(name)
        first_missing = first_missing or (f"{name}: {detail}" if state == "missing" else "")
    counts = ", ".join(f"{len(v)} {k}" for k, v in states.items())
    if states["missing"]:
        return Check("pretrained weights", WARN, f"{counts}; missing: "
                     f"{', '.join(states['missing'][:6])}", first_missing)
    return Check("pretrained weights", OK, counts)


def run_checks() -> list[Check]:
    checks = [Check("python", OK if sys.version_info >= (3, 11) else FAIL,
                    sys.version.split()[0], "use Python 3.11 or newer")]
    from harness.contenders import load_plugins

    load_plugins()  # the families come with the contenders that declare them
    with ThreadPoolExecutor(1) as pool:
        probes = pool.submit(check_probes)
        checks += check_extras()
        checks += [check_gpus(), *check_disk(), *check_weights(), check_pretrained()]
        checks += probes.result()
    return checks


def doctor_command() -> int:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    # each framework is imported in a process of its own: a minute on a small machine
    with Console(stderr=True).status("checking the frameworks, GPUs, disk and weights "
                                     "(about a minute)…"):
        checks = run_checks()
    for c in checks:
        line = f"{_MARK[c.level]} {escape(c.name)}: {escape(c.detail)}"
        if c.fix and c.level != OK:
            line += f"  [dim]fix: {escape(c.fix)}[/]"
        console.print(line)
    failed = [c for c in checks if c.level == FAIL]
    console.print(f"{len(failed)} problem(s)" if failed else "everything installed works")
    return 1 if failed else 0
