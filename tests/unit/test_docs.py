"""The README and docs/ tell the truth: their commands, make targets and links.

Commands are read from the shell fences (```bash, ```sh, ```shell, ```console,
```crontab) and from inline code that starts with a command. Every ``harness``
subcommand named must exist (its ``--help`` is checked once) and take the options
written after it; the quick read-only ones (``harness datasets``, ``harness
contenders``, ``harness suite plan FILE``) run as written, in a scratch folder. Every
``make`` target must be in the Makefile, every ``python -m``/``python FILE`` must name a
file here, and every relative link and image must resolve (headings included).
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from harness.cli import cli
from tests.conftest import ROOT, run_cli

README = ROOT / "README.md"
PAGES = (README, *sorted((ROOT / "docs").glob("*.md")))
SHELL_FENCES = {"bash", "sh", "shell", "console", "crontab"}
#: read-only and quick (seconds): these run as written where the docs show them
#: with no placeholder; every other command is only checked against its --help
RUNNABLE = {("datasets",), ("contenders",), ("suite", "plan")}
MAX_README_LINES = 200
OWN_IMAGES_BY_LINE = 60


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # after the program: `harness suite plan X` -> (suite, plan, X)
    program: str  # harness, make or python
    where: str  # file:line

    def __str__(self) -> str:
        return f"{self.where}: {self.program} {shlex.join(self.words)}"


# -- reading markdown ----------------------------------------------------------------


def split_markdown(text: str) -> tuple[list[tuple[str, int, str]], list[tuple[int, str]]]:
    """(fence language, line number, line) of every fenced line; (line number, line) of
    the prose around them."""
    fenced, prose, lang = [], [], None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            lang = stripped[3:].strip().lower() if lang is None else None
            continue
        if lang is None:
            prose.append((number, line))
        else:
            fenced.append((lang, number, line))
    return fenced, prose


def code_spans(prose: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Inline code of the prose (a span may wrap onto the next line), with its line."""
    text = "\n".join(line for _, line in prose)
    starts = [number for number, line in prose for _ in range(len(line) + 1)]
    return [(starts[m.start()], " ".join(m.group(1).split()))
            for m in re.finditer(r"`([^`]+)`", text)]


