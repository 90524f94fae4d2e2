"""Our rows in the column layout of the OpenML AutoML Benchmark's ``results.csv``.

AMLB's reporting tools (and AutoGluon's bench/dashboard, which read the same file)
group by ``task``, ``framework``, ``constraint`` and ``fold`` and rank by ``result``,
where higher is better. We map: task = dataset, framework = contender, constraint =
budget and GPUs (and the train-set cap), result = test accuracy (metric ``acc``).
A row that did not finish keeps its status and reason in ``info`` and no result,
as AMLB writes a failed job.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime
from pathlib import Path

from harness.core.budget import format_duration
from harness.core.jobs import Result, Status

AMLB_COLUMNS = ("id", "task", "framework", "constraint", "fold", "type", "result", "metric",
                "mode", "version", "params", "app_version", "utc", "duration",
                "training_duration", "predict_duration", "models_count", "seed", "info")
# one column per metric, AMLB's names where it has one
METRIC_COLUMNS = ("acc", "top5_acc", "f1_macro", "logloss")
FORMATS = ("amlb",)

# the library whose version is the framework's version, per family
_FAMILY_PACKAGE = {"keras-cnn": "tensorflow", "keras-tuned": "keras-tuner",
                   "automm": "autogluon.multimodal", "sklearn": "scikit-learn"}


def constraint(r: Result) -> str:
    """``60s-0gpu`` (AMLB names constraints like ``1h8c``): the budget a row had."""
    name = f"{format_duration(r.budget_seconds)}-{r.gpus}gpu"
    return name + (f"-max{r.max_train_per_class}" if r.max_train_per_class else "")


def _num(value: float | None) -> float | str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _utc(r: Result) -> str:
    stamp = r.finished_at or r.started_at
    try:
        return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return stamp


def amlb_row(r: Result, harness_version: str) -> dict[str, object]:
    env = r.environment or {}
    packages = env.get("packages") or {}
    version = packages.get(_FAMILY_PACKAGE.get(r.family, ""), "") or harness_version
    ok = r.status is Status.OK
    parts = [r.setup_seconds, r.train_seconds, r.eval_seconds]
    duration = sum(p for p in parts if p is not None) if any(p is not None for p in parts) \
        else None
    # the time to predict the whole test split at the measured batch throughput
    predict = r.n_test / r.throughput_per_s if ok and r.n_test and r.throughput_per_s else None
    commit = env.get("git_commit") or "NA"
    info = "" if ok else f"{r.status.value}: {r.message}".strip()
    row: dict[str, object] = {
        "id": f"harness/{r.dataset}",
        "task": r.dataset,
        "framework": r.contender,
        "constraint": constraint(r),
        "fold": r.fold,
        "type": "binary" if r.num_classes == 2 else "multiclass",
        "result": _num(r.test_accuracy) if ok else "",
        "metric": "acc",
        "mode": "local",
        "version": version,
        "params": json.dumps(r.params, sort_keys=True) if r.params else "",
        "app_version": f"harness {harness_version} [{commit}]",
        "utc": _utc(r),
        "duration": _num(duration),
        "training_duration": _num(r.train_seconds),
        "predict_duration": _num(predict),
        "models_count": 1 if ok else "",
        "seed": r.seed,
        "info": " ".join(info.split())[:500],
    }
    metrics = {"acc": r.test_accuracy, "top5_acc": r.test_top5_accuracy,
               "f1_macro": r.test_macro_f1, "logloss": r.test_log_loss}
    row.update({k: _num(metrics[k]) if ok else "" for k in METRIC_COLUMNS})
    return row


def write_amlb(results: list[Result], path: Path) -> int:
    """Write ``results.csv`` in AMLB's layout; returns the number of rows."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        harness_version = version("harness")
    except PackageNotFoundError:
        harness_version = "dev"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*AMLB_COLUMNS, *METRIC_COLUMNS])
        writer.writeheader()
        for r in results:
            writer.writerow(amlb_row(r, harness_version))
    return len(results)
