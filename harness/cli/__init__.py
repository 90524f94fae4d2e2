"""The CLI layer: the ``harness`` command, its console output, and ``doctor``.

Only click and the core's option table are imported here: everything else is lazy,
so that ``harness --help`` stays instant. The run options are generated from the
option table (:mod:`harness.core.options`), never written out by hand.

- ``commands``: what each command does (plan, run through the scheduler, rank, print)
- ``console``: the rich consoles and the ranked table
- ``progress``: the live progress display of a run
- ``doctor``: what is installed and usable, each problem with its fix
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from harness.core.errors import HarnessError
from harness.core.options import BY_FIELD, DEFAULT_STORE, OPTIONS, Option
from harness.store.database import StoreError


def _budgets(ctx, param, value):
    from harness.core.budget import parse_budgets

    if value is None:
        return None
    return parse_budgets(value, "budget")


def _click_option(option: Option, override: bool = False):
    """The click option for a table entry; as an override its default is "not given"."""
    default = None if override else option.default
    help_text = option.help + (" Overrides the suite file." if override and option.suite
                               else "")
    if option.kind == "flag":
        return click.option(option.flag, option.field, is_flag=True, default=bool(default),
                            help=help_text)
    kwargs: dict = {"default": default, "help": help_text,
                    "show_default": default is not None and not override}
    if override and option.envvar:
        kwargs.update(envvar=option.envvar, show_envvar=True)
    if option.kind == "int":
        kwargs["type"] = click.IntRange(min=int(option.low))
    elif option.kind == "float":
        kwargs["type"] = click.FloatRange(min=option.low)
        # click takes inf and nan as numbers: the table's parser refuses them
        kwargs["callback"] = lambda ctx, param, value: option.parse(value)
    elif option.kind == "choice":
        kwargs["type"] = click.Choice(list(option.choices))
    elif option.kind == "path":
        kwargs["type"] = click.Path(path_type=Path)
    elif option.kind in ("duration", "size", "choices", "prices"):
        kwargs["callback"] = lambda ctx, param, value: option.parse(value)
    return click.option(option.flag, option.field, **kwargs)


def _options(override: bool = False):
    """Decorate a command with the table's options (``override``: those of suite run)."""
    chosen = [o for o in OPTIONS if o.override] if override else list(OPTIONS)

    def decorate(f):
        for option in reversed(chosen):
            f = _click_option(option, override)(f)
        return f

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="harness", prog_name="harness")
def cli() -> None:
    """Train image classifiers under the same time and GPU budget and rank them.

    \b
    Quick start:
      harness run --dataset digits --budget 60s
      harness run --dataset cifar10 --budget 30m --contenders 'keras-*'
      harness run --dataset cifar10 --budget 30m -c @seeds --param keras-cnn6.dropout=0.3
    """


@cli.command()
@click.option("--dataset", "-d", required=True, help="Dataset name (`harness datasets`).")
@click.option("--budget", "-b", required=True, callback=_budgets,
              help="Training time every contender gets per fold: 90s, 30m, 1h30m; a comma "
                   "list (1m,5m,30m) trains every contender from scratch at each budget.")
@click.option("--contenders", "-c", default=None,
              help="Comma list of names, wildcards ('keras-*') and lineups ('@seeds', "
                   "'@quick', '@all'; `harness contenders` lists them). Default: @default, "
                   "a member of every family chosen for the data, budget and GPUs.")
@click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True,
              help="GPUs each contender may use (0: CPU only).")
@click.option("--param", "param", multiple=True, metavar="CONTENDER.KEY=VALUE",
              help="A contender's parameter, as a suite's params (YAML value); repeatable.")
