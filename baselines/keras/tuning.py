"""Budgeted tuning of a small CNN: KerasTuner's Bayesian optimisation and Optuna's TPE.

Both tuners share one search space (data, below), one model builder and one
:class:`BudgetedSearch` that owns the clock: the first ``search_fraction`` of the
budget goes to trials of ``budget * search_fraction / trials`` seconds each (every trial
trained by the same budget-aware plumbing as the hand-built CNNs), the rest to the
final model. The final model is the best trial's, *continued* from its weights for the
time left, so a tuner whose budget runs out still returns the best model it saw. The
first trial, too, starts only while half a slice of the search time is left: a trial's
build and first, traced or compiled step come on top of its slice and cannot be cut
(on JAX under load, 4-16 s and 7-19 s for a 3 s slice). The
trial history is written to ``trials.csv`` in the job's directory (the worker keeps it
next to ``result.json``; its ``work/`` folder is deleted after the job).
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from baselines import keras as kc
from baselines.keras.cnn import conv_bn, head
from harness.contenders import FitReport, register
from harness.core.budget import Budget
from harness.core.context import TRIALS_FILE, JobContext
from harness.data import Split

#: name -> (kind, low, high[, step]) or ("choice", values): the second seed's Model II.5
SPACE: dict[str, tuple] = {
    "width": ("int", 16, 64, 16),
    "depth": ("int", 1, 3, 1),
    "dropout": ("float", 0.0, 0.5),
    "l2": ("log", 1e-6, 1e-3),
    "learning_rate": ("log", 3e-4, 1e-2),
    "batch_size": ("choice", (32, 64, 128)),
}
#: used when not one trial finished in time
FALLBACK = {"width": 32, "depth": 2, "dropout": 0.2, "l2": 1e-5,
            "learning_rate": 2e-3, "batch_size": 64}


def build_tunable(keras, input_shape, num_classes: int, hp: dict[str, Any]):
    """``depth`` blocks of two conv-BN-ReLU, doubling from ``width``; a dropout head."""
    layers = keras.layers
    # two more halvings than blocks would need, so 8x8 digits keep a 2x2 map at the end
    inputs, x = kc.stem(keras, input_shape, 2 ** (hp["depth"] + 1))
    for i in range(hp["depth"]):
        width = hp["width"] * 2**i
        x = conv_bn(keras, conv_bn(keras, x, width), width)
        x = layers.Dropout(hp["dropout"])(layers.MaxPooling2D(2)(x))
    x = layers.Flatten()(x)
    model = keras.Model(inputs, head(keras, x, num_classes, hp["dropout"], hidden=128),
                        name="tuned_cnn")
    kc.add_l2(model, hp["l2"])
    kc.compile_model(keras, model, learning_rate=hp["learning_rate"])
    return model


class BudgetedSearch:
    """The clock, the trials and the best model so far, for any proposer of parameters."""

    def __init__(self, keras, train: Split, val: Split, budget: Budget, seed: int,
                 search_fraction: float, trials: int, min_trial_seconds: float,
                 scope=contextlib.nullcontext, now: Callable[[], float] = time.monotonic
                 ) -> None:
        self.keras, self.train, self.val, self.seed = keras, train, val, seed
        self.scope = scope  # the distribution's, around every build
        self.now = now
        self.search_deadline = budget.started + budget.seconds * search_fraction
        self.trial_seconds = max(min_trial_seconds, budget.seconds * search_fraction / trials)
        self.started = budget.started
        self.best_score = -1.0
        self.best_model = None
        self.best_params: dict[str, Any] | None = None
        self.rows: list[dict[str, Any]] = []

    def time_for_another(self) -> bool:
        # Half a trial's time is still worth a trial: it is cut to what is left.
        return self.search_deadline - self.now() >= 0.5 * self.trial_seconds

    def build(self, params: dict[str, Any]):
        with self.scope():
            return build_tunable(self.keras, self.train.images.shape[1:],
                                 self.train.num_classes, params)

    def train_trial(self, model, params: dict[str, Any], callbacks: list | None = None) -> float:
        """Train one trial for its slice of the search time; return its best val accuracy."""
        started = self.now()
        seconds = max(0.5, min(self.trial_seconds, self.search_deadline - started))
        row: dict[str, Any] = {"trial": len(self.rows), **params, "state": "complete"}
        report = FitReport()
        try:
            report = kc.fit_within_budget(
                model, self.train, self.val, Budget(seconds), batch_size=params["batch_size"],
                base_lr=params["learning_rate"], seed=self.seed, callbacks=callbacks,
            )
        except Exception as exc:  # a pruned (or failed) trial is a row too
            row["state"] = "pruned" if type(exc).__name__ == "TrialPruned" else "failed"
            raise
        finally:
            best = report.best() if report.history else None
            score = best.val_accuracy if best else None
            ended = self.now()
            row.update(val_accuracy=score, epochs=len(report.history),
                       seconds=round(ended - started, 2),
                       started_at=round(started - self.started, 2))
            self.rows.append(row)
        if score is not None and score > self.best_score:
            self.best_score, self.best_model, self.best_params = score, model, dict(params)
        return float(score or 0.0)

    def finish(self, budget: Budget, notes: list[str]) -> tuple[Any, FitReport]:
        """Continue the best trial's model until the deadline; a fresh one if none finished."""
        if self.best_model is None:
            notes.append("no trial finished in the search time: default parameters")
            self.best_params, self.best_model = dict(FALLBACK), self.build(FALLBACK)
        params = self.best_params
        report = kc.fit_within_budget(
            self.best_model, self.train, self.val, budget, batch_size=params["batch_size"],
            # a warm restart at half the trial's rate: the weights are already trained
            base_lr=0.5 * params["learning_rate"], seed=self.seed, best_score=self.best_score,
        )
        pruned = sum(r["state"] == "pruned" for r in self.rows)
        shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
        notes.append(f"{len(self.rows)} trials ({pruned} pruned) of ~{self.trial_seconds:.0f} s, "
                     f"best val {self.best_score:.3f} ({shown}); trials in {TRIALS_FILE}")
        return self.best_model, report

    def write(self, folder: Path) -> Path:
        path = folder / TRIALS_FILE
        names = list(dict.fromkeys(k for r in self.rows for k in r))
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=names)
            writer.writeheader()
            writer.writerows(self.rows)
        return path


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# -- the two proposers ------------------------------------------------------------------


