"""The official datasets through the real code path: download, verify, decode, cache.

Every fixture is a tiny file in the publisher's format, served from loopback (or a
file:// URL) and described by a ``$HARNESS_DATA_SOURCES`` file with its own checksum.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import HarnessError
from harness.data import download
from harness.data.registry import get_spec, load_dataset, prepare_dataset
from tests.conftest import run_cli
from tests.unit.data.fixtures import (
    CIFAR10_NAMES,
    cifar10_tar,
    cifar100_tar,
    dead_url,
    md5,
    mnist_files,
    sha256,
    tiny_imagenet_zip,
    write_sources,
)
from tests.unit.data.fixtures import http_server as serve

MNIST = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty $HARNESS_DATA: nothing of the user's cache is read or written."""
    root = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_DATA", str(root))
    return root


def point_sources(tmp_path, monkeypatch, groups) -> None:
    monkeypatch.setenv("HARNESS_DATA_SOURCES", str(write_sources(tmp_path / "sources.toml",
                                                                 groups)))


def no_leftovers(root: Path) -> list[Path]:
    """Files that look complete but must not exist after a failure."""
    return [p for p in root.rglob("*") if p.is_file() and p.name != ".lock"]


def test_mnist_downloads_via_a_mirror_verifies_decodes_and_reloads_from_cache(
        tmp_path, cache, monkeypatch):
    served = tmp_path / "srv"
    arrays = mnist_files(served)
    with serve(served) as (base, requests):
        # the first URL answers 404 (like yann.lecun.com's 403): the mirror must be used
        point_sources(tmp_path, monkeypatch, {"mnist": [
            (n, [f"{base}gone/{n}", f"{base}{n}"], md5(served / n)) for n in MNIST]})
        ds = load_dataset("mnist")
        assert len(requests) == 8
        again = load_dataset("mnist")
        assert len(requests) == 8  # cached: no new request
    assert ds.train.images.shape == (30, 28, 28, 1) and ds.train.images.dtype == np.uint8
    assert np.array_equal(ds.train.images[..., 0], arrays[MNIST[0]])
    assert np.array_equal(ds.test.labels, arrays[MNIST[3]]) and ds.test.labels.dtype == np.int64
    assert ds.class_names == tuple("0123456789")
    assert isinstance(again.train.images, np.memmap)  # memory-mapped from the .npy cache
    assert np.array_equal(again.train.images, ds.train.images)
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(
        [*MNIST, "arrays", ".lock"])
    assert get_spec("mnist").cached(None) == cache / "mnist" / "arrays"


def test_fashion_mnist_from_file_urls_keeps_its_class_names(tmp_path, cache, monkeypatch):
    served = tmp_path / "srv"
    mnist_files(served, seed=3)
    point_sources(tmp_path, monkeypatch, {"fashion_mnist": [
        (n, [(served / n).as_uri()], sha256(served / n)) for n in MNIST]})
    ds = load_dataset("fashion_mnist")
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert (len(ds.train), len(ds.test)) == (30, 10)


def test_cifar10_binary_release_decodes_planes_to_hwc(tmp_path, cache, monkeypatch):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    want = cifar10_tar(archive)
    point_sources(tmp_path, monkeypatch, {"cifar10": [
        (archive.name, [archive.as_uri()], md5(archive))]})
    ds = load_dataset("cifar10")
    assert ds.train.images.shape == (50, 32, 32, 3)
    assert np.array_equal(ds.train.images, want["train"][0])
    assert np.array_equal(ds.train.labels, want["train"][1])
    assert np.array_equal(ds.test.images, want["test"][0])
    assert ds.class_names == tuple(CIFAR10_NAMES)


@pytest.mark.parametrize(("name", "classes", "column"), [("cifar100", 100, 1),
                                                         ("cifar100_coarse", 20, 2)])
def test_cifar100_fine_and_coarse_labels(name, classes, column, tmp_path, cache, monkeypatch):
    archive = tmp_path / "cifar-100-binary.tar.gz"
    want = cifar100_tar(archive)
    point_sources(tmp_path, monkeypatch, {"cifar100": [
        (archive.name, [archive.as_uri()], md5(archive))]})
    ds = load_dataset(name)
    assert ds.num_classes == classes == get_spec(name).num_classes
    assert np.array_equal(ds.train.labels, want["train"][column])
    assert np.array_equal(ds.test.images, want["test"][0])
    assert ds.class_names[3] == ("fine3" if column == 1 else "coarse3")