@_options()
def run(dataset, budget, contenders, gpus, param, **options) -> None:
    """Train every contender on DATASET under the same budget and rank them."""
    from harness.cli.commands import run_command
    from harness.contenders import parse_param
    from harness.contenders.lineups import for_dataset
    from harness.core.config import RunConfig
    from harness.core.options import plain_value

    # one run per budget, each with the lineup for its budget (a list: from scratch each)
    lineups = [(seconds, for_dataset(contenders, dataset, seconds, gpus,
                                     options.get("image_size")))
               for seconds in budget]
    if not any(picks for _, picks in lineups):
        raise HarnessError("no contender can run here: `harness doctor` says what to install")
    every = tuple(dict.fromkeys(p.name for _, picks in lineups for p in picks))
    params: dict[str, dict] = {}
    for text in param:
        name, key, value = parse_param(text, every)
        plain_value(value, f"--param {text!r}")
        params.setdefault(name, {})[key] = value
    configs = [
        RunConfig(dataset=dataset, contenders=tuple(p.name for p in picks),
                  budget_seconds=seconds, gpus=gpus,
                  params={n: v for n, v in params.items() if any(p.name == n for p in picks)},
                  reasons={p.name: p.why for p in picks}, **options)
        for seconds, picks in lineups if picks
    ]
    sys.exit(run_command(configs))


@cli.command()
@click.option("--dataset", "-d", default=None, help="Only this dataset (default: all).")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="SQLAlchemy URL.")
@click.option("--leaderboard-dir", type=click.Path(path_type=Path),
              default=Path("leaderboards"), show_default=True)
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("results/runs"),
              show_default=True, help="Job folders whose rows the store may lack (added).")
@_click_option(BY_FIELD["prices"])
def leaderboard(dataset, store, leaderboard_dir, runs_dir, prices) -> None:
    """Write leaderboards/<dataset>.md and .csv from the store and print them."""
    from harness.cli.commands import leaderboard_command

    leaderboard_command(store, dataset, leaderboard_dir, runs_dir, prices)


@cli.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Dataset folder to look in instead of $HARNESS_DATA.")
def datasets(data_dir) -> None:
    """List the datasets: classes, image size, train/test sizes, cache."""
    from harness.cli.commands import datasets_command

    datasets_command(data_dir)


@cli.command()
@click.argument("pattern", default="all")
@click.option("--weights-dir", type=click.Path(path_type=Path), default=None,
              help="Folder holding pretrained weights files, as `harness run` would get.")
def contenders(pattern, weights_dir) -> None:
    """List contenders (PATTERN: comma list or wildcards) and whether they can run here,
    pretrained weights included (on disk, downloadable, or missing and where to put them)."""
    from harness.cli.commands import contenders_command

    contenders_command(pattern, weights_dir)


#: what `harness demo` (and so `make demo`) runs: the default lineup, one contender of
#: every family, on scikit-learn's embedded digits (no download), 30 s each; its pages
#: go under the ignored results/, so that the committed leaderboards/ stay as they are
DEMO_ARGS = ("run", "--dataset", "digits", "--budget", "30s",
             "--leaderboard-dir", "results/leaderboards")


@cli.command()
def demo() -> None:
    """Run the demo: every family on the embedded digits dataset, 30 s each, no
    download; the page goes to results/leaderboards/digits.md."""
    cli.main(args=list(DEMO_ARGS), prog_name="harness", standalone_mode=False)


@cli.command()
def doctor() -> None:
    """Check what is installed and usable, each problem with its fix."""
    from harness.cli.doctor import doctor_command

    sys.exit(doctor_command())


@cli.group()
def suite() -> None:
    """Benchmark suites: datasets × contenders × budgets × GPUs from a YAML file.

    \b
    harness suite plan nightly.yml   what would run, what is done, estimated time
    harness suite run nightly.yml    run what is missing, rank, flag regressions
    """


@suite.command("plan")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@_click_option(BY_FIELD["store_url"], override=True)
@click.option("--rerun", is_flag=True, help="Plan as if no job were done yet.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="The executor the estimate is for.")
def suite_plan(file, store_url, rerun, executor) -> None:
    """Show what `suite run FILE` would run, what is already done, and how long it takes."""
    from harness.cli.commands import suite_plan_command

    sys.exit(suite_plan_command(file, store_url, rerun, executor))


@suite.command("run")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--fail-on-regression", is_flag=True,
              help="Exit with status 3 when a result got worse than its previous ok one.")
@_options(override=True)
def suite_run(file, fail_on_regression, **overrides) -> None:
    """Run the jobs of FILE not yet in the store, rewrite the leaderboards, flag regressions."""
    from harness.cli.commands import suite_run_command

    sys.exit(suite_run_command(file, fail_on_regression, **overrides))


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["amlb"]), default="amlb", show_default=True,
              help="amlb: the OpenML AutoML Benchmark's results.csv layout.")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="SQLAlchemy URL.")
