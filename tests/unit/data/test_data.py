import numpy as np
import pytest

from harness.core.errors import HarnessError
from harness.data.registry import get_spec, load_dataset
from harness.data.splits import cap_per_class, protocol_split


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_digits_is_embedded_and_official_sized(digits):
    spec = get_spec("digits")
    assert (len(digits.train), len(digits.test)) == (spec.n_train, spec.n_test)
    assert digits.train.images.dtype == np.uint8
    assert digits.train.images.shape[1:] == spec.image_shape
    assert digits.train.images.max() == 255
    assert digits.num_classes == 10 and digits.class_names[3] == "3"


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(HarnessError, match="digits"):
        get_spec("imagenet-22k")


def test_validation_split_is_stratified_disjoint_and_seeded(digits):
    tr, va = protocol_split(digits.train, seed=0)
    assert len(tr) + len(va) == len(digits.train)
    assert set(np.bincount(va.labels)) <= {13, 14, 15}  # 10 % of ~135 per class
    _, va2 = protocol_split(digits.train, seed=0)
    assert np.array_equal(va.labels, va2.labels) and np.array_equal(va.images, va2.images)
    _, va3 = protocol_split(digits.train, seed=1)
    assert not np.array_equal(va.images, va3.images)


def test_k_fold_validation_parts_cover_train_once(digits):
    parts = [protocol_split(digits.train, folds=3, fold=k, seed=0)[1] for k in range(3)]
    assert sum(len(p) for p in parts) == len(digits.train)
    seen = np.concatenate([p.images.reshape(len(p), -1) for p in parts])
    assert len(np.unique(seen, axis=0)) == len(np.unique(
        digits.train.images.reshape(len(digits.train), -1), axis=0))


def test_cap_per_class(digits):
    capped = cap_per_class(digits.train, 5, seed=0)
    assert np.bincount(capped.labels).tolist() == [5] * 10
    assert capped.num_classes == 10


def test_too_many_folds_for_the_data_is_a_clear_error(digits):
    with pytest.raises(HarnessError, match="lower --folds"):
        protocol_split(digits.train, folds=5, fold=0, max_per_class=3)