def shell_words(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an apostrophe in a sentence, not a quote
        return line.split()


def commands_in(line: str, where: str) -> list[Command]:
    """The harness, make and python commands of one shell line (``a && b``, ``cd x && b``)."""
    found, segment = [], []
    for word in [*shell_words(line.split(" #")[0]), ";"]:
        if word and set(word) <= set("();<>|&"):
            if len(segment) > 1:  # a bare `make` or `harness` is a word in a sentence
                program = segment[0].rsplit("/", 1)[-1]
                if program in ("harness", "make", "python", "python3"):
                    found.append(Command(tuple(segment[1:]), program.rstrip("3"), where))
            segment = []
        else:
            segment.append(word)
    return found


def page_commands(path: Path, root: Path = ROOT) -> list[Command]:
    name = path.relative_to(root).as_posix()
    fenced, prose = split_markdown(path.read_text())
    found, held = [], ""
    for lang, number, line in fenced:
        if line.endswith("\\"):  # continued on the next line
            held += line[:-1]
            continue
        line, held = held + line, ""
        if lang == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if lang == "crontab":
            if line.lstrip().startswith("#"):
                continue
            line = " ".join(line.split()[5:])  # the five time fields
        if lang in SHELL_FENCES and not line.lstrip().startswith("#"):
            found += commands_in(line, f"{name}:{number}")
    for number, span in code_spans(prose):
        found += commands_in(span, f"{name}:{number}")
    return found


def all_commands(program: str) -> list[Command]:
    return [c for page in PAGES for c in page_commands(page) if c.program == program]


# -- what each check finds wrong --------------------------------------------------------


def resolve(words: tuple[str, ...]) -> tuple[tuple[str, ...], click.Command, list[str]]:
    """The subcommand path of ``harness WORDS``, its click command, and the problems."""
    path: list[str] = []
    command: click.Command = cli
    for word in words:
        if not isinstance(command, click.Group) or word.startswith("-"):
            break
        sub = command.get_command(click.Context(command), word)
        if sub is None:
            return tuple(path), command, [f"`harness {' '.join([*path, word])}` is no command"]
        path.append(word)
        command = sub
    return tuple(path), command, []


def option_names(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts, param.secondary_opts)
    return names


def flags(words: tuple[str, ...]) -> list[str]:
    """The options written in ``words`` (``[--store URL]`` included, values left out)."""
    bare = (w.strip("[]") for w in words)
    return [w.split("=")[0] for w in bare if re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", w)]


def harness_problems(command: Command) -> list[str]:
    path, click_command, problems = resolve(command.words)
    known = option_names(click_command)
    problems += [f"`harness {' '.join(path)}` has no option {f}"
                 for f in flags(command.words[len(path):]) if f not in known]
    return [f"{command}: {p}" for p in problems]


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", text, flags=re.M))


def make_problems(command: Command, targets: set[str]) -> list[str]:
    # options and variables (`make test WORKERS=4`) are not targets
    named = [w for w in command.words if not w.startswith("-") and "=" not in w]
    if not named:
        return [f"{command}: names no target"]
    return [f"{command}: the Makefile has no target {t!r}" for t in named if t not in targets]


def top_level_names(module: str) -> set[str] | None:
    """The names ``module`` (a module or package here) defines or imports, or None."""
    base = ROOT / module.replace(".", "/")
    source = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()),
                  None)
    if source is None:
        return None
    names = set()
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def python_problems(command: Command) -> list[str]:
    words = command.words
    if words[:1] == ("-c",):
        problems = []
        for node in ast.walk(ast.parse(words[1])):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = top_level_names(node.module)
                if names is None:
                    problems.append(f"no module {node.module} here")
                else:
                    problems += [f"{node.module} has no {a.name}" for a in node.names
                                 if a.name not in names]
        return [f"{command}: {p}" for p in problems]
    if words[:1] == ("-m",):
        base = ROOT / words[1].replace(".", "/")
        script = next((p for p in (base.with_suffix(".py"), base / "__main__.py")
                       if p.is_file()), None)
        if script is None and not base.exists() and importlib.util.find_spec(words[1]):
            return []  # the standard library's (python3 -m venv)
        rest = words[2:]
    else:
        script = ROOT / words[0] if words and words[0].endswith(".py") else None
        script = script if script and script.is_file() else None
        rest = words[1:]
    if script is None:
        return [f"{command}: no such script or module here"]
    source = script.read_text()
    return [f"{command}: {script.relative_to(ROOT)} takes no {f}"
            for f in flags(rest) if f"'{f}'" not in source and f'"{f}"' not in source]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    _, prose = split_markdown(path.read_text())
    return {slug(m.group(1)) for _, line in prose if (m := re.match(r"#{1,6} (.+)", line))}


def link_problems(path: Path, root: Path = ROOT) -> list[str]:
    name = path.relative_to(root).as_posix()
    _, prose = split_markdown(path.read_text())
    problems = []
    for number, line in prose:
        line = re.sub(r"`[^`]*`", "code", line)
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                problems.append(f"{name}:{number}: {target} does not exist")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                problems.append(f"{name}:{number}: {target}: no such heading")
    return problems


# -- the tests ---------------------------------------------------------------------------


def _unique(commands: list[Command]) -> dict[str, Command]:
    return {shlex.join(c.words): c for c in commands}


HARNESS = _unique(all_commands("harness"))
SUBCOMMANDS = sorted({resolve(c.words)[0] for c in HARNESS.values()})


def test_the_docs_name_commands():
    assert len(HARNESS) >= 10 and all_commands("make") and all_commands("python")
    assert ("suite", "plan") in SUBCOMMANDS and ("run",) in SUBCOMMANDS