def test_tiny_imagenet_zip_uses_labelled_val_as_test(tmp_path, cache, monkeypatch):
    archive = tmp_path / "tiny-imagenet-200.zip"
    want = tiny_imagenet_zip(archive)
    with serve(tmp_path) as (base, _):
        point_sources(tmp_path, monkeypatch, {"tiny_imagenet": [
            (archive.name, [base + archive.name], md5(archive))]})
        ds = load_dataset("tiny_imagenet")
    assert ds.class_names == ("goldfish", "newt", "frog")
    assert ds.train.images.shape == (want["n_train"], 64, 64, 3)
    assert ds.test.labels.tolist() == want["test_labels"]
    means = ds.test.images.reshape(len(ds.test), -1, 3).mean(axis=1)
    assert np.allclose(means, [want["colors"][c] for c in want["test_labels"]], atol=3)
    gray = ds.train.images[ds.train.labels == 0]
    assert any(np.allclose(g.mean(axis=(0, 1)), 128, atol=2) for g in gray)  # L -> RGB


def test_checksum_mismatch_keeps_nothing(tmp_path, cache, monkeypatch):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    cifar10_tar(archive)
    with serve(tmp_path) as (base, _):
        point_sources(tmp_path, monkeypatch, {"cifar10": [
            (archive.name, [base + archive.name], "md5:" + "0" * 32)]})
        with pytest.raises(HarnessError, match="checksum mismatch, nothing kept"):
            load_dataset("cifar10")
    assert no_leftovers(cache) == []


def test_truncated_archive_is_a_clear_error_and_nothing_is_cached(tmp_path, cache, monkeypatch):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    cifar10_tar(archive)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    point_sources(tmp_path, monkeypatch, {"cifar10": [
        (archive.name, [archive.as_uri()], md5(archive))]})  # its checksum: it gets parsed
    with pytest.raises(HarnessError, match="truncated or not a valid archive"):
        load_dataset("cifar10")
    assert not (cache / "cifar10" / "arrays").exists()


def test_truncated_idx_file_is_a_clear_error(tmp_path, cache, monkeypatch):
    served = tmp_path / "srv"
    mnist_files(served)
    gz = served / MNIST[0]
    import gzip

    gz.write_bytes(gzip.compress(gzip.decompress(gz.read_bytes())[:-100]))
    point_sources(tmp_path, monkeypatch, {"mnist": [
        (n, [(served / n).as_uri()], md5(served / n)) for n in MNIST]})
    with pytest.raises(HarnessError, match="is truncated"):
        load_dataset("mnist")
    assert not (cache / "mnist" / "arrays").exists()


def _evil_tar(path: Path, kind: str) -> None:
    with tarfile.open(path, "w:gz") as tar:
        if kind == "dotdot":
            info = tarfile.TarInfo("cifar-10-batches-bin/../../evil.txt")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        else:
            info = tarfile.TarInfo("cifar-10-batches-bin/link")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)


@pytest.mark.parametrize("kind", ["dotdot", "symlink"])
def test_tar_with_unsafe_member_is_refused(kind, tmp_path, cache, monkeypatch):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    _evil_tar(archive, kind)
    point_sources(tmp_path, monkeypatch, {"cifar10": [
        (archive.name, [archive.as_uri()], md5(archive))]})
    with pytest.raises(HarnessError, match="unsafe member"):
        load_dataset("cifar10")
    assert not list(tmp_path.rglob("evil.txt")) and not (cache / "cifar10" / "arrays").exists()


def test_zip_with_dotdot_member_is_refused(tmp_path, cache, monkeypatch):
    archive = tmp_path / "tiny-imagenet-200.zip"
    tiny_imagenet_zip(archive, extra={"tiny-imagenet-200/../../evil.txt": b"evil"})
    point_sources(tmp_path, monkeypatch, {"tiny_imagenet": [
        (archive.name, [archive.as_uri()], md5(archive))]})
    with pytest.raises(HarnessError, match=r"unsafe member '.*\.\./evil.txt'"):
        load_dataset("tiny_imagenet")
    assert not list(tmp_path.rglob("evil.txt"))
    assert zipfile.is_zipfile(archive)


