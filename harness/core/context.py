"""What a job is given, whole and frozen, and the names of the files in its folder.

The runner writes a :class:`JobContext` into ``JOBDIR/job.json`` beside the job; the
worker reads it back and hands it to the contender's ``prepare`` and ``fit``. It is
the only configuration a contender gets: no contender reads the environment. The one
secret, the store URL's password, never reaches the file: ``job.json`` holds the URL
masked and the worker gets it whole in :data:`STORE_URL_VARIABLE`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

#: the variable that hands the store's URL, password and all, to the worker process: the
#: job file carries it masked, since a job folder is read by anyone the disk lets in
STORE_URL_VARIABLE = "HARNESS_JOB_STORE_URL"

# the job folder: RUNS_DIR/<job-key>/
JOB_FILE = "job.json"  # the job and its context, written by the runner
PHASE_FILE = "phase.json"  # setup | train | eval, with the time it began
RESULT_FILE = "result.json"  # the row, written last and atomically: the job is done
LOG_FILE = "worker.log"
HISTORY_FILE = "history.csv"  # the learning curve, one line per epoch
PREDICTIONS_FILE = "test_predictions.npz"
EXAMPLES_FILE = "examples.npz"  # test images picked for the prediction grids
EXPLAIN_FILE = "explain.npz"  # Grad-CAM heatmaps and feature maps, where the model has them
TRIALS_FILE = "trials.csv"  # a tuner's trials
WORK_DIR = "work"  # the contender's scratch folder, removed when the job ends
MODEL_DIR = "model"


@dataclass(frozen=True)
class JobContext:
    """Everything a contender may know about where and how its job runs.

    ``data_dir`` is the dataset cache's root; ``cache_dir`` is where a contender keeps
    what it derives from the data (AutoMM's image files), shared across jobs;
    ``weights_dir`` the folder of pretrained weights files the user gave (``None``: the
    libraries' own caches only); ``offline`` forbids downloads, ``offline_reason`` says
    why in a clause (:func:`harness.core.network.offline_reason`); ``store_url`` is the
    results store, where tuners keep their studies.
    """

    job_dir: Path
    seed: int = 0
    gpu_ids: tuple[str, ...] = ()
    data_dir: Path | None = None
    cache_dir: Path | None = None
    weights_dir: Path | None = None
    store_url: str = ""
    offline: bool = False
    offline_reason: str = ""
    keep_models: bool = False

    @property
    def work_dir(self) -> Path:
        """The contender's scratch folder (removed when the job ends)."""
        return self.job_dir / WORK_DIR

    @property
    def why_offline(self) -> str:
        """``no network (... cannot be reached)`` or ``HARNESS_OFFLINE is set``."""
        return self.offline_reason or "HARNESS_OFFLINE or HF_HUB_OFFLINE is set"

    @property
    def gpus(self) -> int:
        return len(self.gpu_ids)

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobContext:
        paths = {"job_dir", "data_dir", "cache_dir", "weights_dir"}
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            v = data[f.name]
            values[f.name] = (Path(v) if v is not None else None) if f.name in paths else v
        values["gpu_ids"] = tuple(values.get("gpu_ids", ()))
        return cls(**values)
