"""The evaluation protocol: one typed outcome for the worker and the contract check."""

from __future__ import annotations

import io

import numpy as np
import pytest

from harness.contenders import Contender, FitReport, register
from harness.contenders.testing import tiny_splits
from harness.core.context import HISTORY_FILE, MODEL_DIR, PREDICTIONS_FILE, JobContext
from harness.core.jobs import Job, Result, Runtime, Status
from harness.scoring.protocol import Data, evaluate, to_result


class _Mean(Contender):
    """Nearest class mean: learns the tiny data in a blink."""

    family = "test"

    def fit(self, train, val, budget, context):
        x = train.images.reshape(len(train), -1).astype(np.float64)
        self.k = train.num_classes
        self.means = np.stack([x[train.labels == c].mean(0) for c in range(self.k)])
        return FitReport(images_seen=len(train))

    def predict_proba(self, images):
        x = images.reshape(len(images), -1).astype(np.float64)
        d = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)
        e = np.exp(-(d - d.min(1, keepdims=True)) / d.std())
        return e / e.sum(1, keepdims=True)

    def describe(self):
        return {"params": {}, "parameters": int(self.means.size), "backend": "numpy",
                "precision": "float32"}

    def save(self, path):
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "means.npy", self.means)
        return path / "means.npy"


@register("protocol-mean")
class Mean(_Mean):
    pass


@register("protocol-no-report")
class NoReport(_Mean):
    def fit(self, train, val, budget, context):
        super().fit(train, val, budget, context)
        return None


@register("protocol-one-image")
class OneImageFlat(_Mean):
    def predict_proba(self, images):
        proba = super().predict_proba(images)
        return proba[0] if len(images) == 1 else proba


@register("protocol-no-params")
class NoParams(_Mean):
    def describe(self):
        return {"parameters": 3}


@register("protocol-lost-save")
class LostSave(_Mean):
    def save(self, path):
        return path / "nowhere.bin"


@register("protocol-encodes")
class Encodes(_Mean):
    def predict_proba(self, images):
        from PIL import Image

        Image.fromarray(images[0]).save(io.BytesIO(), format="PNG")
        return super().predict_proba(images)


@register("protocol-nan")
class Nan(_Mean):
    def predict_proba(self, images):
        return np.full((len(images), self.k), np.nan)


def _run(name: str, tmp_path, **kwargs):
    job = Job(dataset="tiny", contender=name, fold=0, folds=1, seed=0, budget_seconds=5.0)
    context = JobContext(job_dir=tmp_path, data_dir=tmp_path, cache_dir=tmp_path)
    names = ("square", "round", "flat")
    phases: list[str] = []
    outcome = evaluate(job, lambda: Data(*tiny_splits(), class_names=names), context,
                       phase=phases.append, timing={"seconds": 0.2}, **kwargs)
    return job, outcome, phases


def test_an_outcome_carries_every_measurement_and_becomes_the_row(tmp_path):
    job, outcome, phases = _run("protocol-mean", tmp_path, outputs=tmp_path)
    assert outcome.status is Status.OK, outcome.message
    assert phases == ["setup", "train", "eval"]
    assert (outcome.n_train, outcome.n_val, outcome.n_test) == (36, 12, 18)
    assert outcome.image_shape == [32, 32, 3] and outcome.num_classes == 3
    assert outcome.scores["test_accuracy"] == 1.0 and outcome.scores["val_accuracy"] == 1.0
    assert set(outcome.scores["test_class_accuracy"]) == {"square", "round", "flat"}
    assert outcome.timing["latency_images"] >= 10 and outcome.timing["throughput_per_s"] > 0
    assert outcome.encoders_called == ()
    assert outcome.runtime == Runtime(backend="numpy", precision="float32")
    assert outcome.proba.shape == (18, 3)
    assert outcome.description["images_seen"] == 36
    assert outcome.gpus_used == 0 and outcome.parameters == 3 * 32 * 32 * 3
    assert outcome.saved == tmp_path / MODEL_DIR / "means.npy"
    assert outcome.model_bytes == outcome.saved.stat().st_size
    for name in (HISTORY_FILE, PREDICTIONS_FILE):
        assert (tmp_path / name).exists()
    row = to_result(job, outcome, artifacts=str(tmp_path), peak_rss_mb=1.0)
    assert isinstance(row, Result) and row.status is Status.OK
    assert row.job_key == job.key and row.family == "test"
    assert row.test_accuracy == 1.0 and row.val_accuracy == 1.0
    assert row.latency_mean_ms == outcome.timing["latency_mean_ms"]
    assert row.runtime == outcome.runtime and row.model_bytes == outcome.model_bytes
    assert row.artifacts == str(tmp_path) and row.peak_rss_mb == 1.0
    assert Result.from_dict(row.to_dict()) == row


def test_without_a_folder_nothing_is_written(tmp_path):
    _, outcome, _ = _run("protocol-mean", tmp_path)
    assert outcome.status is Status.OK
    assert outcome.saved is None and outcome.model_bytes is None
    assert not (tmp_path / HISTORY_FILE).exists() and not (tmp_path / MODEL_DIR).exists()


@pytest.mark.parametrize(("name", "said"), [
    ("protocol-no-report", "fit must return a FitReport"),
    ("protocol-one-image", "predict_proba of one image returned shape (3,)"),
    ("protocol-no-params", "describe() must return a dict with 'params'"),
    ("protocol-lost-save", "which does not exist"),
    ("protocol-nan", "diverged: predict_proba returned NaN"),
])
def test_a_broken_contract_is_an_error_row_that_says_which_rule(tmp_path, name, said):
    job, outcome, _ = _run(name, tmp_path, outputs=tmp_path)
    assert outcome.status is Status.ERROR
    assert said in outcome.message
    assert outcome.traceback_tail
    row = to_result(job, outcome)
    assert row.status is Status.ERROR and said in row.message
    if name != "protocol-no-report":  # it trained: the time stays in the row
        assert row.train_seconds is not None and row.n_train == 36


def test_an_encoder_on_the_timed_path_is_named(tmp_path):
    _, outcome, _ = _run("protocol-encodes", tmp_path)
    assert outcome.status is Status.OK
    assert outcome.encoders_called == ("PIL.Image.Image.save",)
    assert "its timed prediction encodes images (PIL.Image.Image.save)" in outcome.message


def test_a_failure_in_setup_keeps_the_job_s_fields(tmp_path):
    job = Job(dataset="tiny", contender="protocol-mean", fold=0, folds=1, seed=0,
              budget_seconds=5.0, backend="tensorflow")
    context = JobContext(job_dir=tmp_path, data_dir=tmp_path, cache_dir=tmp_path)

    def missing() -> Data:
        raise FileNotFoundError("no such dataset")

    outcome = evaluate(job, missing, context)
    assert outcome.status is Status.ERROR and outcome.stage == "setup"
    assert outcome.message == "setup: FileNotFoundError: no such dataset"
    row = to_result(job, outcome)
    assert row.family == "test" and row.runtime.backend == "tensorflow"
    assert row.n_train is None and row.test_accuracy is None
