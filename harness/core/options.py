"""The option table: every run option once, with its flag, suite key, parser and bounds.

``RunConfig`` (:mod:`harness.core.config`) takes its fields from this table, the
``harness run`` and ``harness suite run`` options are generated from it, and the
suite reader validates its keys with it. Adding a run option is one :class:`Option`
in :data:`OPTIONS`.

A parser turns what the user wrote (text on the command line, a YAML value in a
suite) into the value, or raises :class:`HarnessError` naming the option and the fix.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.budget import parse_duration
from harness.core.errors import HarnessError

DEFAULT_STORE = "sqlite:///results/harness.sqlite"
MAX_SIZE = 2**60  # an exbibyte: beyond it a size is a typo

_SIZE_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20,
               "mib": 2**20, "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40,
               "tib": 2**40}


#: the least memory a job may be capped at: a worker's Python process with NumPy takes
#: about 100 MiB before its contender does anything
MIN_MEMORY_BYTES = 128 * 2**20


def _mib(size: float) -> str:
    return f"{size / 2**20:.0f} MiB"


def parse_size(text: str, what: str = "size") -> int:
    """Bytes in ``512M``, ``8G``, ``1.5GiB`` (binary units) or a bare number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    size = float(match.group(1)) * _SIZE_UNITS[unit] if match and unit in _SIZE_UNITS else 0
    if not 0 < size <= MAX_SIZE:  # 400 nines are inf: refused here, not an OverflowError
        shown = text if len(str(text)) <= 40 else f"{str(text)[:37]}..."
        raise HarnessError(f"invalid {what} {shown!r}: use a positive size like 512M or 8G "
                           "(at most 1 EiB)")
    return int(size)


# -- kinds of value: how each is read and checked ---------------------------------------
# Each kind reads a value given as text (CLI) or as YAML (suite); ``what`` names the
# option the way the user wrote it (``--grace`` or ``grace``).


def _integer(value: Any, what: str, low: float) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise HarnessError(f"{what} must be an integer of at least {low:g}, not {value!r}")
    return value


def _number(value: Any, what: str, low: float) -> float:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if (isinstance(value, bool) or not isinstance(value, int | float) or not
            math.isfinite(value) or value < low):
        raise HarnessError(f"{what} must be a number of at least {low:g}, not {value!r}")
    return float(value)


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise HarnessError(f"{what} must be a text value")
    return str(value)


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise HarnessError(f"{what} must be true or false, not {value!r}")
    return value


def _choices(value: Any, what: str, choices: tuple[str, ...]) -> tuple[str, ...]:
    """A comma list (or a YAML list) of ``choices``, in the order given, each once."""
    items = value if isinstance(value, list | tuple) else _text(value, what).split(",")
    out: list[str] = []
    for item in items:
        text = _text(item, what).strip() if not isinstance(item, str) else item.strip()
        if text not in choices:
            raise HarnessError(f"{what} takes {', '.join(choices)} or a comma list of them, "
                               f"not {text!r}")
        if text not in out:
            out.append(text)
    if not out:
        raise HarnessError(f"{what} needs at least one of {', '.join(choices)}")
    return tuple(out)