def search_keras_tuner(search: BudgetedSearch, workdir: Path, seed: int) -> None:
    import keras_tuner as kt

    def declare(hp, name: str, spec: tuple):
        kind, *args = spec
        if kind == "int":
            return hp.Int(name, args[0], args[1], step=args[2])
        if kind == "choice":
            return hp.Choice(name, list(args[0]))
        return hp.Float(name, args[0], args[1], sampling="log" if kind == "log" else "linear")

    class HyperModel(kt.HyperModel):
        exploring = True  # while the tuner is made: it builds once only to read the space

        def build(self, hp):
            params = {name: declare(hp, name, spec) for name, spec in SPACE.items()}
            # (the space has no conditions: a model built then would be thrown away, on
            # the clock; 4-16 s on JAX)
            return None if self.exploring else search.build(params)

        def fit(self, hp, model, *args, **kwargs):
            # KerasTuner's own callbacks checkpoint every best epoch to disk: the
            # search keeps the best model in memory instead, so they are left out.
            score = search.train_trial(model, dict(hp.values))
            if not search.time_for_another():
                tuner.oracle.max_trials = len(tuner.oracle.trials)  # the oracle stops
            return score

    hypermodel = HyperModel()
    tuner = kt.BayesianOptimization(
        hypermodel, objective=kt.Objective("val_accuracy", "max"),
        # a generous ceiling, lowered when time runs out; few random points, since a
        # budget of minutes allows only a handful of trials
        max_trials=10_000, num_initial_points=3, seed=seed,
        directory=str(workdir), project_name="keras_tuner", overwrite=True,
    )
    hypermodel.exploring = False
    if search.time_for_another():
        tuner.search(verbose=0)


def optuna_storage(store_url: str | None):
    """Where the study lives: the store's own database when it is a server database;
    beside a SQLite store, Optuna's journal file (SQLite is not made for the parallel
    writers of several jobs, Optuna's documentation warns); in memory without a store."""
    if not store_url:
        return None
    if not store_url.startswith("sqlite"):
        return store_url
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from sqlalchemy.engine import make_url

    database = make_url(store_url).database
    if database in (None, "", ":memory:"):
        return None
    return JournalStorage(JournalFileBackend(f"{database}.optuna-journal"))


