"""The machine a job runs on: its GPUs, and what a row was measured with (library
versions, CPU and GPU model, git commit; through NVML where ``nvidia-ml-py`` is
installed, each GPU's memory and the driver and CUDA versions; host RAM, the cores the
job could use, thread settings and whether deterministic ops were asked for). Which
libraries count comes from the families of the loaded contenders."""

from __future__ import annotations

import contextlib
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


@functools.cache
def nvml_details() -> tuple[dict, str | None, str | None]:
    """Per GPU (all of them, by index) its name and memory, and the driver and CUDA
    versions, read through NVML (``nvidia-ml-py``, optional); nothing where it or a
    driver is missing."""
    try:
        import pynvml
    except ImportError:
        return (), None, None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU: NVML raises its own error classes
        return (), None, None
    try:
        def text(value) -> str:
            return value.decode() if isinstance(value, bytes) else str(value)

        driver = text(pynvml.nvmlSystemGetDriverVersion())
        cuda_int = pynvml.nvmlSystemGetCudaDriverVersion()
        cuda = f"{cuda_int // 1000}.{cuda_int % 1000 // 10}"
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            gpus.append({"name": text(pynvml.nvmlDeviceGetName(handle)),
                         "memory_mb": pynvml.nvmlDeviceGetMemoryInfo(handle).total // 2**20})
        return tuple(gpus), driver, cuda
    except Exception:
        return (), None, None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


#: set, any of these makes the frameworks choose deterministic kernels
_DETERMINISM = ("TF_DETERMINISTIC_OPS", "HARNESS_DETERMINISTIC")
_THREADS = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS")


def host_facts() -> dict[str, object]:
    """Host RAM, the cores this process may use, deterministic ops, thread settings."""
    import psutil

    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count()
    threads = {k: os.environ[k] for k in _THREADS if os.environ.get(k)}
    return {
        "host_ram_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "cpus_available": cpus,
        "deterministic": any(os.environ.get(k, "").lower() in ("1", "true", "yes")
                             for k in _DETERMINISM),
        "threads": ", ".join(f"{k}={v}" for k, v in threads.items()) or f"default ({cpus})",
    }


def describe_environment() -> dict[str, object]:
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    models = gpu_models()
    if gpus is not None:
        ids = [int(g) for g in gpus.split(",") if g.strip().isdigit()]
        models = tuple(models[i] for i in ids if i < len(models))
    details, driver, cuda = nvml_details()
    if gpus is not None and details:
        ids = [int(g) for g in gpus.split(",") if g.strip().isdigit()]
        details = tuple(details[i] for i in ids if i < len(details))
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": list(models),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "gpu_details": list(details),
        "gpu_driver": driver,
        "cuda": cuda,
        **host_facts(),
    }