def parse_prices(value: Any, what: str = "--price") -> dict[str, float]:
    """``gpu=2.5,cpu=0.05`` (or a suite's mapping): money per GPU-hour and per CPU-hour."""
    if isinstance(value, str):
        pairs = [p.partition("=") for p in value.split(",") if p.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise HarnessError(f"{what} takes gpu=PRICE,cpu=PRICE (per hour), not {value!r}")
        value = {k.strip().lower(): v.strip() for k, _, v in pairs}
    if not isinstance(value, dict) or not value:
        raise HarnessError(f"{what} takes gpu=PRICE,cpu=PRICE (per hour), not {value!r}")
    out = {}
    for key, price in value.items():
        if key not in ("gpu", "cpu"):
            raise HarnessError(f"{what}: unknown resource {key!r}; use gpu= and cpu=")
        out[key] = _number(price, f"{what} {key}", 0)
    return out


def plain_value(value: Any, what: str) -> Any:
    """``value`` (read from YAML), refused when it contains itself (``&a [*a]``): a
    value that never ends cannot be a parameter, hashed into a job key or stored."""
    open_: set[int] = set()  # the containers on the path being walked
    done: set[int] = set()  # containers already found finite (shared aliases: once)

    def walk(v: Any) -> None:
        if isinstance(v, list | tuple | dict) and id(v) not in done:
            if id(v) in open_:
                raise HarnessError(f"{what} contains itself (a YAML alias inside its own "
                                   "anchor, like &a [*a]): write the value out")
            open_.add(id(v))
            for item in (v.items() if isinstance(v, dict) else v):
                walk(item)
            open_.discard(id(v))
            if not isinstance(v, tuple):  # a dict's (key, value) pairs are made anew
                done.add(id(v))

    try:
        walk(value)
    except RecursionError:
        raise HarnessError(f"{what} is nested too deeply: write a flatter value") from None
    return value


KINDS = ("int", "float", "duration", "size", "path", "text", "flag", "choice", "choices",
         "prices")


@dataclass(frozen=True)
class Option:
    """One run option.

    ``field``: the ``RunConfig`` field. ``flag``: the command-line flag (``--grace``).
    ``suite``: the key in a suite file, or ``None`` where suites do not take it.
    ``scope``: ``job`` options change what a job is (a suite's benchmark may set them),
    ``run`` options how the jobs run (set once per suite), ``cli`` options exist on the
    command line only. ``override``: ``harness suite run`` takes the flag too, over the
    suite file's value. ``kind`` and ``low``/``choices``: how a value is read and its
    bounds. ``default``: the value when none is given (as text where the kind parses
    text, so the help shows what a user would type).
    """

    field: str
    flag: str
    help: str
    kind: str = "text"
    default: Any = None
    suite: str | None = None
    scope: str = "run"
    override: bool = False
    low: float = 0
    choices: tuple[str, ...] = ()
    #: where ``harness suite run`` also reads the override from (a CI secret, say)
    envvar: str | None = None

    def parse(self, value: Any, what: str | None = None) -> Any:
        """The value of this option from ``value`` (text or YAML); ``None`` stays ``None``."""
        what = what or self.flag
        if value is None:
            return None
        if self.kind == "int":
            return _integer(value, what, self.low)
        if self.kind == "float":
            return _number(value, what, self.low)
        if self.kind == "duration":
            return parse_duration(_text(value, what), what)
        if self.kind == "size":
            size = parse_size(_text(value, what), what)
            if size < self.low:
                raise HarnessError(f"invalid {what} {value!r}: below the {_mib(self.low)} a "
                                   "job's Python process needs to start; use at least "
                                   f"{_mib(self.low).replace(' MiB', 'M')}")
            return size
        if self.kind == "path":
            return Path(_text(value, what))
        if self.kind == "flag":
            return _flag(value, what)
        if self.kind == "prices":
            return parse_prices(value, what)
        if self.kind == "choice":
            text = _text(value, what)
            if text not in self.choices:
                raise HarnessError(f"{what} must be one of {', '.join(self.choices)}, "
                                   f"not {text!r}")
            return text
        if self.kind == "choices":
            return _choices(value, what, self.choices)
        return _text(value, what)

    @property
    def value_default(self) -> Any:
        """The default as a ``RunConfig`` value (parsed where it is written as text)."""
        if self.default is None or self.kind in ("flag", "int", "float", "choice"):
            return self.default
        return self.parse(self.default)


OPTIONS: tuple[Option, ...] = (
    Option("folds", "--folds", "Stratified K-fold on train (1: one held-out validation part).",
           "int", 1, suite="folds", scope="job", low=1),
    Option("seeds", "--seeds", "Repeat every job with this many seeds (0, 1, ...).",
           "int", 1, suite="seeds", scope="job", low=1),
    Option("max_train_per_class", "--max-train-per-class",
           "Cap training images per class, for quick runs.", "int", None,
           suite="max_train_per_class", scope="job", low=2),
    Option("image_size", "--image-size",
           "Decode every image to N x N pixels (centre-cropped) instead of the working "
           "size (the images' own, the short side capped at 224 px).", "int", None,
           suite="image_size", scope="job", low=8),
    Option("keras_backends", "--keras-backend",
           "Keras 3 backend of the Keras contenders: jax, tensorflow, torch, or a comma "
           "list (one job per backend, the same model compared across them). auto: the "
           "first installed of tensorflow, jax, torch on the CPU (the fastest measured "
           "there), of jax, torch, tensorflow with GPUs.",
           "choices", "auto", suite="keras_backend", scope="job",
           choices=("auto", "jax", "tensorflow", "torch")),
    Option("store_url", "--store", "SQLAlchemy URL of the results store.", "text",
           DEFAULT_STORE, suite="store", override=True, envvar="HARNESS_STORE"),
    Option("runs_dir", "--runs-dir", "Per-job artifacts go to RUNS_DIR/<job-key>/.", "path",
           "results/runs", suite="runs_dir", override=True),
    Option("leaderboard_dir", "--leaderboard-dir",
           "Where <dataset>.md and <dataset>.csv are written.", "path", "leaderboards",
           suite="leaderboard_dir", override=True),
    Option("grace_seconds", "--grace",
           "Hard limit constant: the worker is killed at budget x grace-factor + grace.",
           "duration", "30s", suite="grace"),
    Option("grace_factor", "--grace-factor", "Hard limit factor on the budget.", "float",
           1.25, suite="grace_factor", low=1.0),
    Option("setup_cap_seconds", "--setup-cap",
           "Time allowed for imports, data and weight loading.", "duration", "15m",
           suite="setup_cap"),
    Option("eval_cap_seconds", "--eval-cap", "Time allowed for scoring and latency "
           "measurement.", "duration", "10m", suite="eval_cap"),
    Option("parallel", "--parallel",
           "Jobs at once when --gpus 0 (with GPUs: one job per GPU group).", "int", 1,
           suite="parallel", low=1),
    Option("max_memory_bytes", "--max-memory",
           "Kill a job whose processes use more memory than this (8G) and record oom.",
           "size", None, suite="max_memory", low=MIN_MEMORY_BYTES),
    Option("max_artifact_bytes", "--max-artifacts",
           "Kill a job that writes more than this to its job folder, and remove what it "
           "wrote.", "size", "20G", suite="max_artifacts"),
    Option("data_dir", "--data-dir",
           "Dataset folder (files you already have; the cache) instead of $HARNESS_DATA.",
           "path", None, suite="data_dir"),
    Option("weights_dir", "--weights-dir", "Folder holding pretrained weights files.",
           "path", None, suite="weights_dir"),
    Option("keep_models", "--keep-models", "Keep every fitted model in its job folder "
           "(without it, each table's leader only: `harness export-model`).",
           "flag", False, suite="keep_models"),
    Option("rerun", "--rerun", "Run jobs again even when the store has them.", "flag", False,
           scope="cli", override=True),
    Option("executor", "--executor",
           "local: worker processes here; ray: one Ray task per job.", "choice", "local",
           scope="cli", override=True, choices=("local", "ray")),
    Option("ray_address", "--address",
           "Ray cluster address (ray://HOST:10001 or HOST:6379); default: a local Ray, no "
           "cluster needed.", "text", None, scope="cli", override=True),
    Option("prices", "--price", "Money per GPU-hour and per CPU-hour, for the cost "
           "columns of the budget pages: gpu=2.5,cpu=0.05.", "prices", None, suite="prices",
           override=True),
    Option("cpus_per_job", "--cpus-per-job", "CPUs a Ray task asks for (its GPUs: --gpus).",
           "float", 1.0, scope="cli", override=True),
)

BY_FIELD = {o.field: o for o in OPTIONS}
BY_SUITE_KEY = {o.suite: o for o in OPTIONS if o.suite}
