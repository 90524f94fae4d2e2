"""A coarse guard on the Keras training loop's speed: never under half of plain ``fit``.

Both ways run side by side on this machine (each in a fresh process, as jobs run), so
that a busy machine slows both alike; a twofold regression of the loop fails, the noise
of a shared machine does not. The figures themselves come from
``tests/bench/bench_keras_throughput.py``.
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.bench.bench_keras_throughput import MODELS, run_child

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                       reason="TensorFlow not installed: pip install 'harness[keras]'"),
]
SHAPE = dict(size=28, channels=1, classes=10, train=3000, val=300)
#: seconds a run: enough for steps after the first (MobileNet traces its step for ~10 s)
SECONDS = {"mobilenet-scratch": 20.0}


@pytest.mark.parametrize("model", MODELS.split(","))
def test_the_training_loop_keeps_at_least_half_the_speed_of_plain_fit(model):
    ratios = []
    for _ in range(2):  # a second pair only where the first looks slow (a noisy moment)
        seconds = SECONDS.get(model, 6.0)
        plain = run_child(model, "tensorflow", "plain", seconds=seconds, **SHAPE)
        ours = run_child(model, "tensorflow", "harness", seconds=seconds, **SHAPE)
        assert plain["rate"] > 0, f"{model}: plain fit took no step after the first"
        ratios.append(ours["rate"] / plain["rate"])
        if ratios[-1] >= 0.5:
            break
    assert max(ratios) >= 0.5, (
        f"{model}: the harness's loop trains at {max(ratios):.2f}x plain fit's images/s")
