"""``harness weights``: which pretrained files the contenders need, which are here, and
``harness weights fetch`` to download them into the folder a run reads.

``@default`` stands for every pretrained contender the default lineup can pick (on a
CPU or with GPUs, short budgets or long), so that one command readies a machine for it.
``--print`` downloads nothing: it lists each file's URL and the path it goes to, for a
machine with no network (fetch there, copy here).
"""

from __future__ import annotations

from pathlib import Path

from harness.cli.console import out
from harness.core.errors import HarnessError

#: the data profiles @default is expanded over: it picks pretrained contenders by
#: budget and GPUs, and a machine being readied may run any of them
_PROFILES = (((8, 8, 1), 10, 60.0, 0), ((32, 32, 3), 10, 3600.0, 0),
             ((32, 32, 3), 10, 3600.0, 1), ((64, 64, 3), 200, 7200.0, 1))


def pretrained(pattern: str | None) -> list[str]:
    """The pretrained contenders of a comma list of names, wildcards and @lineups."""
    from harness.contenders import get, list_contenders
    from harness.contenders.lineups import Profile, default_lineup, select

    if not pattern:
        names = list_contenders("all")
    else:
        names = []
        for part in (p.strip() for p in pattern.split(",") if p.strip()):
            if part == "@default":
                names += [pick.name for shape, classes, budget, gpus in _PROFILES
                          for pick in default_lineup(Profile(shape, classes, budget, gpus))]
            else:
                names += [pick.name for pick in select(part)]
    chosen = [n for n in dict.fromkeys(names) if get(n).pretrained]
    if not chosen:
        raise HarnessError(f"no pretrained contender in {pattern!r}: `harness weights` lists "
                           "them")
    return chosen


def files(pattern: str | None, weights_dir: Path | None, gpus: bool = True):
    """Every weights file those contenders need, on the CPU and (``gpus``) with a GPU."""
    from dataclasses import replace

    from harness.cli.commands import weights_context
    from harness.contenders import get

    context = weights_context(weights_dir)
    contexts = [context, replace(context, gpu_ids=("0",))] if gpus else [context]
    found: dict[tuple[str, str], tuple] = {}
    for name in pretrained(pattern):
        cls = get(name)
        if cls.unavailable() is not None:
            continue
        for c in contexts:
            for f in cls.weights_files(c):
                _, users = found.setdefault((f.name, str(f.target)), (f, []))
                if name not in users:
                    users.append(name)
    return list(found.values()), context


def weights_command(weights_dir: Path | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    got, context = files(None, weights_dir)
    t = Table(title="Pretrained weights (`harness weights fetch NAMES` downloads them)",
              title_justify="left")
    for col in ("contender", "file", "here", "where"):
        t.add_column(col, overflow="fold")
    for f, users in got:
        t.add_row(escape(", ".join(users)), escape(f.name), "yes" if f.present else "no",
                  escape(str(f.target)))
    out.print(t)
    missing = sum(not f.present for f, _ in got)
    out.print(f"{len(got) - missing} of {len(got)} here"
              + (f"; offline: {context.why_offline}" if context.offline and missing else ""),
              markup=False)


def fetch_command(pattern: str | None, weights_dir: Path | None, print_only: bool,
                  mirror: str | None) -> None:
    got, _ = files(pattern or "@default", weights_dir)
    if print_only:  # one line a file: URL -> path, for a script or a person
        for f, users in got:
            state = "here" if f.present else "missing"
            out.print(f"{f.url} -> {f.target} ({state}; {', '.join(users)})"
                      + (f"; {f.note}" if f.note else ""), markup=False, soft_wrap=True)
        return
    failed = []
    for f, users in got:
        if f.present:
            out.print(f"{f.name} is here: {f.target}", markup=False)
            continue
        try:
            path = f.fetch(mirror)
        except HarnessError as exc:
            failed.append(str(exc))
            continue
        out.print(f"{f.name} -> {path} (for {', '.join(users)})", markup=False)
    if failed:
        raise HarnessError(f"{len(failed)} of {len(got)} not fetched: " + "; ".join(failed)
                           + " (`harness weights fetch --print` lists each URL and where "
                           "it goes, to fetch on another machine)")