@pytest.mark.parametrize("path", SUBCOMMANDS, ids=lambda p: " ".join(p) or "harness")
def test_subcommand_exists(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output, result.output


def test_harness_commands_take_their_options():
    assert [p for c in HARNESS.values() for p in harness_problems(c)] == []


def test_every_subcommand_is_documented():
    def leaves(group: click.Group, prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
        out = set()
        for name, sub in group.commands.items():
            out |= leaves(sub, (*prefix, name)) if isinstance(sub, click.Group) else {
                (*prefix, name)}
        return out

    assert leaves(cli, ()) - set(SUBCOMMANDS) == set()


def _complete(command: Command) -> bool:
    """Whether ``command`` is written out in full: no placeholder (FILE, ...), and
    every argument its subcommand needs."""
    if any(re.fullmatch(r"[A-Z_.]+|\.\.\.|[\[<].*", w) for w in command.words):
        return False
    path, click_command, _ = resolve(command.words)
    try:
        click_command.make_context("harness", list(command.words[len(path):]))
    except click.ClickException:
        return False
    return True


RUN_AS_WRITTEN = {k: c for k, c in HARNESS.items()
                  if resolve(c.words)[0] in RUNNABLE and _complete(c)}


def test_some_commands_run_as_written():
    assert {resolve(c.words)[0] for c in RUN_AS_WRITTEN.values()} == RUNNABLE


@pytest.mark.parametrize("key", sorted(RUN_AS_WRITTEN))
def test_quick_command_runs_as_written(key, tmp_path):
    command = RUN_AS_WRITTEN[key]
    for word in command.words:  # the repository's files it names, at the same place
        if (ROOT / word).is_file():
            (tmp_path / word).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / word, tmp_path / word)
    done = run_cli(list(command.words), tmp_path, timeout=120,
                   HARNESS_DATA=str(tmp_path / "data"), HARNESS_OFFLINE="1")
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    assert done.stdout.strip(), command


def test_make_targets_exist():
    targets = makefile_targets()
    assert [p for c in all_commands("make") for p in make_problems(c, targets)] == []


def test_every_make_target_is_documented():
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), flags=re.M)
    named = {w for c in all_commands("make") for w in c.words}
    assert phony and set(phony.group(1).split()) - named == set()


def test_python_commands_name_files_here():
    assert [p for c in all_commands("python") for p in python_problems(c)] == []


def test_demo_runs_what_the_readme_says():
    said = re.search(r"`make demo` runs `harness ([^`]+)`", " ".join(README.read_text().split()))
    recipe = re.search(r"^demo:.*\n\t\$\(BIN\)/harness (.+)$", (ROOT / "Makefile").read_text(),
                       flags=re.M)
    assert said and recipe and said.group(1) == recipe.group(1)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_and_images_resolve(path):
    assert link_problems(path) == []


def test_readme_is_short_and_starts_with_your_images():
    lines = README.read_text().splitlines()
    assert len(lines) < MAX_README_LINES
    own = [n for n, line in enumerate(lines, 1) if re.match(r"#+ .*own images", line, re.I)]
    assert own and own[0] <= OWN_IMAGES_BY_LINE, own
    images = re.findall(r"!\[[^\]]*\]\((leaderboards/[^)]+\.png)\)", README.read_text())
    assert images and all((ROOT / i).is_file() for i in images)


def test_run_options_table_is_complete():
    """docs/cli.md's table of `harness run` options names each option there is."""
    text = (ROOT / "docs" / "cli.md").read_text()
    table = text[text.index("`harness run` options"):].split("\n\n")[1]
    documented = {w for row in table.splitlines()[2:]
                  for span in re.findall(r"`([^`]+)`", row.split(" | ")[0])
                  for w in span.split()[:1] if w.startswith("-")}
    real = option_names(cli.commands["run"]) - {"--help", "-h"}
    assert documented == real


def test_suite_keys_are_the_reader_keys():
    from harness.execution.suite import MATRIX_KEYS, RUN_KEYS

    text = (ROOT / "docs" / "suites.md").read_text()

    def keys(label: str) -> set[str]:
        item = re.search(rf"^- \*\*{label}\*\*(.*?)(?=^- |^$)", text, flags=re.M | re.S)
        assert item, label
        return {s for s in re.findall(r"`([^`]+)`", item.group(1)) if " " not in s}

    assert keys("Matrix keys") == set(MATRIX_KEYS)
    assert keys("Run options") == set(RUN_KEYS)


def test_the_checks_catch_mistakes(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[gone](gone.md) [ok](page.md#title) [bad](page.md#nope)\n\n"
                    "```bash\nharness nosuch\nharness run \\\n  --nosuch 1  # a comment\n"
                    "make nosuch\npython -m tests.nosuch\n```\n\nProse: `harness run -d x`.\n")
    assert len(link_problems(page, tmp_path)) == 2
    found = page_commands(page, tmp_path)
    assert [c.program for c in found] == ["harness", "harness", "make", "python", "harness"]
    assert [bool(harness_problems(c)) for c in found if c.program == "harness"] == [
        True, True, False]
    assert not harness_problems(Command(("run", "-d", "digits", "--budget=5s"), "harness", "x"))
    assert make_problems(found[2], makefile_targets())
    assert python_problems(found[3])
    assert python_problems(Command(("-c", "from harness.cli import nosuch"), "python", "x"))
    assert not python_problems(Command(("-c", "from harness.cli import cli"), "python", "x"))