def search_optuna(search: BudgetedSearch, storage, study_name: str, seed: int) -> None:
    import optuna

    # The maintained callback imports ``keras.callbacks.Callback``, so it is a Keras 3
    # callback here (the ``tfkeras`` one would be ``tf.keras``'s).
    from optuna_integration import KerasPruningCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=3),
        # epochs are cut by time, so trials reach different epoch counts: judge a trial
        # at an epoch only against at least two others that reached it
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2,
                                           n_min_trials=2),
    )

    def suggest(trial, name: str, spec: tuple):
        kind, *args = spec
        if kind == "int":
            return trial.suggest_int(name, args[0], args[1], step=args[2])
        if kind == "choice":
            return trial.suggest_categorical(name, list(args[0]))
        return trial.suggest_float(name, args[0], args[1], log=kind == "log")

    def objective(trial) -> float:
        params = {name: suggest(trial, name, spec) for name, spec in SPACE.items()}
        model = search.build(params)
        return search.train_trial(model, params, [KerasPruningCallback(trial, "val_accuracy")])

    def stop_when_out_of_time(study, _trial) -> None:
        if not search.time_for_another():
            study.stop()

    if search.time_for_another():
        study.optimize(objective, callbacks=[stop_when_out_of_time], gc_after_trial=False)


# -- the contenders ---------------------------------------------------------------------


class KerasTuned(kc.KerasContender):
    """A small CNN whose width, depth, dropout, L2, learning rate and batch size are tuned."""

    family = "keras-tuned"
    overhead_seconds = 25.0
    defaults: ClassVar[dict[str, Any]] = {
        "search_fraction": 0.6, "trials": 6, "min_trial_seconds": 3.0,
    }

    def __init__(self, seed: int = 0, **params: Any) -> None:
        super().__init__(seed, **params)
        # Created in the worker's setup phase: imports are setup, not training.
        for module in self.requires:
            __import__(module)

    @classmethod
    def input_side(cls, side: int, budget_seconds: float, gpus: int) -> int | None:
        return kc.scratch_side(budget_seconds, gpus)

    def search(self, search: BudgetedSearch, context: JobContext) -> None:
        raise NotImplementedError

    def fit(self, train: Split, val: Split, budget: Budget, context: JobContext) -> FitReport:
        keras = kc.import_keras(self.seed)
        p = self.params
        runtime = self.start(keras, context)
        search = BudgetedSearch(keras, train, val, budget, self.seed, p["search_fraction"],
                                p["trials"], p["min_trial_seconds"], runtime.scope)
        notes: list[str] = [runtime.note] if runtime.note else []
        try:
            try:
                self.search(search, context)
            finally:
                # the job's folder: the worker deletes its work/ subfolder after the job
                self.trials_path = search.write(context.job_dir)
            self.model, report = search.finish(budget, notes)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        self.best_params = search.best_params
        report.notes = notes + report.notes
        return report

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "best": getattr(self, "best_params", None),
                "trials": str(getattr(self, "trials_path", "")) or None}


@register("keras-tuner-bayes")
class KerasTunerBayes(KerasTuned):
    """KerasTuner's Bayesian optimisation (a Gaussian process) over the space above."""

    requires = ("keras_tuner",)

    def search(self, search: BudgetedSearch, context: JobContext) -> None:
        search_keras_tuner(search, context.work_dir, self.seed)


@register("optuna-tpe")
class OptunaTPE(KerasTuned):
    """Optuna's TPE with a median pruner fed every epoch.

    The study lives with the harness's store (the job context's ``store_url``: in its
    database, or beside a SQLite store in Optuna's journal file) under the job's key, so
    machines running the same job share one study and each new trial learns from every
    machine's; without a store URL it stays in memory.
    """

    requires = ("optuna",)
    defaults: ClassVar[dict[str, Any]] = {**KerasTuned.defaults, "study": None}

    def __init__(self, seed: int = 0, **params: Any) -> None:
        super().__init__(seed, **params)
        import optuna_integration  # noqa: F401

    @classmethod
    def unavailable(cls) -> str | None:
        # Not in ``requires``: once imported, optuna_integration's lazy module has no
        # __spec__ and ``find_spec`` raises instead of answering.
        if "optuna_integration" not in sys.modules and not importlib.util.find_spec(
                "optuna_integration"):
            return "optuna_integration not installed: pip install 'harness[keras]'"
        return super().unavailable()

    def search(self, search: BudgetedSearch, context: JobContext) -> None:
        storage = optuna_storage(context.store_url)
        study = self.params["study"] or f"{self.name}/{context.job_dir.name}"
        search_optuna(search, storage, study, self.seed)
