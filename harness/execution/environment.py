"""The machine a job runs on: its GPUs, and what a row was measured with (library
versions, CPU and GPU model, git commit). Which libraries count comes from the
families of the loaded contenders."""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

#: recorded whatever the families: the executors' own libraries
EXECUTOR_PACKAGES = ("ray",)


def package_versions(names: tuple[str, ...] | None = None) -> dict[str, str]:
    """Installed versions of ``names`` (default: every family's packages, and Ray's)."""
    if names is None:
        from harness.contenders import families

        names = tuple(dict.fromkeys(
            [p for f in families() for p in f.packages] + list(EXECUTOR_PACKAGES)))
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def gpu_models() -> tuple[str, ...]:
    """Names of the NVIDIA GPUs the driver reports (all of them, not only visible ones)."""
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in out.splitlines() if line.strip())


def visible_gpu_ids() -> list[str]:
    """The GPU ids this process may hand out, honouring ``CUDA_VISIBLE_DEVICES``."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in (x.strip() for x in env.split(",")) if g and g != "-1"]
    return [str(i) for i in range(len(gpu_models()))]


@functools.cache
def git_commit() -> str | None:
    here = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def describe_environment() -> dict[str, object]:
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    models = gpu_models()
    if gpus is not None:
        ids = [int(g) for g in gpus.split(",") if g.strip().isdigit()]
        models = tuple(models[i] for i in ids if i < len(models))
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": list(models),
        "packages": package_versions(),
        "git_commit": git_commit(),
    }
