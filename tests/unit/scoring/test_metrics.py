import numpy as np
import pytest

from harness.scoring.inference import measure as measure_inference
from harness.scoring.metrics import (
    check_proba,
    class_accuracy,
    reliability,
    score,
    worst_class,
)


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


def _binary(confidence: float, right: int, wrong: int) -> tuple[np.ndarray, np.ndarray]:
    """``right + wrong`` two-class predictions of class 0 at ``confidence``."""
    proba = np.tile([confidence, 1 - confidence], (right + wrong, 1))
    return proba, np.array([0] * right + [1] * wrong)


def test_ece_of_a_calibrated_model_is_zero():
    # 80 % confident and right 8 times in 10, 60 % confident and right 6 times in 10
    parts = [_binary(0.8, 8, 2), _binary(0.6, 6, 4)]
    proba = np.vstack([p for p, _ in parts])
    labels = np.concatenate([y for _, y in parts])
    s = score(proba, labels, 2)
    assert s["ece"] == pytest.approx(0.0, abs=1e-9) and s["ece_bins"] == 15


def test_ece_of_an_over_confident_model_by_hand():
    # 10 images at 95 % (bin (14/15, 1]) of which 6 right: gap 0.35;
    # 4 images at 55 % (bin (8/15, 9/15]) of which 1 right: gap 0.30
    parts = [_binary(0.95, 6, 4), _binary(0.55, 1, 3)]
    proba = np.vstack([p for p, _ in parts])
    labels = np.concatenate([y for _, y in parts])
    expected = 10 / 14 * 0.35 + 4 / 14 * 0.30
    assert score(proba, labels, 2)["ece"] == pytest.approx(expected, rel=1e-9)
    r = reliability(proba, labels)
    assert list(np.flatnonzero(r.counts)) == [8, 14] and r.counts.sum() == 14
    assert r.accuracy[14] == pytest.approx(0.6) and r.confidence[8] == pytest.approx(0.55)
    # one bin: the gap between overall accuracy and mean confidence
    one = reliability(proba, labels, bins=1)
    assert one.ece == pytest.approx(abs(7 / 14 - (10 * 0.95 + 4 * 0.55) / 14))


def test_per_class_accuracy_and_the_worst_class_on_a_toy_confusion():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 0, 0, 1, 1, 0, 2, 2, 2])
    acc = class_accuracy(labels, predicted, 4, ["cat", "dog", "bird", "fish"])
    # recall: 3 of 4 cats, 1 of 2 dogs, 3 of 3 birds, no fish to score
    assert acc == {"cat": 0.75, "dog": 0.5, "bird": 1.0, "fish": None}
    assert worst_class(acc) == ("dog", 0.5)
    assert worst_class({"a": 0.5, "b": 0.5}) == ("a", 0.5)  # a tie: the first class
    assert worst_class(None) == (None, None)
    # names that cannot tell the classes apart: their indices instead
    assert list(class_accuracy(labels, predicted, 3, ["x", "x", "y"])) == ["0", "1", "2"]
    proba = np.eye(4)[predicted]
    assert score(proba, labels, 4, ["cat", "dog", "bird", "fish"])["class_accuracy"] == acc
