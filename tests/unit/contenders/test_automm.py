"""The AutoMM contenders: budget planning, the PNG cache, missing weights, a real run.

The contract test (tests/test_contract.py) covers fit/predict/describe/save on synthetic
data; conftest gives every AutoMM test random-initialised stand-in weights.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from baselines.automm import (
    MIN_TIME_LIMIT,
    OverheadLog,
    after_training_seconds,
    locate_weights,
    plan_time_limit,
    png_paths,
    should_stop,
)
from harness.contenders import ContenderUnavailable
from harness.core.context import JobContext
from tests.conftest import run_cli, store_rows

needs_automm = pytest.mark.skipif(
    importlib.util.find_spec("autogluon.multimodal") is None,
    reason="AutoMM not installed: pip install 'harness[automm]'",
)


def test_time_limit_is_the_budget_left_minus_the_measured_overhead(tmp_path):
    log = OverheadLog(tmp_path / "overheads.json")
    key = "mobilenetv3_small_100@32px/0gpu/val135"
    # nothing measured yet: a guess that grows with the budget
    assert log.estimate(key, 60.0) == pytest.approx(9.0) and log.after(key) is None
    assert plan_time_limit(60.0, log.estimate(key, 60.0)) == 51.0
    for before, after in ((9.0, 20.0), (5.0, 8.0), (4.0, 6.0), (3.0, 7.0)):  # last 3 count
        log.record(key, before, after)
    assert log.after(key) == pytest.approx(7.0)
    assert log.estimate(key, 60.0) == pytest.approx(4.0 + 7.0)
    assert plan_time_limit(55.0, log.estimate(key, 55.0)) == 44.0
    # per backbone, size, device and validation size: another key still gets the guess
    assert log.estimate("resnet18@32px/0gpu/val135", 60.0) == pytest.approx(9.0)
    # the next job reads what this one wrote
    assert OverheadLog(tmp_path / "overheads.json").estimate(key, 60.0) == pytest.approx(11.0)
    # never zero or negative, whatever the overhead
    assert plan_time_limit(5.0, 30.0) == MIN_TIME_LIMIT


def test_training_stops_while_what_follows_it_still_fits():
    # validations of 1 s: the last one, 2 soup evaluations, averaging and saving
    assert after_training_seconds(1.0, top_k=3) == pytest.approx(4.5)
    assert after_training_seconds(2.0, top_k=3) > after_training_seconds(1.0, top_k=3)
    after = after_training_seconds(1.0)
    deadline = 100.0
    # a step (0.5 s) + a validation that may be due (1 s) + what follows must end in time
    assert not should_stop(deadline - after - 1.5 - 0.01, deadline, 0.5, 1.0)
    assert should_stop(deadline - after - 1.5 + 0.01, deadline, 0.5, 1.0)
    # a slower validation stops training earlier
    assert should_stop(deadline - after - 1.5 - 0.01, deadline, 0.5, 2.0)
    # so does a longer aftermath measured on earlier fits, but a shorter one does not
    # make this run's prediction any smaller
    assert should_stop(deadline - after - 1.5 - 0.01, deadline, 0.5, 1.0, learned_after=9.0)
    assert not should_stop(deadline - after - 1.5 - 0.01, deadline, 0.5, 1.0, learned_after=2.0)


def test_images_are_written_once_as_rgb_png(tmp_path):
    from PIL import Image

    gray = np.arange(2 * 8 * 8, dtype=np.uint8).reshape(2, 8, 8, 1)
    paths = png_paths(gray, tmp_path)
    assert len(paths) == 2 and all(Path(p).is_file() for p in paths)
    with Image.open(paths[1]) as im:
        assert im.mode == "RGB" and im.size == (8, 8)
        assert np.array_equal(np.asarray(im)[..., 0], gray[1, ..., 0])
    stamp = Path(paths[0]).stat().st_mtime_ns
    assert png_paths(gray.copy(), tmp_path) == paths  # same content: same files
    assert Path(paths[0]).stat().st_mtime_ns == stamp  # not written again
    assert png_paths(gray[::-1].copy(), tmp_path) != paths  # other content: other files
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_weights_come_from_the_weights_dir_or_a_skip_naming_the_folder(
    tmp_path, monkeypatch, automm_weights
):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    given = JobContext(job_dir=tmp_path, weights_dir=automm_weights, offline=True)
    assert locate_weights("mobilenetv3_small_100", given) == str(
        automm_weights / "mobilenetv3_small_100")
    empty = JobContext(job_dir=tmp_path, weights_dir=tmp_path / "empty", offline=True)
    with pytest.raises(ContenderUnavailable) as info:
        locate_weights("mobilenetv3_small_100", empty)
    message = str(info.value)
    assert "mobilenetv3_small_100" in message and "HF_HUB_OFFLINE" in message
    assert str(tmp_path / "empty" / "mobilenetv3_small_100") in message
    assert "pytorch_model.bin" in message and "config.json" in message


@needs_automm
def test_missing_weights_offline_make_a_skipped_row(tmp_path):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    done = run_cli(
        ["run", "-d", "digits", "-b", "10s", "-c", "automm-medium", "--weights-dir", str(empty)],
        tmp_path,
        HF_HOME=str(tmp_path / "hf"),
        HARNESS_DATA=str(tmp_path / "data"),
    )
    assert done.returncode == 0, done.stderr
    ((_, _, status),) = store_rows(tmp_path / "results/harness.sqlite")
    (result,) = (tmp_path / "results/runs").glob("*/result.json")
    message = json.loads(result.read_text())["message"]
    assert status == "skipped", message
    assert "mobilenetv3_small_100" in message and str(empty / "mobilenetv3_small_100") in message


@pytest.mark.slow
@pytest.mark.serial
def test_digits_run_trains_within_five_percent_of_its_budget(tmp_path, automm_weights):
    done = run_cli(
        [
            "run",
            "-d",
            "digits",
            "-b",
            "60s",
            "-c",
            "automm-medium",
            "--weights-dir",
            str(automm_weights),
            "--keep-models",
        ],
        tmp_path,
        timeout=900,
        HARNESS_PLUGINS="",
        HARNESS_DATA=str(tmp_path / "data"),
    )
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "leaderboards/digits.csv") as fh:
        (row,) = [r for r in csv.DictReader(fh) if r["contender"] == "automm-medium"]
    assert row["status"] == "ok", row
    train_seconds = float(row["train_seconds"])
    assert 60 * 0.75 <= train_seconds <= 60 * 1.05, train_seconds
    assert float(row["latency_p50_ms"]) > 0
    # even from random stand-in weights the small backbone learns digits (84-90 % seen):
    # far above chance (10 %), so labels and probability columns line up
    assert float(row["test_accuracy"]) > 30, row["test_accuracy"]
    (result,) = (tmp_path / "results/runs").glob("*/result.json")
    data = json.loads(result.read_text())
    assert data["description"]["backbone"] == "mobilenetv3_small_100"
    assert data["description"]["image_size"] == 64  # digits' 8 px, upscaled: 2x2 at the end
    with open(result.parent / "history.csv") as fh:
        curve = list(csv.DictReader(fh))
    assert curve and all(float(e["val_accuracy"]) >= 0 for e in curve)
    assert (result.parent / "model" / "model.ckpt").is_file()  # --keep-models


@needs_automm
def test_several_gpus_stop_on_lightnings_timer_for_the_time_left():
    """DDP ranks run in other processes: a Timer every rank checks after each step."""
    import lightning.pytorch  # noqa: F401  (imported before the clock starts)

    from baselines.automm.budget import timer_callback as _timer_callback
    from harness.core.budget import Budget

    budget = Budget(100.0, gpus=2)
    timer = _timer_callback(budget, after=12.0)
    assert type(timer).__name__ == "Timer" and timer._interval == "step"
    assert 86.0 <= timer._duration <= 88.0  # the time left less what follows training
    guessed = _timer_callback(budget, after=None)  # nothing measured: a fifth held back
    assert 78.0 <= guessed._duration <= 80.0
