"""``folder:PATH`` and ``csv:FILE``: the user's own PNG/JPEG images, and their bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.core.errors import HarnessError
from harness.data.registry import get_spec, load_dataset, prepare_dataset
from tests.conftest import run_cli, store_rows

COLORS = {"cat": (220, 40, 40), "dog": (40, 220, 40), "fox": (40, 40, 220)}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_DATA", str(root))
    return root


def image(path: Path, color, size=(24, 20), mode="RGB") -> Path:
    """A flat-colour image with a little noise, saved in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    base = np.array(color if mode == "RGB" else [color], np.int16)
    pixels = np.clip(base + rng.integers(-10, 10, (size[1], size[0], len(base))), 0, 255)
    Image.fromarray(pixels.astype(np.uint8).squeeze(), mode).save(path)
    return path


def class_folder(root: Path, per_class: int = 5) -> Path:
    for name, color in COLORS.items():
        for i in range(per_class):
            image(root / name / f"{i}.{'png' if i % 2 else 'jpg'}", color)
    return root


def test_folder_of_mixed_images_holds_out_a_stratified_test_part(tmp_path):
    root = class_folder(tmp_path / "pets", per_class=10)
    image(root / "dog" / "gray.png", 100, mode="L")  # grayscale among RGB: becomes RGB
    image(root / "fox" / "big.JPEG", COLORS["fox"], size=(48, 40))  # resized to 24x20
    (root / "cat" / ".DS_Store").write_bytes(b"\0")  # hidden files are not images
    name = f"folder:{root}"
    spec = get_spec(name)
    ds = load_dataset(name)
    assert ds.class_names == ("cat", "dog", "fox") and ds.num_classes == 3
    assert ds.train.images.shape[1:] == (20, 24, 3) == spec.image_shape
    assert (len(ds.train), len(ds.test)) == (spec.n_train, spec.n_test) == (26, 6)
    assert np.bincount(ds.test.labels).tolist() == [2, 2, 2]
    for c in range(3):  # cat is red, dog green, fox blue (a gray image may dilute one)
        means = ds.test.images[ds.test.labels == c].reshape(-1, 3).mean(axis=0)
        assert means.argmax() == c and means.max() > 150
    # the same split every time, and the second load comes from the cache
    again = load_dataset(name)
    assert isinstance(again.test.images, np.memmap)
    assert np.array_equal(again.test.images, ds.test.images)
    assert spec.cached(None) is not None


def test_folder_with_train_and_test_grayscale_keeps_one_channel(tmp_path):
    root = tmp_path / "digits"
    for part, n in (("train", 4), ("test", 2)):
        for c in ("zero", "one"):
            for i in range(n):
                image(root / part / c / f"{i}.png", 30 if c == "zero" else 220, mode="L")
    ds = load_dataset(f"folder:{root}")
    assert ds.train.images.shape == (8, 20, 24, 1) and len(ds.test) == 4
    assert ds.class_names == ("one", "zero")
    assert ds.test.images[ds.test.labels == 1].mean() < 60


def test_photo_patches_written_as_a_folder_load_as_that_dataset(tmp_path):
    """``python -m tests.photos DIR``, which the committed photos page was made from."""
    pytest.importorskip("skimage")
    from tests.photos import photo_patches, write_folder

    root = write_folder(tmp_path / "photos", 3, 2, size=16, photos=("brick", "grass"))
    ds = load_dataset(f"folder:{root}")
    assert ds.class_names == ("brick", "grass")
    assert ds.train.images.shape == (6, 16, 16, 3) and len(ds.test) == 4
    _, _, test_images, test_labels = photo_patches(6, 2, 16, photos=("brick", "grass"))
    # the same pixels, in the official split: PNG is lossless
    assert sorted(map(bytes, ds.test.images)) == sorted(map(bytes, test_images))
    assert sorted(ds.test.labels.tolist()) == sorted(test_labels.tolist())


def test_editing_the_folder_rebuilds_the_cache(tmp_path):
    root = class_folder(tmp_path / "pets")
    assert len(load_dataset(f"folder:{root}").train) == 12
    image(root / "cat" / "new.png", COLORS["cat"])
    image(root / "cat" / "new2.png", COLORS["cat"])
    assert len(load_dataset(f"folder:{root}").train) == 14


