"""A coarse guard on the Keras training loop's speed: never under half of plain ``fit``.

Both ways run side by side on this machine (each in a process of its own, as jobs run,
forked from one that imported Keras once), so that a busy machine slows both alike; a
twofold regression of the loop fails, the noise of a shared machine does not. It still
runs alone (serial): beside another test, plain ``fit`` of keras-cnn6 once took no step
after its traced first one in 6 s. The figures themselves come from
``tests/bench/bench_keras_throughput.py``.
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.bench.bench_keras_throughput import MODELS, Forks

pytestmark = [
    pytest.mark.slow,
    pytest.mark.serial,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                       reason="TensorFlow not installed: pip install 'harness[keras]'"),
]
SHAPE = dict(size=28, channels=1, classes=10, train=3000, val=300)
#: seconds a run: enough for steps after the first (MobileNet traces its step for ~10 s;
#: on a slow day plain fit of keras-deep traced its own for all of a 6 s run)
SECONDS = {"mobilenet-scratch": 20.0}
DEFAULT_SECONDS = 12.0


@pytest.fixture(scope="module")
def forks():
    forks = Forks("tensorflow")
    yield forks
    forks.close()


@pytest.mark.parametrize("model", MODELS.split(","))
def test_the_training_loop_keeps_at_least_half_the_speed_of_plain_fit(model, forks):
    ratios = []
    for _ in range(2):  # a second pair only where the first looks slow (a noisy moment)
        seconds = SECONDS.get(model, DEFAULT_SECONDS)
        plain = forks.run(model, "plain", seconds=seconds, **SHAPE)
        ours = forks.run(model, "harness", seconds=seconds, **SHAPE)
        assert plain["rate"] > 0, f"{model}: plain fit took no step after the first"
        ratios.append(ours["rate"] / plain["rate"])
        if ratios[-1] >= 0.5:
            break
    assert max(ratios) >= 0.5, (
        f"{model}: the harness's loop trains at {max(ratios):.2f}x plain fit's images/s")
