"""The timed path: one measurement for everyone, and the watch on image encoders."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from harness.scoring.inference import encoders_watched, measure


def test_the_watch_sees_an_encoder_and_puts_it_back():
    original = Image.Image.save
    image = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    with encoders_watched() as called:
        np.asarray(image)  # wrapping arrays is no encoding
        assert called == []
        image.save(io.BytesIO(), format="PNG")  # what AutoMM's prediction used to do
    assert called == ["PIL.Image.Image.save"]
    assert Image.Image.save is original


def test_latency_is_the_mean_over_the_test_set_one_image_at_a_time():
    seen: list[int] = []

    def predict(images):
        seen.append(len(images))
        return np.full((len(images), 2), 0.5)

    images = np.zeros((37, 4, 4, 1), np.uint8)
    got = measure(predict, images, warmup=2, batch_size=16, seconds=5.0)
    assert got["latency_images"] == 37  # every test image, once, one at a time
    assert seen[:2 + 37] == [1] * (2 + 37)
    assert 0 < got["latency_p50_ms"] <= got["latency_p95_ms"]
    assert got["latency_mean_ms"] > 0 and got["throughput_per_s"] > 0
    few = measure(predict, images[:3], warmup=1, batch_size=4, seconds=1.0)
    assert few["latency_images"] == 10  # at least 10 timed calls, going round again
