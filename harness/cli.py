"""The ``harness`` command. Only click is imported here: everything else is lazy."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.config import DEFAULT_STORE
from harness.errors import HarnessError


def _duration(ctx, param, value):
    from harness.budget import parse_duration

    if value is None:
        return None
    name = param.name.replace("_", "-")
    return parse_duration(value, "budget" if name == "budget" else f"--{name}")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="harness", prog_name="harness")
def cli() -> None:
    """Train image classifiers under the same time and GPU budget and rank them.

    \b
    Quick start:
      harness run --dataset digits --budget 60s
      harness run --dataset cifar10 --budget 30m --contenders 'keras-*'
    """


def _executor_options(f):
    """--executor, --address, --cpus-per-job: shared by `run` and `suite run`."""
    f = click.option("--cpus-per-job", type=click.FloatRange(min=0.0), default=1.0,
                     show_default=True, help="CPUs a Ray task asks for (its GPUs: --gpus).")(f)
    f = click.option("--address", default=None,
                     help="Ray cluster address (ray://HOST:10001 or HOST:6379); default: "
                          "a local Ray, no cluster needed.")(f)
    return click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
                        show_default=True,
                        help="local: worker processes here; ray: one Ray task per job.")(f)


@cli.command()
@click.option("--dataset", "-d", required=True, help="Dataset name (`harness datasets`).")
@click.option("--budget", "-b", required=True, callback=_duration,
              help="Training time every contender gets per fold: 90s, 30m, 1h30m.")
@click.option("--contenders", "-c", default=None,
              help="Comma list or wildcards ('keras-*'); 'all' for every one. "
                   "Default: the default set, where it can run here.")
@click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True,
              help="GPUs each contender may use (0: CPU only).")
@click.option("--folds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Stratified K-fold on train (1: one held-out validation part).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Repeat every job with this many seeds (0, 1, ...).")
@click.option("--max-train-per-class", type=click.IntRange(min=2), default=None,
              help="Cap training images per class, for quick runs.")
@click.option("--store", default=DEFAULT_STORE, show_default=True,
              help="SQLAlchemy URL of the results store.")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("results/runs"),
              show_default=True, help="Per-job artifacts go to RUNS_DIR/<job-key>/.")
@click.option("--leaderboard-dir", type=click.Path(path_type=Path),
              default=Path("leaderboards"), show_default=True,
              help="Where <dataset>.md and <dataset>.csv are written.")
@click.option("--grace", default="30s", show_default=True, callback=_duration,
              help="Hard limit constant: the worker is killed at budget x grace-factor + grace.")
@click.option("--grace-factor", type=click.FloatRange(min=1.0), default=1.25,
              show_default=True, help="Hard limit factor on the budget.")
@click.option("--setup-cap", default="15m", show_default=True, callback=_duration,
              help="Time allowed for imports, data and weight loading.")
@click.option("--eval-cap", default="10m", show_default=True, callback=_duration,
              help="Time allowed for scoring and latency measurement.")
@click.option("--parallel", type=click.IntRange(min=1), default=1, show_default=True,
              help="Jobs at once when --gpus 0 (with GPUs: one job per GPU group).")
@click.option("--max-memory", default=None,
              help="Kill a job whose processes use more memory than this (8G) and record oom.")
@click.option("--max-artifacts", default="20G", show_default=True,
              help="Kill a job that writes more than this to its job folder, and remove "
                   "what it wrote.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Dataset folder (files you already have; the cache) instead of $HARNESS_DATA.")
@click.option("--weights-dir", type=click.Path(path_type=Path), default=None,
              help="Folder holding pretrained weights files.")
@click.option("--keep-models", is_flag=True, help="Keep each fitted model in its job folder.")
@click.option("--rerun", is_flag=True, help="Run jobs again even when the store has them.")
@_executor_options
def run(dataset, budget, contenders, gpus, folds, seeds, max_train_per_class, store,
        runs_dir, leaderboard_dir, grace, grace_factor, setup_cap, eval_cap, parallel,
        max_memory, data_dir, weights_dir, keep_models, rerun, executor, address,
        cpus_per_job, max_artifacts) -> None:
    """Train every contender on DATASET under the same budget and rank them."""
    from harness.app import run_command
    from harness.config import RunConfig, parse_size
    from harness.contender import default_contenders, list_contenders
    from harness.data import get_spec, prepare_dataset

    if address and executor != "ray":  # before anything is opened, planned or shown
        raise HarnessError("--address is for --executor ray")
    get_spec(dataset)
    names = list_contenders(contenders) if contenders else default_contenders()
    if not names:
        raise HarnessError("no contender can run here: `harness doctor` says what to install")
    config = RunConfig(
        dataset=dataset, contenders=tuple(names), budget_seconds=budget, gpus=gpus,
        folds=folds, seeds=seeds, max_train_per_class=max_train_per_class, store_url=store,
        runs_dir=runs_dir, leaderboard_dir=leaderboard_dir, grace_factor=grace_factor,
        grace_seconds=grace, setup_cap_seconds=setup_cap, eval_cap_seconds=eval_cap,
        parallel=parallel,
        max_memory_bytes=parse_size(max_memory, "--max-memory") if max_memory else None,
        max_artifact_bytes=parse_size(max_artifacts, "--max-artifacts"),
        rerun=rerun, keep_models=keep_models, data_dir=data_dir, weights_dir=weights_dir,
        executor=executor, ray_address=address, cpus_per_job=cpus_per_job,
    )
    # download and decode once, here where the progress bar shows, before any job starts
    prepare_dataset(dataset, data_dir, folds=folds, max_per_class=max_train_per_class)
    sys.exit(run_command(config))


@cli.command()
@click.option("--dataset", "-d", default=None, help="Only this dataset (default: all).")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="SQLAlchemy URL.")
@click.option("--leaderboard-dir", type=click.Path(path_type=Path),
              default=Path("leaderboards"), show_default=True)
def leaderboard(dataset, store, leaderboard_dir) -> None:
    """Write leaderboards/<dataset>.md and .csv from the store and print them."""
    from harness.app import leaderboard_command

    leaderboard_command(store, dataset, leaderboard_dir)


@cli.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Dataset folder to look in instead of $HARNESS_DATA.")
def datasets(data_dir) -> None:
    """List the datasets: classes, image size, train/test sizes, cache."""
    from harness.app import datasets_command

    datasets_command(data_dir)


@cli.command()
@click.argument("pattern", default="all")
def contenders(pattern) -> None:
    """List contenders (PATTERN: comma list or wildcards) and whether they can run here."""
    from harness.app import contenders_command

    contenders_command(pattern)


@cli.command()
def doctor() -> None:
    """Check what is installed and usable, each problem with its fix."""
    from harness.doctor import doctor_command

    sys.exit(doctor_command())


@cli.group()
def suite() -> None:
    """Benchmark suites: datasets × contenders × budgets × GPUs from a YAML file.

    \b
    harness suite plan nightly.yml   what would run, what is done, estimated time
    harness suite run nightly.yml    run what is missing, rank, flag regressions
    """


_store_override = click.option(
    "--store", default=None, envvar="HARNESS_STORE", show_envvar=True,
    help="SQLAlchemy URL of the results store; overrides the suite's `store:`.")


@suite.command("plan")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@_store_override
@click.option("--rerun", is_flag=True, help="Plan as if no job were done yet.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="The executor the estimate is for.")
def suite_plan(file, store, rerun, executor) -> None:
    """Show what `suite run FILE` would run, what is already done, and how long it takes."""
    from harness.suite_run import plan_command

    sys.exit(plan_command(file, store, rerun, executor))


@suite.command("run")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@_store_override
@click.option("--rerun", is_flag=True, help="Run every job again, even those already done.")
@click.option("--fail-on-regression", is_flag=True,
              help="Exit with status 3 when a result got worse than its previous ok one.")
@click.option("--leaderboard-dir", type=click.Path(path_type=Path), default=None,
              help="Overrides the suite's `leaderboard_dir:` (default leaderboards).")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=None,
              help="Overrides the suite's `runs_dir:` (default results/runs).")
@_executor_options
def suite_run(file, store, rerun, fail_on_regression, leaderboard_dir, runs_dir, executor,
              address, cpus_per_job) -> None:
    """Run the jobs of FILE not yet in the store, rewrite the leaderboards, flag regressions."""
    from harness.suite_run import run_command

    sys.exit(run_command(file, store, rerun, executor, address, cpus_per_job,
                         fail_on_regression, leaderboard_dir, runs_dir))


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["amlb"]), default="amlb", show_default=True,
              help="amlb: the OpenML AutoML Benchmark's results.csv layout.")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="SQLAlchemy URL.")
@click.option("--dataset", "-d", default=None, help="Only this dataset (default: all).")
def export(file, fmt, store, dataset) -> None:
    """Write the store's latest row of every job to FILE (AMLB's results.csv columns)."""
    from harness.export import export_command

    export_command(store, file, fmt, dataset)


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
    from harness.app import report_command

    report_command(job, runs_dir, store, out)


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input is one line on stderr and a non-zero exit."""
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
        sys.exit(1)
    except (KeyboardInterrupt, click.Abort):
        click.echo("harness: interrupted", err=True)
        sys.exit(130)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
