"""The registry that names contenders: register, query with wildcards, create.

Contenders come from three places, loaded once on first use:

- the built-in ``baselines`` package;
- installed plugins: modules named by the ``harness.contenders`` entry point group
  (``[project.entry-points."harness.contenders"] mine = "my_package.contenders"``);
- ``HARNESS_PLUGINS``: a comma list of importable modules, for code that is not
  installed (the tests' fault contenders).

Importing a plugin module registers its contenders (and their families).
"""

from __future__ import annotations

import fnmatch
import importlib
import os
from importlib import metadata
from typing import Any

from harness.contenders.contract import Contender
from harness.contenders.family import register_family
from harness.core.errors import HarnessError

BUILTIN = "baselines"
ENTRY_POINTS = "harness.contenders"
PLUGINS_ENV = "HARNESS_PLUGINS"

_REGISTRY: dict[str, type[Contender]] = {}
_LOADED = False


def register(name: str):
    """Class decorator: make a :class:`Contender` subclass known as ``name``."""

    def wrap(cls: type[Contender]) -> type[Contender]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise HarnessError(f"contender {name!r} is registered twice")
        cls.name = name
        register_family(cls.framework)
        _REGISTRY[name] = cls
        return cls

    return wrap


def plugin_modules() -> list[str]:
    """The modules that register contenders: built-in, entry points, ``HARNESS_PLUGINS``."""
    names = [BUILTIN]
    for ep in metadata.entry_points(group=ENTRY_POINTS):
        names.append(ep.value.partition(":")[0].strip())
    names += [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    return list(dict.fromkeys(names))


def load_plugins() -> None:
    """Import every plugin module once; a missing one is an error naming where it came from."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for module in plugin_modules():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise HarnessError(
                f"cannot import contender plugin {module!r} ({exc}); check the module "
                f"name in {PLUGINS_ENV} or the {ENTRY_POINTS!r} entry point, and PYTHONPATH"
            ) from exc


def get(name: str) -> type[Contender]:
    load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise HarnessError(
            f"unknown contender {name!r}; `harness contenders` lists them"
        ) from None


def family_of(name: str) -> str:
    """The family a contender's rows carry; ``unknown`` for a name no longer registered."""
    try:
        return get(name).family
    except HarnessError:
        return "unknown"


def list_contenders(pattern: str = "*") -> list[str]:
    """Registered names matching a comma list of names or wildcards (``keras-*``)."""
    load_plugins()
    parts = [p.strip() for p in pattern.split(",") if p.strip()]
    if not parts:
        raise HarnessError(f"unknown contender {pattern!r}: name one, or a wildcard "
                           "('keras-*', 'all'); `harness contenders` lists them")
    names: list[str] = []
    for part in parts:
        if part in ("all", "*"):
            hits = sorted(_REGISTRY)
        elif any(c in part for c in "*?["):
            hits = sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, part))
        else:
            hits = [part] if part in _REGISTRY else []
        if not hits:
            raise HarnessError(
                f"unknown contender {part!r}; `harness contenders` lists them"
            )
        names += [h for h in hits if h not in names]
    return names


def parse_param(text: str, contenders: list[str] | tuple[str, ...]) -> tuple[str, str, Any]:
    """``CONTENDER.KEY=VALUE`` (``--param``) as ``(contender, key, value)``; the value is
    read as a YAML scalar, as a suite file's ``params`` are (``0.1``, ``true``, ``[32, 64]``).
    """
    import yaml

    target, eq, raw = text.partition("=")
    name, dot, key = target.strip().partition(".")
    if not (eq and dot and name and key.strip()):
        raise HarnessError(f"--param {text!r}: write CONTENDER.KEY=VALUE, e.g. "
                           "keras-shallow.dropout=0.2")
    key = key.strip()
    if name not in contenders:
        raise HarnessError(f"--param {text!r}: {name!r} is not a contender of this run "
                           f"({', '.join(contenders)})")
    known = get(name).defaults
    if key not in known:
        raise HarnessError(f"--param {text!r}: {name} has no parameter {key!r}; known: "
                           f"{', '.join(sorted(known)) or 'none'}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise HarnessError(f"--param {text!r}: {raw!r} is not a YAML value") from None
    return name, key, value


def create(name: str, seed: int = 0, **params: Any) -> Contender:
    """Instantiate ``name``; ``None`` keywords are dropped so each keeps its own defaults."""
    return get(name)(seed=seed, **{k: v for k, v in params.items() if v is not None})
