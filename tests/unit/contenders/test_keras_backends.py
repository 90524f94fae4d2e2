"""Keras on several backends: the option, the jobs, the input pipeline, the GPU guard."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

from harness.core.config import RunConfig
from harness.core.context import JOB_FILE, RESULT_FILE, JobContext
from harness.core.errors import HarnessError
from harness.core.jobs import Job, Result, Runtime, Status
from harness.core.options import BY_FIELD
from tests.conftest import harness_env

OPTION = BY_FIELD["keras_backends"]


def test_backend_option_takes_one_or_a_comma_list_and_refuses_others():
    assert OPTION.parse("jax") == ("jax",)
    assert OPTION.parse("torch, jax,torch") == ("torch", "jax")
    assert OPTION.parse(["tensorflow", "jax"]) == ("tensorflow", "jax")  # a suite's list
    assert OPTION.value_default == ("auto",)
    for bad in ("mxnet", "jax,,", "", []):
        with pytest.raises(HarnessError, match="--keras-backend"):
            OPTION.parse(bad)


def _hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()
                          ).hexdigest()[:16]


def test_a_job_without_a_backend_keeps_the_key_it_had_before_backends():
    job = Job("digits", "sklearn-logreg", 0, 1, 0, 15.0)
    later = ("backend", "image_size")  # fields added since, left out while unset
    assert job.key == _hash({k: v for k, v in asdict(job).items() if k not in later})
    jax = Job("digits", "keras-shallow", 0, 1, 0, 15.0, backend="jax")
    torch = Job("digits", "keras-shallow", 0, 1, 0, 15.0, backend="torch")
    assert len({jax.key, torch.key, Job("digits", "keras-shallow", 0, 1, 0, 15.0).key}) == 3


def test_a_job_with_a_backend_keeps_the_key_it_had_when_the_field_was_keras_backend():
    """The field was renamed (the core names no framework): keys and stored rows stay."""
    job = Job("digits", "keras-shallow", 0, 1, 0, 15.0, backend="jax")
    fields = {k: v for k, v in asdict(job).items() if k not in ("backend", "image_size")}
    assert job.key == _hash({**fields, "keras_backend": "jax"})  # as written before
    # job files written before are read under today's name, with the same key
    assert Job.from_dict({**fields, "keras_backend": "jax"}) == job
    # and so are rows: a family's facts, once top-level fields, now in its Runtime
    old_row = {**Result.for_job(job, Status.OK).to_dict(), "keras_backend": "jax",
               "precision": "float32", "jit_compile": "xla"}
    del old_row["runtime"]
    row = Result.from_dict(old_row)
    assert row.runtime == Runtime(backend="jax", precision="float32", compiler="xla")
    assert Result.from_dict(row.to_dict()) == row


def test_the_plan_runs_keras_contenders_once_per_backend_and_others_once():
    from harness.execution.plan import backends

    config = RunConfig(dataset="digits", contenders=("keras-shallow", "sklearn-logreg"),
                       budget_seconds=5.0, keras_backends=("torch", "jax"))
    jobs = config.jobs(backends(config))
    assert [(j.contender, j.backend) for j in jobs] == [
        ("keras-shallow", "torch"), ("keras-shallow", "jax"), ("sklearn-logreg", None)]
    auto = RunConfig(dataset="digits", contenders=("keras-shallow",), budget_seconds=5.0)
    from baselines.keras import KERAS

    (job,) = auto.jobs(backends(auto))
    assert job.backend == KERAS.installed_backends()[0] == "tensorflow"
    # with GPUs, the backends whose CUDA wheels the gpu extra brings come first
    on_gpus = RunConfig(dataset="digits", contenders=("keras-shallow",), budget_seconds=5.0,
                        gpus=1)
    assert on_gpus.jobs(backends(on_gpus))[0].backend == "jax"
    # a contender that cannot run on a backend: auto picks the next
    nasnet = RunConfig(dataset="digits", contenders=("nasnetmobile-frozen",),
                       budget_seconds=5.0, gpus=1, keras_backends=("auto", "torch"))
    assert [j.backend for j in nasnet.jobs(backends(nasnet))] == ["jax", "torch"]


def _split(n=50, size=8, classes=3):
    from harness.data import Split

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 1)).astype(np.uint8)
    images[:, :, 0] = np.arange(n)[:, None, None] % 256  # column 0 names the image
    return Split(images, np.arange(n) % classes, classes)


def test_batches_are_full_one_hot_and_reshuffled_every_epoch():
    from baselines import keras as kc

    split = _split()
    batches = kc.make_batches(split, 16, training=True, seed=1)
    assert batches.num_batches is None and len(batches) == 3  # infinite, 3 full per epoch
    epochs = [[batches[e * 3 + i] for i in range(3)] for e in range(2)]
    for images, onehot in epochs[0]:
        assert images.shape == (16, 8, 8, 1) and images.dtype == np.uint8
        assert onehot.shape == (16, 3) and np.all(onehot.sum(1) == 1)
    ids = [np.concatenate([im[:, 0, 0, 0] for im, _ in epoch]) for epoch in epochs]
    assert len(set(ids[0])) == 48  # no image twice in an epoch
    assert not np.array_equal(ids[0], ids[1])  # a new order each epoch
    images, onehot = epochs[0][0]
    assert np.array_equal(onehot.argmax(1), images[:, 0, 0, 0] % 3)  # labels follow images

    evaluation = kc.make_batches(split, 16, training=False)
    assert evaluation.num_batches == 4  # in order, the last one partial
    assert len(evaluation[3][0]) == 2 and evaluation[0][0][5, 0, 0, 0] == 5


def test_flips_follow_the_switch_and_shifts_keep_the_shape():
    from baselines import keras as kc
    from harness.data import Split

    images = np.zeros((32, 8, 8, 1), np.uint8)
    images[:, :, 0] = 255  # a bright left column: a mirrored image has it on the right
    split = Split(images, np.arange(32) % 2, 2)
    switch = kc.Switch(False)
    batches = kc.make_batches(split, 32, training=True, seed=0, flip_switch=switch,
                              augment=kc.Augment(flip="auto"))
    assert not batches[0][0][:, :, -1].any()  # off: nothing mirrored
    switch.assign(True)
    mirrored = [int(batches[i][0][:, :, -1].all(axis=(1, 2)).sum()) for i in range(1, 4)]
    assert all(0 < m < 32 for m in mirrored)  # on: about half of each batch

    dot = np.zeros((16, 9, 9, 1), np.uint8)
    dot[:, 4, 4] = 255
    shifted = kc.make_batches(Split(dot, np.arange(16) % 2, 2), 16, training=True, seed=3,
                              augment=kc.Augment(translate=2))
    places = set()
    for i in range(12):
        out = shifted[i][0]
        assert out.shape == dot.shape
        y, x = np.argwhere(out[0, :, :, 0] == 255)[0]
        assert abs(y - 4) <= 2 and abs(x - 4) <= 2
        places.add((int(y), int(x)))
    assert len(places) > 1  # it moves


def test_the_gpu_guard_names_the_fix(monkeypatch):
    from baselines import keras as kc
    from baselines.automm import AUTOMM
    from baselines.keras import family

    message = kc.KERAS.check_gpus(1)  # this machine has no GPU: the job was given one
    assert message and "sees no GPU" in message and "--gpus 0" in message
    assert kc.BACKEND_NAMES[kc.backend()] in message
    monkeypatch.setattr(family, "visible_gpus", lambda name=None: 2)
    assert "sees 2 GPUs but the job was given 1" in kc.KERAS.check_gpus(1)
    assert kc.KERAS.check_gpus(2) is None
    assert "PyTorch sees no GPU" in AUTOMM.check_gpus(1)


def _worker_row(job: Job, tmp_path, **context) -> dict:
    """``job`` run by the worker in its own process, as the runner starts it: its row."""
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    spec = JobContext(job_dir=jobdir, data_dir=tmp_path / "data", **context)
    (jobdir / JOB_FILE).write_text(json.dumps(
        {"job": asdict(job), "key": job.key, "context": spec.to_dict()}))
    done = subprocess.run([sys.executable, "-m", "harness.execution.worker", str(jobdir)],
                          env=harness_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((jobdir / RESULT_FILE).read_text())


@pytest.mark.slow
def test_a_job_whose_backend_sees_no_granted_gpu_is_an_error_row_before_training(tmp_path):
    """The worker checks before the clock starts; the row names the fix, nothing trains."""
    job = Job("digits", "keras-shallow", 0, 1, 0, 5.0, gpus=1, backend="jax")
    row = _worker_row(job, tmp_path, gpu_ids=("0",))
    assert row["status"] == "error"
    assert "JAX sees no GPU but the job was given 1" in row["message"]
    assert "--keras-backend torch" in row["message"]  # the fix
    assert row.get("train_seconds") is None and row["runtime"]["backend"] == "jax"


@pytest.mark.slow
def test_a_backend_the_contender_cannot_run_on_is_a_skipped_row_that_says_why(tmp_path):
    job = Job("digits", "nasnetmobile-frozen", 0, 1, 0, 5.0, backend="torch")
    row = _worker_row(job, tmp_path, offline=True)
    assert row["status"] == "skipped"
    assert "not on PyTorch" in row["message"] and "--keras-backend tensorflow, jax" in row[
        "message"]


def test_the_runtime_records_precision_and_the_gpus_really_used():
    """On this CPU: float32, nothing distributed; two GPUs granted on TensorFlow make a
    mirrored strategy, and the row's gpus_used says how many replicas it really has."""
    from baselines import keras as kc

    keras = kc.import_keras(0)
    try:
        cpu = kc.runtime(keras, 0)
        assert (cpu.precision, cpu.distribution, cpu.gpus_used) == ("float32", "none", 0)
        assert keras.mixed_precision.global_policy().name == "float32"
        assert kc.runtime(keras, 0, "mixed_bfloat16").precision == "mixed_bfloat16"
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        with pytest.raises(ValueError, match="precision must be one of"):
            kc.runtime(keras, 0, "float8")
        if kc.backend() == "tensorflow":
            two = kc.runtime(keras, 2)
            assert two.distribution == "mirrored" and two.strategy is not None
            assert two.gpus_used == two.strategy.num_replicas_in_sync < 2  # no GPU here
            assert two.describe()["gpus_used"] == two.gpus_used
    finally:
        keras.mixed_precision.set_global_policy("float32")