@click.option("--dataset", "-d", default=None, help="Only this dataset (default: all).")
def export(file, fmt, store, dataset) -> None:
    """Write the store's latest row of every job to FILE (AMLB's results.csv columns)."""
    from harness.cli.commands import export_command

    export_command(store, file, fmt, dataset)


@cli.group(invoke_without_command=True)
@click.option("--weights-dir", type=click.Path(path_type=Path), default=None,
              help="Folder holding pretrained weights files, as `harness run` would get.")
@click.pass_context
def weights(ctx, weights_dir) -> None:
    """The pretrained weights the contenders need: which are here, which are missing.

    \b
    harness weights                          what is here and what is missing
    harness weights fetch @default           download what the default lineup needs
    harness weights fetch @default --print   each file's URL and where it goes
    """
    if ctx.invoked_subcommand is None:
        from harness.cli.weights import weights_command

        weights_command(weights_dir)


@weights.command("fetch")
@click.argument("contenders", required=False)
@click.option("--weights-dir", type=click.Path(path_type=Path), default=None,
              help="Download into this folder (then pass it to `harness run`); default: "
                   "Keras' cache and the Hugging Face hub cache, which runs read anyway.")
@click.option("--print", "print_only", is_flag=True,
              help="Download nothing: list each file's URL and the path it goes to.")
@click.option("--mirror", default=None,
              help="Another base URL serving the same files (a team's mirror).")
def weights_fetch(contenders, weights_dir, print_only, mirror) -> None:
    """Download the pretrained weights of CONTENDERS (names, wildcards, @lineups;
    default @default) where `harness run` finds them, with progress, each checked."""
    from harness.cli.weights import fetch_command

    fetch_command(contenders, weights_dir, print_only, mirror)


@cli.command("export-model")
@click.argument("dataset")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--budget", "-b", default=None,
              help="The table's budget (default: the largest with a kept model).")
@click.option("--contender", "-c", default=None,
              help="This contender's best kept model instead of the leader's.")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="SQLAlchemy URL.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Dataset folder to look in instead of $HARNESS_DATA (class names, "
                   "a test image).")
def export_model(dataset, directory, budget, contender, store, data_dir) -> None:
    """Write the leading model of DATASET to DIRECTORY, with classify.py that loads it
    and classifies an image, and example.png, a test image to try it on.

    Each run keeps its leaders' models (every model with --keep-models).
    """
    from harness.cli.commands import export_model_command
    from harness.core.budget import parse_budget

    export_model_command(dataset, directory, None if budget is None else parse_budget(budget),
                         contender, store, data_dir)


@cli.command()
@click.argument("job")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("results/runs"),
              show_default=True, help="Where the job folders are.")
@click.option("--store", default=DEFAULT_STORE, show_default=True,
              help="SQLAlchemy URL, to find a job whose folder is elsewhere.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for report.md and its figures (default: the job folder).")
def report(job, runs_dir, store, out) -> None:
    """Render one job's page: metrics, learning curve, confusion, predictions, Grad-CAM.

    JOB is a job folder, a job key or the start of one (`harness leaderboard` and
    the store name them).
    """
    from harness.cli.commands import report_command

    report_command(job, runs_dir, store, out)


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input is one line on stderr and a non-zero exit."""
    # TensorFlow's C++ start-up lines (no CUDA driver, CPU features) stay out of the
    # tables of `contenders` and `doctor`; its errors still show
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        code = cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except click.UsageError as exc:
        where = f" (see `harness {exc.ctx.info_name} --help`)" if exc.ctx and exc.ctx.parent else ""
        click.echo(f"harness: error: {exc.format_message()}{where}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"harness: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except HarnessError as exc:
        click.echo(f"harness: error: {exc}", err=True)
        if isinstance(exc, StoreError) and argv is None:  # the process, not a caller's call
            # Closing a SQLite store that failed under us may touch its memory-mapped
            # index: on a file made immutable or removed, that is a SIGBUS, not exit 1.
            # Every row is in the store or its job folder: leave without closing it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        sys.exit(1)
    except (KeyboardInterrupt, click.Abort):
        click.echo("harness: interrupted", err=True)
        sys.exit(130)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