def test_csv_with_split_column_and_named_columns(tmp_path):
    class_folder(tmp_path / "imgs", per_class=4)
    rows = ["file,species,split"]
    for name in COLORS:
        rows += [f"imgs/{name}/{i}.{'png' if i % 2 else 'jpg'},{name},"
                 f"{'test' if i == 0 else 'train'}" for i in range(4)]
    table = tmp_path / "pets.csv"
    table.write_text("\n".join(rows) + "\n")
    ds = load_dataset(f"csv:{table}?label=species")
    assert ds.class_names == ("cat", "dog", "fox")
    assert (len(ds.train), len(ds.test)) == (9, 3)
    assert get_spec(f"csv:{table}?label=species").n_test == 3


def test_csv_with_integer_labels_sorts_them_as_numbers(tmp_path):
    rows = ["image,label"]
    for label in (2, 10, 1):
        for i in range(3):
            rows.append(f"{image(tmp_path / f'{label}_{i}.png', (label * 20, 0, 0)).name},{label}")
    (tmp_path / "t.csv").write_text("\n".join(rows))
    ds = load_dataset(f"csv:{tmp_path / 't.csv'}")
    assert ds.class_names == ("1", "2", "10")


@pytest.mark.parametrize(("breakage", "fragment"), [
    ("empty_class", "holds no images: add PNG/JPEG files to it or remove it"),
    ("non_image", "notes.txt is not a PNG or JPEG image: move it out"),
    ("fake_png", "broken.png is not a readable PNG or JPEG image"),
    ("single_class", "has only 'cat' as class: a classifier needs at least 2"),
    ("loose_image", "is not in a class folder"),
    ("one_image_class", r"class 'dog' has 1 image\(s\)"),
    ("train_without_test", "exists but"),
])
def test_bad_folders_are_clear_errors_and_cache_nothing(breakage, fragment, tmp_path, cache):
    root = class_folder(tmp_path / "pets", per_class=3)
    if breakage == "empty_class":
        (root / "eel").mkdir()
    elif breakage == "non_image":
        (root / "dog" / "notes.txt").write_text("hi")
    elif breakage == "fake_png":
        (root / "dog" / "broken.png").write_text("not a png")
    elif breakage == "single_class":
        for name in ("dog", "fox"):
            for p in (root / name).iterdir():
                p.unlink()
            (root / name).rmdir()
    elif breakage == "loose_image":
        image(root / "stray.png", (0, 0, 0))
    elif breakage == "one_image_class":
        for p in sorted((root / "dog").iterdir())[1:]:
            p.unlink()
    elif breakage == "train_without_test":
        (root / "train").mkdir()
    with pytest.raises(HarnessError, match=fragment):
        load_dataset(f"folder:{root}")
    assert not cache.exists() or not list(cache.rglob("*.npy"))


def _csv(tmp_path: Path, text: str) -> Path:
    class_folder(tmp_path / "imgs", per_class=2)
    path = tmp_path / "data.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "spec_suffix", "fragment"), [
    ("image,label\nimgs/cat/0.jpg,cat\nimgs/cat/9.png,cat\nimgs/dog/0.jpg,dog\n", "",
     r"line 3: image imgs/cat/9.png not found"),
    ("image,label\nimgs/cat/0.jpg,cat\n", "?label=species",
     r"has no column 'species' \(its columns: image, label\)"),
    ("picture,kind\nimgs/cat/0.jpg,cat\n", "",
     r"has no image column \(looked for image, path"),
    ("image,kind\nimgs/cat/0.jpg,cat\n", "",
     r"has no label column .* pass csv:FILE\?label=COLUMN"),
    ("image,label\nimgs/cat/0.jpg,cat\nimgs/cat/1.png,cat\n", "", "has only 'cat' as class"),
    ('image,label\nimgs/cat/0.jpg,"cat\nimgs/dog/0.jpg,dog\n', "",
     r"line 2: unexpected end of data \(an unclosed quote\?\)"),
])
def test_bad_csvs_are_clear_errors(text, spec_suffix, fragment, tmp_path):
    path = _csv(tmp_path, text)
    with pytest.raises(HarnessError, match=fragment):
        load_dataset(f"csv:{path}{spec_suffix}")


