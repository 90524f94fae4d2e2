"""Where a Keras model trains: the family, its backends, GPUs, precision and distribution.

The family (:data:`KERAS`) declares what every Keras contender needs and how its
failures look; :func:`runtime` sets the dtype policy and the distribution for the GPUs
a job was given and says what it set (:class:`Runtime`, recorded in the row).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.contenders import Family, Probe

if TYPE_CHECKING:
    import keras


def _is_oom(exc: BaseException) -> bool:
    """Out of memory on any backend: TensorFlow's ``ResourceExhaustedError``, XLA's
    ``RESOURCE_EXHAUSTED``, torch's ``OutOfMemoryError``."""
    text = f"{type(exc).__name__} {exc}".lower()
    return any(mark in text for mark in ("resourceexhausted", "resource_exhausted",
                                         "oom when allocating", "out of memory",
                                         "outofmemoryerror"))


#: the Keras 3 backends a Keras contender can train on, in the order of preference
#: when none is asked for, on the CPU (measured on a 2-core CPU: keras-cnn6 trains at
#: 476 images/s on TensorFlow, 280 on PyTorch, 222 on JAX; see docs/contenders.md) and on GPUs
#: (where the ``gpu`` extra brings CUDA for JAX and torch, not for TensorFlow)
BACKENDS = ("tensorflow", "jax", "torch")
GPU_BACKENDS = ("jax", "torch", "tensorflow")
BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
#: what each backend's import is called, to see whether it is installed
BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
#: what to do when a backend sees none of the GPUs a job was given
GPU_FIX = {
    "tensorflow": "pip install 'tensorflow[and-cuda]', or --keras-backend jax",
    "jax": "pip install 'harness[gpu]' (JAX with its CUDA wheels), or --keras-backend torch",
    "torch": "pip install 'harness[gpu]' (torch with its CUDA wheels), or --keras-backend jax",
}


def backend() -> str:
    import keras

    return keras.backend.backend()


def visible_gpus(name: str | None = None) -> int:
    """How many GPUs the backend ``name`` (default: Keras' own) sees in this process."""
    name = name or backend()
    if name == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if name == "jax":
        import jax

        try:
            return len(jax.devices("gpu"))
        except RuntimeError:  # no GPU platform: jax says so by raising
            return 0
    if name == "torch":
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    raise ValueError(f"unknown Keras backend {name!r}")


def _check_gpus(granted: int) -> str | None:
    """The GPU guard: ``None`` where Keras' backend sees exactly the ``granted`` GPUs."""
    name = backend()
    seen = visible_gpus(name)
    if seen == granted:
        return None
    shown = BACKEND_NAMES[name]
    if seen == 0:
        return (f"{shown} sees no GPU but the job was given {granted}: {GPU_FIX[name]}; "
                "or --gpus 0 to train on the CPU")
    return (f"{shown} sees {seen} GPUs but the job was given {granted}: "
            "CUDA_VISIBLE_DEVICES is overridden somewhere; unset it and let the harness "
            "assign GPUs")


def _gpu_peak_mb() -> float | None:
    """The peak GPU memory of whichever backend this process trained on."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and tf.config.list_logical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    jax = sys.modules.get("jax")
    if jax is not None:
        try:
            stats = [d.memory_stats() or {} for d in jax.devices("gpu")]
        except RuntimeError:
            stats = []
        peaks = [s.get("peak_bytes_in_use", 0) for s in stats]
        if peaks:
            return max(peaks) / 2**20
    return None  # torch: the AutoMM family reads torch's own peak


def _backend_probe(name: str) -> Probe:
    return Probe(
        f"Keras on {BACKEND_NAMES[name]}", BACKEND_MODULES[name],
        f"import os; os.environ['KERAS_BACKEND'] = {name!r}; "
        "os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3'); import keras; "
        "from baselines.keras.family import visible_gpus; "
        f"n = visible_gpus({name!r}); "
        f"print('keras', keras.__version__, 'on {name}: sees', n, 'GPU' + 's' * (n != 1))",
        f"pip install --force-reinstall 'harness[keras]' ({GPU_FIX[name]} for its GPUs)")


#: the Keras family: what every Keras contender needs and how its failures look
KERAS = Family(
    "keras",
    extra="keras",
    modules=("keras",),
    packages=("keras", "tensorflow", "jax", "jaxlib", "torch", "keras-tuner", "optuna"),
    # set in the worker before Keras is first imported; the job's backend overrides
    # KERAS_BACKEND. Neither TensorFlow nor JAX takes the whole GPU's memory up front:
    # the peak then says what the model needed.
    environment=(("KERAS_BACKEND", BACKENDS[0]), ("TF_CPP_MIN_LOG_LEVEL", "2"),
                 ("TF_FORCE_GPU_ALLOW_GROWTH", "true"),
                 ("XLA_PYTHON_CLIENT_PREALLOCATE", "false")),
    backend_variable="KERAS_BACKEND",
    backends=BACKENDS,
    gpu_backends=GPU_BACKENDS,
    backend_modules=BACKEND_MODULES,
    probes=tuple(_backend_probe(name) for name in ("tensorflow", "jax", "torch")),
    is_oom=_is_oom,
    gpu_peak_mb=_gpu_peak_mb,
    check_gpus=_check_gpus,
)


def import_keras(seed: int):
    """Import Keras (its backend is set by the worker, from the job), seeded."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras



PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def _bfloat16_gpu(name: str) -> bool:
    """Whether the first GPU computes in bfloat16 at speed (compute capability 8.0+)."""
    try:
        if name == "tensorflow":
            import tensorflow as tf

            gpu = tf.config.list_physical_devices("GPU")[0]
            major = tf.config.experimental.get_device_details(gpu)["compute_capability"][0]
        elif name == "jax":
            import jax

            major = int(str(jax.devices("gpu")[0].compute_capability).split(".")[0])
        else:
            import torch

            major = torch.cuda.get_device_capability(0)[0]
    except Exception:
        return False
    return major >= 8


@dataclass(frozen=True)
class Runtime:
    """Where and how a Keras model trains: backend, GPUs used, precision, distribution.

    Made by :func:`runtime` before the model is built; ``scope()`` wraps building and
    compiling (a mirrored strategy on TensorFlow; JAX's data parallelism is global).
    """

    backend: str
    gpus: int  # granted
    gpus_used: int
    precision: str  # the Keras dtype policy: float32 | mixed_float16 | mixed_bfloat16
    distribution: str  # none | data-parallel (JAX) | mirrored (TensorFlow)
    note: str = ""
    strategy: Any = None

    def scope(self):
        import contextlib

        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self, model: keras.Model | None = None) -> dict[str, Any]:
        jit = bool(getattr(model, "jit_compile", False)) if model is not None else None
        return {
            "backend": self.backend,
            "gpus_used": self.gpus_used,
            "precision": self.precision,
            "compiler": None if jit is None else (
                ("torch.compile" if self.backend == "torch" else "xla") if jit else "off"),
            "distribution": self.distribution,
        }


def runtime(keras, gpus: int, precision: str = "auto") -> Runtime:
    """Set Keras' dtype policy and distribution for ``gpus`` GPUs; say what was set.

    ``precision="auto"``: float32 on the CPU, mixed bfloat16 on GPUs that have it
    (Ampere and later), mixed float16 on older ones.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    name = keras.backend.backend()
    if precision == "auto":
        precision = ("mixed_bfloat16" if _bfloat16_gpu(name) else "mixed_float16") if gpus \
            else "float32"
    keras.mixed_precision.set_global_policy(precision)
    if name == "torch" and not gpus:
        import os

        import torch

        # One core stays free, as for AutoMM: torch's OpenMP threads that wait for a
        # busy core make a step many times slower (measured on 2 cores: keras-shallow
        # 5.8 ms a step on one thread, 58 ms on two while another process ran)
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - 1))
    if gpus <= 1:
        return Runtime(name, gpus, gpus, precision, "none")
    if name == "jax":
        devices = keras.distribution.list_devices("gpu")[:gpus]
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return Runtime(name, gpus, len(devices), precision, "data-parallel")
    if name == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        return Runtime(name, gpus, strategy.num_replicas_in_sync, precision, "mirrored",
                       strategy=strategy)
    return Runtime(name, gpus, 1, precision, "none",
                   note=f"trained on 1 of the {gpus} GPUs granted: Keras on PyTorch has no "
                        "multi-GPU training; --keras-backend jax uses them all")

