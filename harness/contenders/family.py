"""Families: what a framework brings, declared once by the contenders that use it.

A family (sklearn, keras, automm) names its extra, the modules it needs, the
packages worth recording in every row, the checks ``harness doctor`` runs for it, how
to tell its out-of-memory errors, and how to read its GPU memory peak. The core loops
over the registered families and knows no framework by name.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Probe:
    """A ``harness doctor`` check: ``code`` runs in a fresh interpreter, prints one line.

    It passes when ``code`` exits 0; otherwise the line shows the error and ``fix``.
    ``needs`` is the module that must be importable for the probe to be worth running.
    """

    name: str
    needs: str
    code: str
    fix: str


def _never(exc: BaseException) -> bool:
    return False


def _nothing() -> float | None:
    return None


def _no_gpu_check(granted: int) -> str | None:
    return None


@dataclass(frozen=True)
class Family:
    """One framework's knowledge; contenders point at theirs with ``framework = ...``."""

    name: str
    #: ``pip install 'harness[EXTRA]'`` provides the modules (None: the core has them)
    extra: str | None = None
    #: importable modules every contender of the family needs
    modules: tuple[str, ...] = ()
    #: distributions whose versions each row records
    packages: tuple[str, ...] = ()
    #: environment variables set in the worker before the family's modules are imported
    environment: tuple[tuple[str, str], ...] = ()
    probes: tuple[Probe, ...] = ()
    #: whether an exception from the framework means it ran out of memory
    is_oom: Callable[[BaseException], bool] = field(default=_never, compare=False)
    #: the peak GPU memory of this process in MiB, where the framework has used a GPU
    gpu_peak_mb: Callable[[], float | None] = field(default=_nothing, compare=False)
    #: the GPU guard, run in the worker before the clock starts: ``None`` where the
    #: framework sees exactly the granted GPUs, else the message naming the fix
    check_gpus: Callable[[int], str | None] = field(default=_no_gpu_check, compare=False)
    #: whether the family's models train on GPUs at all (scikit-learn's do not)
    uses_gpus: bool = True
    #: where the family trains on one of several backends (Keras 3): the environment
    #: variable that picks it, the backends in order of preference, and the module each
    #: needs. A job names its backend; ``None`` for families without a choice.
    backend_variable: str | None = None
    backends: tuple[str, ...] = ()
    #: the order of preference for jobs given GPUs (default: ``backends``')
    gpu_backends: tuple[str, ...] = ()
    backend_modules: dict[str, str] = field(default_factory=dict, compare=False)

    def installed_backends(self, gpus: int = 0) -> tuple[str, ...]:
        """The backends whose module can be imported here, in order of preference
        (for jobs with ``gpus``: the GPU order)."""
        order = (self.gpu_backends or self.backends) if gpus else self.backends
        return tuple(b for b in order
                     if not self.missing((self.backend_modules.get(b, b),)))

    def missing(self, extra_modules: tuple[str, ...] = ()) -> list[str]:
        """Modules of ``modules + extra_modules`` that cannot be imported here."""
        out = []
        for m in (*self.modules, *extra_modules):
            try:
                found = importlib.util.find_spec(m) is not None
            except (ImportError, ValueError):
                found = False
            if not found and m not in out:
                out.append(m)
        return out


#: the core's own family: what every row is measured with
CORE = Family("core", packages=("harness", "numpy", "scikit-learn"))

_FAMILIES: dict[str, Family] = {CORE.name: CORE}


def register_family(family: Family) -> Family:
    """Make ``family`` known (idempotent for the same declaration)."""
    _FAMILIES.setdefault(family.name, family)
    return _FAMILIES[family.name]


def families() -> list[Family]:
    """Every family the loaded contenders declared, the core's first."""
    return list(_FAMILIES.values())


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether any family recognises ``exc`` as its framework running out of memory."""
    return any(f.is_oom(exc) for f in _FAMILIES.values())