def test_image_over_pillows_bomb_limit_is_refused(tmp_path, monkeypatch):
    root = class_folder(tmp_path / "pets", per_class=3)
    image(root / "cat" / "huge.png", (1, 2, 3), size=(400, 400))
    # the limit stays on; it is lowered here only so that a small file exceeds it twice over
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    with pytest.raises(HarnessError, match=r"huge\.png is refused by Pillow's decompression-bomb"):
        load_dataset(f"folder:{root}")


def test_dataset_too_small_for_the_folds(tmp_path):
    root = class_folder(tmp_path / "pets", per_class=4)  # 3 training images per class
    name = f"folder:{root}"
    assert len(prepare_dataset(name, folds=3).train) == 9
    with pytest.raises(HarnessError, match=r"--folds 4 needs at least 4 .* the smallest class "
                                           r"has 3: lower --folds"):
        prepare_dataset(name, folds=4)


def test_run_on_a_folder_of_real_images_end_to_end(tmp_path):
    root = class_folder(tmp_path / "pets", per_class=8)
    env = {"HARNESS_DATA": str(tmp_path / "cache")}
    done = run_cli(["run", "--dataset", f"folder:{root}", "--budget", "5s",
                    "--contenders", "sklearn-logreg"], tmp_path, timeout=300, **env)
    assert done.returncode == 0, done.stderr
    rows = store_rows(tmp_path / "results/harness.sqlite")
    assert [(c, s) for _, c, s in rows] == [("sklearn-logreg", "ok")]
    (board,) = [p for p in (tmp_path / "leaderboards").glob("*.md") if p.name != "README.md"]
    assert "sklearn-logreg" in board.read_text()
    assert list((tmp_path / "cache" / "local").glob("pets-*/arrays/manifest.json"))
    (predictions,) = (tmp_path / "results/runs").glob("*/test_predictions.npz")
    with np.load(predictions) as saved:  # class names travel with the predictions
        assert saved["class_names"].tolist() == ["cat", "dog", "fox"]
    bad = run_cli(["run", "--dataset", f"folder:{tmp_path / 'nope'}", "--budget", "5s",
                   "--contenders", "sklearn-logreg"], tmp_path, **env)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("harness: error:") and "is not a folder" in bad.stderr


def test_a_csv_whose_name_holds_a_question_mark(tmp_path):
    path = _csv(tmp_path, "image,label\n" + "".join(
        f"imgs/{c}/{i}.{'png' if i % 2 else 'jpg'},{c}\n" for c in COLORS for i in range(2)))
    odd = path.rename(tmp_path / "what?.csv")
    assert load_dataset(f"csv:{odd}").num_classes == len(COLORS)


def test_16_bit_grayscale_pngs_are_scaled_to_8_bits(tmp_path):
    root = tmp_path / "deep"
    for name, level in (("dark", 1000), ("light", 64000)):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((6, 8), level + i, np.uint16)).save(root / name / f"{i}.png")
    ds = load_dataset(f"folder:{root}")
    pixels = np.concatenate([ds.train.images, ds.test.images]).ravel()
    assert ds.train.images.shape[1:] == (6, 8, 1)
    assert sorted(set(pixels.tolist())) == [4, 249]  # 1000/257 and 64000/257, not 255


def test_a_csv_with_another_separator_loads_with_sep(tmp_path):
    rows = "".join(f"imgs/{c}/{i}.{'png' if i % 2 else 'jpg'};{c}\n" for c in COLORS
                   for i in range(2))
    path = _csv(tmp_path, "image;label\n" + rows)
    with pytest.raises(HarnessError, match=r"separated by ';'.*csv:FILE\?sep=;"):
        load_dataset(f"csv:{path}")
    assert load_dataset(f"csv:{path}?sep=;").num_classes == len(COLORS)


def test_links_inside_the_dataset_folder_are_followed(tmp_path):
    import os

    root = class_folder(tmp_path / "pets", per_class=3)
    os.symlink(root / "cat" / "0.jpg", root / "cat" / "linked.jpg")
    ds = load_dataset(f"folder:{root}")
    assert len(ds.train) + len(ds.test) == 10  # nine images and the link
