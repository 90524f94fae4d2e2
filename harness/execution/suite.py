"""Suite files: a benchmark described once, as datasets × contenders × budgets × GPUs.

A suite is YAML. Its top level holds the matrix (and run options); ``benchmarks:``
optionally lists several matrices, each inheriting what the top level sets::

    name: nightly
    store: ${HARNESS_STORE}          # expanded from the environment: no secret in the file
    contenders: [keras-shallow, sklearn-logreg]
    budgets: [60s, 5m]
    seeds: 3
    benchmarks:
      - datasets: [digits]
        max_train_per_class: 50
      - datasets: [cifar10]
        gpus: [1]

Every problem is one line naming the file and the line (YAML's node marks), so a
scheduler's log says exactly what to fix. Which keys a suite takes, and how each is
read, comes from the option table (:mod:`harness.core.options`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.budget import parse_budgets
from harness.core.config import RunConfig
from harness.core.errors import HarnessError
from harness.core.options import OPTIONS, Option, plain_value

if TYPE_CHECKING:
    import yaml

# the option table's suite keys: job options may differ per benchmark, run options not
JOB_OPTIONS = {o.suite: o for o in OPTIONS if o.suite and o.scope == "job"}
RUN_OPTIONS = {o.suite: o for o in OPTIONS if o.suite and o.scope == "run"}
# the matrix: what a job is made of
MATRIX_KEYS = ("datasets", "contenders", "budgets", "gpus", *JOB_OPTIONS, "params")
ALIASES = {"dataset": "datasets", "budget": "budgets", "contender": "contenders"}
# how the jobs run: the RunConfig fields that are the same for the whole suite
RUN_KEYS = tuple(RUN_OPTIONS)
TOP_KEYS = ("name", "benchmarks", *MATRIX_KEYS, *RUN_KEYS)
REQUIRED = ("datasets", "contenders", "budgets")


class SuiteError(HarnessError):
    """A problem in a suite file, located to its line."""


@dataclass(frozen=True)
class Benchmark:
    """One cell of the matrix: one dataset, budget and GPU count; its contenders."""

    dataset: str
    contenders: tuple[str, ...]
    budget_seconds: float
    gpus: int = 0
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the job options of the option table (folds, seeds, ...), by RunConfig field
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    benchmarks: tuple[Benchmark, ...]
    run_options: dict[str, Any] = field(default_factory=dict)  # RunConfig keywords

    def configs(self, **overrides: Any) -> list[RunConfig]:
        """One RunConfig per benchmark; ``overrides`` (None: keep) win over the file."""
        options = {**self.run_options, **{k: v for k, v in overrides.items() if v is not None}}
        return [
            RunConfig(dataset=b.dataset, contenders=b.contenders, budget_seconds=b.budget_seconds,
                      gpus=b.gpus, params=b.params, **b.options, **options)
            for b in self.benchmarks
        ]


# -- reading YAML with its lines --------------------------------------------------


class _Reader:
    """Turns YAML nodes into values, every error naming the node's line."""

    def __init__(self, path: Path) -> None:
        import yaml

        self.path = path
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node | None, message: str) -> SuiteError:
        line = f", line {node.start_mark.line + 1}" if node is not None else ""
        return SuiteError(f"suite {self.path}{line}: {message}")

    def value(self, node: yaml.Node) -> Any:
        import yaml

        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:  # a tag safe loading refuses (!!python/...): no code runs
            problem = getattr(exc, "problem", None) or str(exc)
            raise self.fail(node, f"not a plain YAML value ({' '.join(problem.split())}): "
                            "suites take plain values, without !!python tags") from None
        return self.guarded(node, plain_value, value, "this value")

    def mapping(self, node: yaml.Node, allowed: tuple[str, ...], what: str
                ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping of keys to values")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key = ALIASES.get(key, key) if key in ALIASES and ALIASES[key] in allowed else key
            if key not in allowed:
                raise self.fail(key_node, f"unknown key {key_node.value!r} in {what}; "
                                f"known: {', '.join(allowed)}")
            if key in out:
                raise self.fail(key_node, f"key {key!r} given twice in {what}")
            out[key] = (key_node, value_node)
        return out

    def items(self, node: yaml.Node) -> list[yaml.Node]:
        """A scalar or a list of scalars, as nodes (so each item keeps its line)."""
        import yaml

        if isinstance(node, yaml.SequenceNode):
            if not node.value:
                raise self.fail(node, "an empty list: give at least one value")
            for item in node.value:
                if not isinstance(item, yaml.ScalarNode):
                    raise self.fail(item, "expected a single value in this list")
            return list(node.value)
        if isinstance(node, yaml.ScalarNode):
            return [node]
        raise self.fail(node, "expected a value or a list of values")

    def integer(self, node: yaml.Node, key: str, low: int) -> int:
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(node, f"{key} must be an integer of at least {low}, "
                            f"not {node.value!r}")
        return value

    def option(self, node: yaml.Node, option: Option) -> Any:
        """The value of a table option, its text expanded from the environment."""
        value = self.value(node)
        if isinstance(value, str) and option.kind in ("text", "path"):
            value = _expand(value, node, self)
        if value is None:
            if option.default is None:
                return None  # an option that may be unset, unset here
            raise self.fail(node, f"{option.suite} needs a value (default: {option.default})")
        return self.guarded(node, option.parse, value, option.suite)

    def text(self, node: yaml.Node, key: str) -> str:
        value = self.value(node)
        if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
            raise self.fail(node, f"{key} must be a text value")
        return str(value)

    def guarded(self, node: yaml.Node, call, *args: Any) -> Any:
        """``call(*args)``, with a HarnessError it raises located at ``node``."""
        try:
            return call(*args)
        except HarnessError as exc:
            raise self.fail(node, str(exc)) from None


def _expand(text: str, node: yaml.Node, reader: _Reader) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise reader.fail(node, f"environment variable {name} is not set")
        return os.environ[name]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, text)


