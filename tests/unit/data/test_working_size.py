"""Images at one bounded working size: decoded once (JPEG draft mode, upright, centre
crop), cached at that size, and each contender trained at its own size below it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.contenders.lineups import Profile, select
from harness.core.jobs import Job
from harness.data.formats import decode_image, fit_image, resize_images
from harness.data.local import WORKING_SIDE, working_size
from harness.data.registry import get_spec, load_dataset


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_DATA", str(root))
    return root


def halves(size: tuple[int, int], left, right) -> np.ndarray:
    """An image of ``size`` (width, height): its left half one colour, its right another,
    with a little grain (JPEG keeps flat colours too well to show a stretch)."""
    width, height = size
    pixels = np.empty((height, width, 3), np.int16)
    pixels[:, : width // 2] = left
    pixels[:, width // 2:] = right
    grain = np.random.default_rng(0).integers(-6, 7, pixels.shape)
    return np.clip(pixels + grain, 0, 255).astype(np.uint8)


def test_working_size_caps_the_short_side_and_keeps_small_images_as_they_are():
    assert working_size((32, 32)) == (32, 32)
    assert working_size((48, 40)) == (48, 40)  # small: the most common size, as it is
    assert working_size((WORKING_SIDE, 300)) == (WORKING_SIDE, 300)
    assert working_size((500, 375)) == (WORKING_SIDE, WORKING_SIDE)
    assert working_size((4000, 3000)) == (WORKING_SIDE, WORKING_SIDE)
    assert working_size((4000, 3000), 96) == (96, 96)  # --image-size
    assert working_size((8, 8), 16) == (16, 16)


def test_a_large_jpeg_is_decoded_in_draft_mode_and_cropped_about_its_centre(tmp_path,
                                                                            monkeypatch):
    path = tmp_path / "wide.jpg"
    # 2000 x 1000: a 1000-px red band between two 500-px blue ones; a centre crop to a
    # square keeps the red band only, a stretch would keep blue at both edges
    pixels = halves((2000, 1000), (20, 20, 220), (20, 20, 220))
    pixels[:, 500:1500] = (220, 20, 20)
    Image.fromarray(pixels).save(path, quality=92)
    from PIL import JpegImagePlugin

    drafted = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        drafted.append(size)
        return original(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    out = decode_image(path, "wide.jpg", "RGB", (64, 64))
    assert out.shape == (64, 64, 3)
    assert drafted and drafted[0][1] >= 64  # asked for no less than it keeps
    red, blue = out[..., 0].astype(int), out[..., 2].astype(int)
    assert (red > 150).all() and (blue < 100).all(), "the blue edges were kept: stretched"


def test_draft_mode_decodes_close_to_a_full_decode(tmp_path):
    """The reduced decode gives the same picture as decoding whole and resizing."""
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    big = Image.fromarray(small).resize((1600, 1200), Image.Resampling.BICUBIC)
    path = tmp_path / "photo.jpg"
    big.save(path, quality=95)
    drafted = decode_image(path, "photo.jpg", "RGB", (64, 48)).astype(int)
    with Image.open(path) as img:
        img.load()  # no draft once loaded
        whole = np.asarray(fit_image(img.convert("RGB"), (64, 48))).astype(int)
    assert np.abs(drafted - whole).mean() < 4


def test_a_photo_stored_sideways_is_turned_upright(tmp_path):
    upright = halves((400, 300), (220, 20, 20), (20, 20, 220))  # red left, blue right
    sideways = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    sideways.save(path, quality=92, exif=exif.tobytes())
    out = decode_image(path, "phone.jpg", "RGB", (40, 30)).astype(int)
    assert out.shape == (30, 40, 3)
    assert out[:, :15, 0].mean() > 150 and out[:, -15:, 2].mean() > 150


def test_sideways_photos_count_as_shown_and_mixed_orientations_make_a_square(tmp_path):
    from harness.data.local import probe, scan_folder

    root = tmp_path / "phone"
    exif = Image.Exif()
    exif[0x0112] = 6
    for name in ("a", "b"):
        for i in range(3):  # portraits of 150 x 200 stored sideways, as phones do
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(halves((200, 150), (200, 0, 0), (0, 0, 200))).save(
                root / name / f"{i}.jpg", exif=exif.tobytes())
    assert probe(scan_folder("folder:phone", root))[0] == (150, 200)  # portrait, as shown
    for i in range(3):  # as many landscape photos beside them: square, each loses alike
        Image.fromarray(halves((200, 150), (0, 200, 0), (0, 200, 0))).save(
            root / "a" / f"wide{i}.jpg")
    assert probe(scan_folder("folder:phone", root))[0] == (150, 150)


def test_the_cache_takes_the_decoded_files_without_copying_them(tmp_path, monkeypatch):
    from harness.data import cache as cache_module

    root = tmp_path / "web"
    for name, color in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(halves((300, 300), color, color)).save(root / name / f"{i}.jpg")
    saved = []
    real_save = cache_module.np.save
    monkeypatch.setattr(cache_module.np, "save",
                        lambda path, arr: (saved.append(Path(path).name), real_save(path, arr)))
    ds = load_dataset(f"folder:{root}")
    assert ds.train.images.shape[1:] == (WORKING_SIDE, WORKING_SIDE, 3)
    assert sorted(saved) == ["test_labels.npy", "train_labels.npy"]  # images moved


def test_a_folder_of_large_mixed_photos_caches_at_the_working_size(tmp_path, cache):
    root = tmp_path / "web"
    colors = {"red": (220, 30, 30), "blue": (30, 30, 220)}
    for name, color in colors.items():
        for i in range(6):
            size = (500, 375) if i % 2 else (375, 500)  # both orientations
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(halves(size, color, color)).save(root / name / f"{i}.jpg")
    name = f"folder:{root}"
    assert get_spec(name).image_shape == (WORKING_SIDE, WORKING_SIDE, 3)
    ds = load_dataset(name)
    assert ds.train.images.shape[1:] == (WORKING_SIDE, WORKING_SIDE, 3)
    assert isinstance(ds.train.images, np.memmap)  # decoded into the cache's own files
    means = ds.test.images.reshape(len(ds.test), -1, 3).mean(axis=1)
    assert (means.argmax(axis=1) == np.where(ds.test.labels == 0, 2, 0)).all()  # blue, red
    cached = sum(p.stat().st_size for p in cache.rglob("*.npy"))
    assert cached < 12 * WORKING_SIDE * WORKING_SIDE * 3 * 1.01  # not the 500 px originals
    assert not list(cache.rglob(".decoding-*")), "the decoding scratch folder was left"
    # --image-size: its own cache beside the default one, at that size
    small = load_dataset(name, image_size=48)
    assert small.train.images.shape[1:] == (48, 48, 3)
    assert get_spec(name, 48).image_shape == (48, 48, 3)
    assert load_dataset(name).train.images.shape[1:] == (WORKING_SIDE, WORKING_SIDE, 3)


def test_image_size_resizes_a_built_in_set_and_changes_the_job_key():
    ds = load_dataset("digits", image_size=16)
    assert ds.train.images.shape[1:] == (16, 16, 1)
    assert get_spec("digits", 16).image_shape == (16, 16, 1)
    job = Job("digits", "sklearn-logreg", 0, 1, 0, 5.0)
    assert Job("digits", "sklearn-logreg", 0, 1, 0, 5.0, image_size=16).key != job.key
    # jobs without it keep the key they had before the field existed
    assert job.key == Job("digits", "sklearn-logreg", 0, 1, 0, 5.0, image_size=None).key


def test_resize_images_keeps_grayscale_and_the_aspect():
    images = np.zeros((3, 40, 60, 1), np.uint8)
    images[:, :, 30:] = 200  # right half bright
    out = resize_images(images, (30, 20))
    assert out.shape == (3, 20, 30, 1)
    assert out[:, :, :12].max() < 60 and out[:, :, 18:].min() > 140


def test_each_contender_trains_at_its_own_size_and_the_lineup_says_so():
    from harness.contenders import KEEP_SIDE, get

    photo = Profile((WORKING_SIDE, WORKING_SIDE, 3), 4, 30.0, 0, 960)
    picks = {p.name: p.why for p in select(None, photo)}
    assert picks["sklearn-logreg"].startswith("at 32 px")
    assert picks["keras-fastnet"].startswith("at 32 px")
    assert not picks["mobilenetv2-frozen"].startswith("at ")  # its own input size
    assert get("keras-fastnet").input_side(WORKING_SIDE, 3600.0, 0) == 64
    assert get("keras-fastnet").input_side(WORKING_SIDE, 3600.0, 1) == 128
    small = {p.name: p.why for p in select(None, Profile((32, 32, 3), 10, 30.0, 0, 960))}
    assert not any(why.startswith("at ") for why in small.values())  # already that size
    # up to KEEP_SIDE (CIFAR's 32 px) every contender gets the images as they are
    cifar = Profile((KEEP_SIDE, KEEP_SIDE, 3), 10, 30.0, 0, 50_000)
    assert not any(p.why.startswith("at ") for p in select(None, cifar))
    tiny = {p.name: p.why for p in select(None, Profile((64, 64, 3), 200, 30.0, 0, 100_000))}
    assert tiny["sklearn-logreg"].startswith("at 32 px")


def test_the_protocol_resizes_for_the_contender_before_setup():
    from harness.contenders import get
    from harness.data import Split
    from harness.scoring.protocol import Data, at_input_side

    def split(n):
        return Split(np.full((n, 96, 128, 3), 7, np.uint8), np.arange(n) % 2, 2)

    data = Data(split(8), split(4), split(6), ("a", "b"))
    job = Job("x", "sklearn-logreg", 0, 1, 0, 5.0)
    got = at_input_side(data, get("sklearn-logreg"), job)
    assert [s.images.shape[1:] for s in (got.train, got.val, got.test)] == [(32, 43, 3)] * 3
    assert got.test.labels.tolist() == data.test.labels.tolist()
    # a contender that takes the images as they come gets them untouched, and so does
    # every contender on images of at most KEEP_SIDE px
    same = at_input_side(data, get("mobilenetv2-frozen"), job)
    assert same.train.images is data.train.images
    small = Data(*(Split(np.zeros((4, 32, 32, 3), np.uint8), np.arange(4) % 2, 2)
                   for _ in range(3)), ("a", "b"))
    assert at_input_side(small, get("sklearn-logreg"), job).train.images is small.train.images