def test_offline_error_names_each_missing_file_its_url_and_where(tmp_path, cache, monkeypatch):
    base = dead_url()
    point_sources(tmp_path, monkeypatch, {"mnist": [
        (n, [base + n], "md5:" + "0" * 32) for n in MNIST]})
    with pytest.raises(HarnessError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "\n" not in message and "could not be downloaded" in message
    for n in MNIST:
        assert f"{n} ({base}{n})" in message
    assert str(cache / "mnist") in message and "--data-dir" in message
    assert no_leftovers(cache) == []


def test_data_dir_files_are_used_without_network_and_checked(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mnist_files(mine)  # the user's files, straight in --data-dir
    point_sources(tmp_path, monkeypatch, {"mnist": [
        (n, [dead_url() + n], md5(mine / n)) for n in MNIST]})
    ds = load_dataset("mnist", mine)
    assert len(ds.train) == 30 and (mine / "mnist" / "arrays" / "manifest.json").is_file()
    # a file that is not the official one is named, with its fix
    (mine / "mnist" / "arrays" / "manifest.json").unlink()
    (mine / MNIST[1]).write_bytes(b"not it")
    with pytest.raises(HarnessError, match=f"{MNIST[1]} has md5 .* not the official file"):
        load_dataset("mnist", mine)


def test_corrupted_or_stale_cache_is_rebuilt_not_trusted(tmp_path, cache, monkeypatch, capfd):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    want = cifar10_tar(archive)
    point_sources(tmp_path, monkeypatch, {"cifar10": [
        (archive.name, [archive.as_uri()], md5(archive))]})
    load_dataset("cifar10")
    npy = cache / "cifar10" / "arrays" / "train_images.npy"
    data = bytearray(npy.read_bytes())
    data[-1] ^= 0xFF  # one flipped pixel: the header still parses
    npy.write_bytes(bytes(data))
    ds = load_dataset("cifar10")
    assert "corrupted" in capfd.readouterr().err
    assert np.array_equal(ds.train.images, want["train"][0])
    npy.write_bytes(npy.read_bytes()[:200])  # truncated
    assert np.array_equal(load_dataset("cifar10").train.images, want["train"][0])
    # a new source file (another checksum) makes the old arrays stale
    want2 = cifar10_tar(archive, seed=5)
    (cache / "cifar10" / archive.name).unlink()
    point_sources(tmp_path, monkeypatch, {"cifar10": [
        (archive.name, [archive.as_uri()], md5(archive))]})
    assert get_spec("cifar10").cached(None) is None
    assert np.array_equal(load_dataset("cifar10").train.images, want2["train"][0])


def test_interrupted_download_leaves_no_file(tmp_path, cache, monkeypatch):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    cifar10_tar(archive)
    point_sources(tmp_path, monkeypatch, {"cifar10": [
        (archive.name, [archive.as_uri()], md5(archive))]})
    monkeypatch.setattr(download, "CHUNK", 1024)

    def interrupt(name, total):
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "_progress", interrupt)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("cifar10")
    assert no_leftovers(cache) == []


def test_prepare_checks_folds_against_the_data(tmp_path, cache, monkeypatch):
    served = tmp_path / "srv"
    mnist_files(served)  # 3 images per class
    point_sources(tmp_path, monkeypatch, {"mnist": [
        (n, [(served / n).as_uri()], md5(served / n)) for n in MNIST]})
    assert len(prepare_dataset("mnist", folds=3).train) == 30
    with pytest.raises(HarnessError, match=r"--folds 5 needs at least 5 .* lower --folds"):
        prepare_dataset("mnist", folds=5)


def test_datasets_command_lists_cache_state(tmp_path):
    served = tmp_path / "srv"
    mnist_files(served)
    sources = write_sources(tmp_path / "sources.toml", {"mnist": [
        (n, [(served / n).as_uri()], md5(served / n)) for n in MNIST]})
    env = {"HARNESS_DATA": str(tmp_path / "cache"), "HARNESS_DATA_SOURCES": str(sources),
           "COLUMNS": "250"}
    before = run_cli(["datasets"], tmp_path, **env)
    assert before.returncode == 0 and "tiny_imagenet" in before.stdout
    assert str(tmp_path / "cache") not in before.stdout.split("Cache:")[0]
    load = run_cli(["run", "-d", "mnist", "-b", "1s", "-c", "test-quick"], tmp_path, **env)
    assert load.returncode == 0, load.stderr
    after = run_cli(["datasets"], tmp_path, **env)
    line = next(ln for ln in after.stdout.splitlines() if "│ mnist" in ln)
    assert "yes" in line and "60,000" in line


def test_connection_cut_mid_download_falls_back_to_the_next_mirror(tmp_path, cache, monkeypatch):
    import http.server
    import threading

    class Cut(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # promises a megabyte, sends ten bytes, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(2**20))
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Cut)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    archive = tmp_path / "cifar-10-binary.tar.gz"
    want = cifar10_tar(archive)
    cut = f"http://127.0.0.1:{server.server_address[1]}/{archive.name}"
    try:
        point_sources(tmp_path, monkeypatch, {"cifar10": [
            (archive.name, [cut, archive.as_uri()], md5(archive))]})
        assert np.array_equal(load_dataset("cifar10").test.images, want["test"][0])
        point_sources(tmp_path, monkeypatch, {"mnist": [(n, [cut], md5(archive))
                                                        for n in MNIST[:1]]})
        with pytest.raises(HarnessError, match=r"could not be downloaded .* connection cut after"
                                               " 10 of 1048576 bytes"):
            load_dataset("mnist")
    finally:
        server.shutdown()
        server.server_close()
    assert not list(cache.rglob("*.part"))
    assert not (cache / "mnist" / MNIST[0]).exists()