# -- the matrix ------------------------------------------------------------------


def _matrix(reader: _Reader, fields: dict[str, tuple[yaml.Node, yaml.Node]]) -> dict[str, Any]:
    from harness.contenders import list_contenders
    from harness.core.budget import parse_budget
    from harness.data.registry import get_spec

    out: dict[str, Any] = {}
    for key, (_, node) in fields.items():
        if key == "datasets":
            names = [reader.text(n, key) for n in reader.items(node)]
            for n, name in zip(reader.items(node), names, strict=True):
                reader.guarded(n, get_spec, name)
            out[key] = names
        elif key == "contenders":
            names: list[str] = []
            for n in reader.items(node):
                text = reader.text(n, key)
                # a lineup (@default) is chosen per cell, by its dataset, budget and GPUs
                found = ([reader.guarded(n, _lineup_name, text)] if text.startswith("@")
                         else reader.guarded(n, list_contenders, text))
                names += [c for c in found if c not in names]
            out[key] = tuple(names)
        elif key == "budgets":
            out[key] = [reader.guarded(n, parse_budget, reader.text(n, "budget"), "budget")
                        for n in reader.items(node)]
        elif key == "gpus":
            out[key] = [reader.integer(n, key, 0) for n in reader.items(node)]
        elif key in JOB_OPTIONS:
            out[key] = reader.option(node, JOB_OPTIONS[key])
        elif key == "params":
            params: dict[str, dict[str, Any]] = {}
            known = tuple(list_contenders("all"))
            for name, (name_node, value_node) in reader.mapping(node, known, "params").items():
                value = reader.value(value_node)
                if not isinstance(value, dict):
                    raise reader.fail(name_node, f"params of {name!r} must be a mapping")
                params[name] = value
            out[key] = params
    return out


def _lineup_name(text: str) -> str:
    from harness.contenders.lineups import LINEUPS

    if text not in LINEUPS:
        raise HarnessError(f"unknown lineup {text!r}; known: {', '.join(LINEUPS)}")
    return text


def _with_lineups(b: Benchmark) -> Benchmark:
    """The cell with its lineups replaced by their members for its data and budget."""
    if not any(c.startswith("@") for c in b.contenders):
        return b
    from harness.contenders.lineups import for_dataset

    picks = for_dataset(",".join(b.contenders), b.dataset, b.budget_seconds, b.gpus,
                        b.options.get("image_size"))
    return replace(b, contenders=tuple(p.name for p in picks))


def _run_options(reader: _Reader, fields: dict[str, tuple[yaml.Node, yaml.Node]]
                 ) -> dict[str, Any]:
    """The run options a suite sets, by RunConfig field."""
    return {RUN_OPTIONS[key].field: reader.option(node, RUN_OPTIONS[key])
            for key, (_, node) in fields.items()}


def load_suite(path: Path) -> Suite:
    """Read and validate a suite file; the first problem is a one-line SuiteError."""
    import yaml

    reader = _Reader(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"cannot read suite {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SuiteError(f"suite {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                         f"at offset {exc.start}): save it as UTF-8") from None
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # control characters are refused already here
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark else ""
        raise SuiteError(f"suite {path}{line}: not valid YAML: "
                         f"{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise SuiteError(f"suite {path}: not valid YAML: {reason}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        raise SuiteError(f"suite {path}: the file is empty; it needs at least "
                         f"{', '.join(REQUIRED)}")
    top = reader.mapping(root, TOP_KEYS, "the suite")
    name = reader.text(top["name"][1], "name") if "name" in top else path.stem
    shared = _matrix(reader, {k: v for k, v in top.items() if k in MATRIX_KEYS})
    options = _run_options(reader, {k: v for k, v in top.items() if k in RUN_KEYS})

    blocks: list[tuple[yaml.Node, dict[str, Any]]] = []
    if "benchmarks" in top:
        node = top["benchmarks"][1]
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise reader.fail(node, "benchmarks must be a list of mappings")
        for item in node.value:
            fields = reader.mapping(item, MATRIX_KEYS, "a benchmark")
            blocks.append((item, {**shared, **_matrix(reader, fields)}))
    else:
        blocks.append((root, shared))

    benchmarks: list[Benchmark] = []
    for node, m in blocks:
        missing = [k for k in REQUIRED if k not in m]
        if missing:
            raise reader.fail(node, f"missing {', '.join(missing)} "
                              "(here or at the top of the suite)")
        base = Benchmark(dataset="", contenders=m["contenders"], budget_seconds=0.0,
                         params=m.get("params", {}),
                         options={o.field: m[k] for k, o in JOB_OPTIONS.items() if k in m})
        benchmarks += [_with_lineups(replace(base, dataset=d, budget_seconds=b, gpus=g))
                       for d in m["datasets"] for b in parse_budgets(m["budgets"])
                       for g in m.get("gpus", [0])]
    # the same cell listed twice runs once
    return Suite(name=name, path=path, benchmarks=tuple(_freeze(benchmarks)),
                 run_options=options)


def _freeze(benchmarks: list[Benchmark]) -> list[Benchmark]:
    """Benchmarks are hashable by value except params: dedupe on their repr instead."""
    seen: dict[str, Benchmark] = {}
    for b in benchmarks:
        seen.setdefault(repr(b), b)
    return list(seen.values())
