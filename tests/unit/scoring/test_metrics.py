import numpy as np
import pytest

from harness.scoring.inference import measure as measure_inference
from harness.scoring.metrics import check_proba, score


def test_score_known_values():
    proba = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.0, 0.0, 1.0]])
    labels = np.array([0, 1, 1, 2])
    s = score(proba, labels, 3)
    assert s["accuracy"] == pytest.approx(0.75)
    assert s["top5_accuracy"] is None  # fewer than 20 classes
    expected_loss = -np.mean(np.log([0.9, 0.7, 0.3, 1.0]))
    assert s["log_loss"] == pytest.approx(expected_loss, rel=1e-6)
    # class 0: P=1/2 R=1 F=2/3; class 1: P=1 R=1/2 F=2/3; class 2: F=1
    assert s["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_top5_with_many_classes():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(25), size=200)
    labels = np.argsort(-proba, axis=1)[:, 4]  # always the fifth most likely
    s = score(proba, labels, 25)
    assert s["accuracy"] == 0.0
    assert s["top5_accuracy"] == 1.0


@pytest.mark.parametrize("bad", [
    np.ones((4, 2)) / 2,                      # wrong class count
    np.full((4, 3), np.nan),                  # diverged
    np.array([[1.0, 1.0, 0.0]] * 4),          # rows do not sum to 1
])
def test_check_proba_refuses(bad):
    with pytest.raises(ValueError):
        check_proba(bad, 4, 3)


def test_measure_inference_reports_latency_and_throughput():
    images = np.zeros((10, 8, 8, 1), np.uint8)
    calls = []

    def predict(x):
        calls.append(len(x))
        return np.full((len(x), 2), 0.5)

    m = measure_inference(predict, images, single_calls=20, batch_size=64, seconds=2)
    assert 0 < m["latency_p50_ms"] <= m["latency_p95_ms"]
    assert m["throughput_per_s"] > 0
    # 5 warm-up calls, then the test set once, one image at a time (DAWNBench)
    assert calls.count(1) == 5 + 10 and m["latency_images"] == 10 and 64 in calls
