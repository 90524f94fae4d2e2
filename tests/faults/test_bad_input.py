"""Bad input, each refused in one line naming the fix, with a non-zero exit and the
store's rows and the leaderboards untouched.

Most run ``harness.cli.main`` in this process (as fast as a function call) against a
store that already holds a finished row; the Hypothesis tests throw generated budget
strings, option combinations and suite files at the same code.
"""

from __future__ import annotations

import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.execution.suite import TOP_KEYS, SuiteError, load_suite
from tests.faults.conftest import SECRET, UNREACHABLE, refuse

pytestmark = pytest.mark.faults

FIXTURE_SETTINGS = settings(max_examples=40, deadline=None,
                            suppress_health_check=[HealthCheck.function_scoped_fixture])


RUN = ["run", "-d", "digits", "-c", "test-quick", "--max-train-per-class", "5"]
BAD_RUNS = [
    (["-b", "1h1h"], "invalid budget '1h1h'"),
    (["-b", "0s"], "invalid budget '0s'"),
    (["-b", "1e3s"], "invalid budget"),
    (["-b", "nan"], "invalid budget"),
    (["-b", ""], "invalid budget"),
    (["-b", "5s", "--grace", "-1s"], "invalid --grace"),
    (["-b", "5s", "--setup-cap", "0"], "invalid --setup-cap"),
    (["-b", "5s", "--eval-cap", "soon"], "invalid --eval-cap"),
    (["-b", "5s", "--grace-factor", "0.5"], "--grace-factor"),
    (["-b", "5s", "--parallel", "0"], "--parallel"),
    (["-b", "5s", "--gpus", "-1"], "--gpus"),
    (["-b", "5s", "--max-train-per-class", "1"], "--max-train-per-class"),
    (["-b", "5s", "--max-memory", "0"], "invalid --max-memory"),
    (["-b", "5s", "--max-artifacts", "-1G"], "invalid --max-artifacts"),
    (["-b", "5s", "--max-artifacts", "lots"], "invalid --max-artifacts"),
    (["-b", "5s", "--executor", "slurm"], "--executor"),
    (["-b", "5s", "--address", "127.0.0.1:6379"], "--address is for --executor ray"),
    (["-b", "5s", "--cpus-per-job", "-1"], "--cpus-per-job"),
    (["-b", "5s", "--seeds", "many"], "--seeds"),
    (["-b", "5s", "--no-such-option"], "no-such-option"),
    (["-b", "5s", "-c", "keras-nope-*"], "unknown contender 'keras-nope-*'"),
    (["-b", "5s", "-d", "folder:/nonexistent/pets"], "/nonexistent/pets"),
    (["-b", "5s", "-d", "csv:/nonexistent/pets.csv"], "/nonexistent/pets.csv"),
    (["-b", "5s", "-d", "folder:"], "names no path"),
    (["-b", "5s", "--store", "not a url"], "cannot parse store URL"),
    (["-b", "5s", "--store", f"nosuchdb://bob:{SECRET}@127.0.0.1:1/x"], "cannot use store"),
    (["-b", "5s", "--store", UNREACHABLE], "check that its server is up"),
    (["-b", "5s", "--gpus", "64"], "asks for more GPUs"),
    (["-b", "9" * 400], "invalid budget"),
    (["-b", "5s", "-c", ""], "--contenders is empty"),
    (["-b", "5s", "-c", " , "], "--contenders is empty"),
    (["-b", "5s", "--store", f"postgresql://alice@127.0.0.1:1/h?password={SECRET}"],
     "check that its server is up"),
    (["-b", "5s", "--store", f"postgresql://alice@127.0.0.1:1/h?sslpassword={SECRET}"],
     "check that its server is up"),
    (["-b", "8785h"], "invalid budget"),
    (["-b", "2d"], "invalid budget"),
    (["-b", "5s", "--grace-factor", "inf"], "--grace-factor must be a number"),
    (["-b", "5s", "--grace-factor", "nan"], "--grace-factor"),
    (["-b", "5s", "--cpus-per-job", "inf"], "--cpus-per-job must be a number"),
    (["-b", "5s", "--max-artifacts", "9" * 400], "invalid --max-artifacts"),
    (["-b", "5s", "--max-memory", "1e9"], "invalid --max-memory"),
    (["-b", "5s", "--parallel", "1e9"], "--parallel"),
    (["-b", "5s", "--folds", "-1"], "--folds"),
    (["-b", "5s", "--seeds", "0"], "--seeds"),
    (["-b", "5s", "--runs-dir", "/proc/harness-runs"], "cannot create --runs-dir"),
    (["-b", "5s", "--store", "sqlite:////proc/h/h.sqlite"], "cannot create the store's"),
    (["-b", "0.0001s"], "invalid budget '0.0001s': under 1 second"),
    (["-b", "0.5s"], "use at least 1s"),
    (["-b", "5s,0.2s"], "invalid budget '0.2s'"),
    (["-b", "5s", "--max-memory", "1K"], "invalid --max-memory '1K': below the 128 MiB"),
    (["-b", "5s", "--max-memory", "100M"], "use at least 128M"),
    (["-b", "5s", "--store", "sqlite://"], "is a database in memory"),
    (["-b", "5s", "--store", "sqlite:///:memory:"], "is a database in memory"),
    (["-b", "5s", "--store", "sqlite:///file::memory:?uri=true"], "is a database in memory"),
    (["-b", "5s", "--store", "sqlite:////dev/full"], "/dev/full is not a regular file"),
    (["-b", "5s", "--store", "sqlite:////dev/null"], "/dev/null is not a regular file"),
    (["-b", "5s", "--store", "sqlite:////proc/self/status"], "not a file on disk"),
    (["-b", "5s", "--store", f"postgresql://harness:{SECRET}@[::1:1/h"],
     "cannot parse store URL 'postgresql://harness:***@[::1:1/h'"),
    (["-b", "5s", "--store", f"postgresql://harness:{SECRET}@db:notaport/h"],
     "cannot parse store URL"),
    (["-b", "5s", "-c", "sklearn-logreg", "--param", "sklearn-logreg.C=&a [*a]"],
     "contains itself"),
    (["-b", "5s", "-c", "sklearn-logreg", "--param", "sklearn-logreg.C=&a {k: [1, *a]}"],
     "contains itself"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_RUNS,
                         ids=[" ".join(a) for a, _ in BAD_RUNS])
def test_bad_run_options_are_refused(args, fragment, seeded, capsys, tally):
    argv = [*RUN[:5], *args] if "-c" in args else [*RUN, *args]
    argv = [a for i, a in enumerate(argv) if not (a == "-d" and "-d" in argv[i + 2:])]
    if argv.count("-d") == 0 or "-d" in args:
        argv = [a for a in argv if a != "digits"] if "-d" in args else argv
    line = refuse(argv, seeded, capsys, tally)
    assert fragment in line, line


def test_unreachable_store_names_the_fix_and_hides_the_password(seeded, capsys, tally):
    line = refuse([*RUN, "-b", "5s", "--store", UNREACHABLE], seeded, capsys, tally)
    assert "alice:***@127.0.0.1:1" in line and "Connection refused" in line


def test_store_path_under_a_file_is_refused(seeded, capsys, tally):
    (seeded / "afile").write_text("x")
    line = refuse([*RUN, "-b", "5s", "--store", f"sqlite:///{seeded}/afile/h.sqlite"],
                  seeded, capsys, tally)
    assert "pass --store" in line


@pytest.mark.parametrize("command", [
    ["run", *RUN[1:], "-b", "5s", "--leaderboard-dir", "LB"],
    ["leaderboard", "--leaderboard-dir", "LB"],
    ["suite", "run", "SUITE", "--leaderboard-dir", "LB"],
], ids=["run", "leaderboard", "suite run"])
def test_leaderboard_dir_that_is_a_file(command, seeded, capsys, tally):
    (seeded / "LB").write_text("keep me")
    (seeded / "SUITE").write_text("datasets: [digits]\ncontenders: [test-quick]\n"
                                  "budgets: [5s]\nmax_train_per_class: 5\n")
    line = refuse(command, seeded, capsys, tally)
    assert "is a file" in line and "--leaderboard-dir" in line
    assert (seeded / "LB").read_text() == "keep me"


BAD_OTHER = [
    (["leaderboard", "--store", UNREACHABLE], "check that its server is up"),
    (["leaderboard", "-d", "cifar10"], "no results for 'cifar10'"),
    (["suite", "run", "missing.yml"], "missing.yml"),
    (["suite", "plan", "missing.yml"], "missing.yml"),
    (["export", "out.csv", "--format", "xlsx"], "--format"),
    (["export", "out.csv", "--store", UNREACHABLE], "check that its server is up"),
    (["contenders", "nope-*"], "unknown contender"),
    (["contenders", ""], "unknown contender"),
    (["leaderboard", "--store", f"postgresql://bob@127.0.0.1:1/h?password={SECRET}"],
     "check that its server is up"),
    (["leaderboard", "--leaderboard-dir", "/proc/boards"], "--leaderboard-dir"),
    (["export", "out.csv", "--store", "not a url"], "cannot parse store URL"),
    (["report", "no-such-job"], "no job folder for 'no-such-job'"),
    (["datasets", "--data-dir"], "--data-dir"),
    (["export", "out.csv", "--store", "sqlite://"], "is a database in memory"),
    (["leaderboard", "--store", "sqlite:////dev/full"], "not a regular file"),
    (["leaderboard", "--store", f"mysql://bob:{SECRET}@[db/x"], "bob:***@[db/x"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD_OTHER, ids=[" ".join(a) for a, _ in BAD_OTHER])
def test_bad_input_to_other_commands(argv, fragment, seeded, capsys, tally):
    assert fragment in refuse(argv, seeded, capsys, tally)


SUITES = {
    "not yaml": "datasets: [digits\n",
    "a list": "- digits\n",
    "unknown key": "datasets: [digits]\ncontenders: [test-quick]\nbudgets: [5s]\nbudgte: 1\n",
    "unset secret": "datasets: [digits]\ncontenders: [test-quick]\nbudgets: [5s]\n"
                    "store: ${HARNESS_TEST_NO_SUCH_VAR}\n",
    "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a]\n"
                  "c: &c [*b, *b, *b, *b, *b, *b, *b]\ndatasets: [*c, *c, *c, *c]\n",
    "python tag": "datasets: !!python/object/apply:os.system ['touch PWNED']\n",
    "negative seeds": "datasets: [digits]\ncontenders: [test-quick]\nbudgets: [5s]\nseeds: -1\n",
    "bad budget": "datasets: [digits]\ncontenders: [test-quick]\nbudgets: [5 minutes]\n",
    "python name tag": "datasets: [digits]\ncontenders: [test-quick]\nbudgets: [5s]\n"
                       "seeds: !!python/name:os.system\n",
    "python tag as the name": "name: !!python/object/apply:os.system ['touch PWNED']\n"
                              "datasets: [digits]\ncontenders: [test-quick]\nbudgets: [5s]\n",
    "python tag in params": "datasets: [digits]\ncontenders: [test-quick]\nbudgets: [5s]\n"
                            "params:\n  test-quick: !!python/object/apply:os.system "
                            "['touch PWNED']\n",
    "params that contain themselves": "datasets: [digits]\ncontenders: [test-quick]\n"
                                      "budgets: [5s]\nparams:\n  test-quick: &p {x: [*p]}\n",
    "sub-second budget": "datasets: [digits]\ncontenders: [test-quick]\nbudgets: [0.1s]\n",
}


@pytest.mark.parametrize("kind", list(SUITES))
def test_bad_suite_files(kind, seeded, capsys, tally):
    (seeded / "bad.yml").write_text(SUITES[kind])
    line = refuse(["suite", "run", "bad.yml"], seeded, capsys, tally)
    assert line.startswith("harness: error: suite bad.yml")
    assert not (seeded / "PWNED").exists()  # YAML tags never run code


def test_a_suite_file_that_is_not_utf8(seeded, capsys, tally):
    (seeded / "bad.yml").write_bytes(b"datasets: [digits]\nname: caf\xe9\xff\n")
    line = refuse(["suite", "run", "bad.yml"], seeded, capsys, tally)
    assert "not UTF-8 text (byte 0xe9 at offset 28): save it as UTF-8" in line


@pytest.mark.parametrize("out", ["FILE", "/proc/self"])
def test_a_report_out_that_cannot_take_it(out, seeded, capsys, tally):
    (seeded / "FILE").write_text("keep me")
    job = seeded / "jobs" / "abc"
    job.mkdir(parents=True)
    line = refuse(["report", str(job), "--out", out], seeded, capsys, tally)
    assert line.startswith(f"harness: error: --out {out} is a file" if out == "FILE" else
                           f"harness: error: --out {out} is not writable"), line
    assert (seeded / "FILE").read_text() == "keep me"


def test_a_store_on_a_read_only_mount_is_called_read_only_not_damaged(seeded, capsys, tally,
                                                                       monkeypatch):
    import os

    real = os.statvfs

    class ReadOnly:
        def __init__(self, result):
            self._result = result
            self.f_flag = result.f_flag | os.ST_RDONLY

        def __getattr__(self, name):
            return getattr(self._result, name)

    monkeypatch.setattr(os, "statvfs", lambda p: ReadOnly(real(p))
                        if "results" in str(p) else real(p))
    tally.fault("a healthy store on a read-only mount")
    line = refuse(["leaderboard"], seeded, capsys, tally)
    assert "is on a read-only file system" in line and "damaged" not in line, line
    assert "copy it to a writable folder" in line


# -- the user's own images: only their own folder, every problem named -----------


def _pets(root):
    from tests.unit.data.test_datasets_local import class_folder

    return class_folder(root, per_class=3)


def _links_out(kind, root):
    import os

    if kind == "image linked to /etc/passwd":
        os.symlink("/etc/passwd", root / "cat" / "evil.png")
    elif kind == "class folder linked outside":
        outside = _pets(root.parent / "elsewhere")
        os.symlink(outside / "cat", root / "lynx")
    else:  # a folder inside a class folder, linked outside
        os.symlink(root.parent, root / "dog" / "up")


@pytest.mark.parametrize("kind", ["image linked to /etc/passwd", "class folder linked outside",
                                  "sub-folder linked outside"])
def test_links_out_of_a_dataset_folder_are_refused(kind, seeded, capsys, tally, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA", str(seeded / "cache"))
    root = _pets(seeded / "data" / "pets")
    _links_out(kind, root)
    line = refuse([*RUN[:2], f"folder:{root}", *RUN[3:], "-b", "5s"], seeded, capsys, tally)
    assert "outside" in line and "a dataset reads only its own folder" in line, line


def test_an_unreadable_class_folder_is_named_as_such(seeded, capsys, tally, monkeypatch):
    import os

    monkeypatch.setenv("HARNESS_DATA", str(seeded / "cache"))
    root = _pets(seeded / "data" / "pets")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p).endswith("dog")
                        else real(p, mode, **kw))  # as chmod 000 does (root reads anyway)
    tally.fault("a class folder this user cannot read")
    line = refuse([*RUN[:2], f"folder:{root}", *RUN[3:], "-b", "5s"], seeded, capsys, tally)
    assert f"cannot read {root / 'dog'}" in line and "holds no images" not in line, line
    assert "chmod" in line


CSVS = {
    "semicolons": ("image;label\n{rows}", "", "is separated by ';', not commas",
                   lambda i, c: f"imgs/{c}/{i}.png;{c}"),
    "tabs": ("image\tlabel\n{rows}", "", "pass csv:FILE?sep=tab",
             lambda i, c: f"imgs/{c}/{i}.png\t{c}"),
    "parent path": ("image,label\n{rows}../outside.png,cat\n", "", "is outside the CSV's folder",
                    lambda i, c: f"imgs/{c}/{i}.png,{c}"),
    "absolute path": ("image,label\n{rows}/etc/passwd,cat\n", "",
                      "image /etc/passwd is outside the CSV's folder",
                      lambda i, c: f"imgs/{c}/{i}.png,{c}"),
    "bad separator": ("image,label\n{rows}", "?sep=ab", "sep='ab' is not one separator",
                      lambda i, c: f"imgs/{c}/{i}.png,{c}"),
    "not an image": ("image,label\n{rows}notes.txt,cat\n", "", "fix the path or remove the row",
                     lambda i, c: f"imgs/{c}/{i}.png,{c}"),
}


@pytest.mark.parametrize("kind", list(CSVS))
def test_bad_csv_datasets_are_named_with_their_fix(kind, seeded, capsys, tally, monkeypatch):
    from tests.unit.data.test_datasets_local import COLORS, image

    monkeypatch.setenv("HARNESS_DATA", str(seeded / "cache"))
    data = seeded / "data"
    for c, color in COLORS.items():
        for i in range(3):
            image(data / "imgs" / c / f"{i}.png", color)
    image(seeded / "outside.png", (1, 2, 3))
    (data / "notes.txt").write_text("not an image")
    text, suffix, fragment, row = CSVS[kind]
    rows = "".join(row(i, c) + "\n" for c in COLORS for i in range(3))
    (data / "pets.csv").write_text(text.format(rows=rows))
    line = refuse([*RUN[:2], f"csv:{data / 'pets.csv'}{suffix}", *RUN[3:], "-b", "5s"],
                  seeded, capsys, tally)
    assert fragment in line, line


# -- properties -------------------------------------------------------------------

_UNITS = st.sampled_from(["h", "m", "s", "", "ms", "x", "H", " ", ".", "-", "e"])
BUDGETS = st.one_of(st.text(max_size=10),
                    st.lists(st.tuples(st.integers(-5, 99).map(str), _UNITS), max_size=4)
                    .map(lambda parts: "".join(a + b for a, b in parts)))


@FIXTURE_SETTINGS
@given(text=BUDGETS)
def test_any_budget_string_runs_or_is_refused_in_one_line(text, seeded, capsys, tally):
    from harness.core.budget import parse_budgets
    from harness.core.errors import HarnessError

    try:
        seconds = parse_budgets(text)
    except HarnessError:
        seconds = None
    if text.startswith("-") or "\0" in text:
        return  # read by click as an option, or refused by the OS: not a budget
    # --gpus 64 stops a valid budget before any training: then the GPUs are named
    line = refuse([*RUN, "-b", text, "--gpus", "64"], seeded, capsys, tally)
    assert ("invalid budget" in line) == (seconds is None), line


OPTIONS = {  # option: (valid values, (invalid value, fragment of the error))
    "--folds": (["1", "2"], [("0", "--folds"), ("x", "--folds")]),
    "--seeds": (["1", "2"], [("0", "--seeds")]),
    "--parallel": (["1", "3"], [("0", "--parallel")]),
    "--grace": (["1s", "2m"], [("0", "invalid --grace"), ("soon", "invalid --grace")]),
    "--grace-factor": (["1", "1.5"], [("0.9", "--grace-factor")]),
    "--max-memory": (["8G", "512M"], [("0", "invalid --max-memory"),
                                      ("8X", "invalid --max-memory")]),
    "--max-artifacts": (["1G"], [("0", "invalid --max-artifacts")]),
    "--executor": (["local"], [("k8s", "--executor")]),
    "--max-train-per-class": (["5", "10"], [("1", "--max-train-per-class")]),
}


@st.composite
def option_sets(draw):
    chosen = draw(st.lists(st.sampled_from(sorted(OPTIONS)), unique=True, max_size=5))
    argv, fragments = [], []
    for option in chosen:
        valid, invalid = OPTIONS[option]
        if draw(st.booleans()):
            value, fragment = draw(st.sampled_from(invalid))
            fragments.append(fragment)
        else:
            value = draw(st.sampled_from(valid))
        argv += [option, value]
    return argv, fragments


@FIXTURE_SETTINGS
@given(case=option_sets())
def test_any_option_combination_is_refused_naming_a_bad_option(case, seeded, capsys, tally):
    argv, fragments = case
    # with no bad option drawn, --gpus 64 is what must be named, after every check
    line = refuse(["run", "-d", "digits", "-c", "test-quick", "-b", "5s", *argv,
                   "--gpus", "64"], seeded, capsys, tally)
    expected = fragments or ["asks for more GPUs"]
    assert any(f in line for f in expected), (line, argv)


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                     st.sampled_from(["digits", "test-quick", "5s", "0s", "nope", "", "1G",
                                      "${NOT_SET}", "keras-*"]), st.text(max_size=6))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(TOP_KEYS), inner, max_size=3)),
    max_leaves=8)


@FIXTURE_SETTINGS
@given(text=st.one_of(
    st.dictionaries(st.sampled_from([*TOP_KEYS, "dataset", "budget", "extra"]), _VALUES,
                    max_size=6).map(lambda d: yaml.safe_dump(d)),
    st.text(max_size=60)))
def test_any_suite_file_loads_or_is_refused_in_one_line(text, seeded, tally):
    path = seeded / "fuzz.yml"
    path.write_text(text, errors="surrogatepass" if sys.platform == "win32" else "replace")
    try:
        load_suite(path)
    except SuiteError as exc:
        tally.bad_input(f"suite file {text[:30]!r}")
        message = str(exc)
        assert "\n" not in message and message.startswith(f"suite {path}"), message
