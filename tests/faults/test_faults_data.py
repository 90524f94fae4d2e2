"""Damaged and hostile dataset files: caught by checksum or refused before parsing.

A downloaded file corrupted in the cache is fetched again (or named, offline); an
archive that is truncated, escapes its folder, links elsewhere or unpacks past the
size cap is refused in one line, and nothing is cached from it.
"""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import HarnessError
from harness.data import archives
from harness.data.registry import load_dataset
from tests.unit.data.fixtures import cifar10_tar, dead_url, md5, mnist_files, write_sources

pytestmark = pytest.mark.faults

CIFAR = "cifar-10-binary.tar.gz"
TINY = "tiny-imagenet-200.zip"
MNIST = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_DATA", str(root))
    return root


def _sources(tmp_path, monkeypatch, groups) -> None:
    monkeypatch.setenv("HARNESS_DATA_SOURCES", str(write_sources(tmp_path / "sources.toml",
                                                                 groups)))


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupted_download_and_arrays_are_fetched_again(tmp_path, cache, monkeypatch, capfd,
                                                         tally):
    served = tmp_path / "srv"
    served.mkdir()
    want = cifar10_tar(served / CIFAR)
    _sources(tmp_path, monkeypatch, {"cifar10": [(CIFAR, [(served / CIFAR).as_uri()],
                                                  md5(served / CIFAR))]})
    load_dataset("cifar10")
    tally.fault("cached archive and decoded arrays corrupted after download")
    _flip(cache / "cifar10" / CIFAR, 100)
    _flip(cache / "cifar10" / "arrays" / "train_images.npy", -1)
    capfd.readouterr()
    ds = load_dataset("cifar10")
    err = capfd.readouterr().err
    assert "corrupted" in err and "downloading it again" in err
    assert np.array_equal(ds.train.images, want["train"][0])
    assert md5(cache / "cifar10" / CIFAR) == md5(served / CIFAR)
    assert (cache / "cifar10" / f"{CIFAR}.corrupt").is_file()  # set aside, not deleted


def test_corrupted_download_offline_is_one_clear_error(tmp_path, cache, monkeypatch, tally):
    served = tmp_path / "srv"
    served.mkdir()
    cifar10_tar(served / CIFAR)
    _sources(tmp_path, monkeypatch, {"cifar10": [(CIFAR, [(served / CIFAR).as_uri()],
                                                  md5(served / CIFAR))]})
    load_dataset("cifar10")
    tally.fault("cached archive corrupted while offline")
    _flip(cache / "cifar10" / CIFAR, 100)
    (cache / "cifar10" / "arrays" / "manifest.json").unlink()
    _sources(tmp_path, monkeypatch, {"cifar10": [(CIFAR, [dead_url() + CIFAR],
                                                  md5(served / CIFAR))]})
    with pytest.raises(HarnessError) as info:
        load_dataset("cifar10")
    message = str(info.value)
    assert "\n" not in message and CIFAR in message and "--data-dir" in message
    assert not (cache / "cifar10" / "arrays" / "manifest.json").exists()


# -- malformed archives: each refused in one line, nothing cached ---------------------


def _tar(path: Path, build) -> None:
    with tarfile.open(path, "w:gz") as tar:
        build(tar)


def _member(tar: tarfile.TarFile, name: str, data: bytes = b"evil", **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in attrs.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


BASE = "cifar-10-batches-bin/"
TARS = {
    "truncated": None,
    "dotdot": lambda t: _member(t, BASE + "../../evil.txt"),
    "absolute": lambda t: _member(t, "/tmp/evil.txt"),
    "symlink": lambda t: _member(t, BASE + "link", b"", type=tarfile.SYMTYPE,
                                 linkname="/etc/passwd"),
    "hardlink": lambda t: _member(t, BASE + "hard", b"", type=tarfile.LNKTYPE,
                                  linkname="/etc/passwd"),
    "device": lambda t: _member(t, BASE + "dev", b"", type=tarfile.CHRTYPE),
    "bomb": lambda t: _member(t, BASE + "data_batch_1.bin", bytes(2 * 2**20)),
    "not-an-archive": None,
}
TAR_ERRORS = {"truncated": "truncated or not a valid archive",
              "not-an-archive": "truncated or not a valid archive",
              "bomb": "decompression bomb", "dotdot": "unsafe member",
              "absolute": "unsafe member", "symlink": "unsafe member",
              "hardlink": "unsafe member", "device": "unsafe member"}


@pytest.mark.parametrize("kind", list(TARS))
def test_malformed_tar_is_refused(kind, tmp_path, cache, monkeypatch, tally):
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 2**20)
    path = tmp_path / CIFAR
    if kind == "truncated":
        cifar10_tar(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "not-an-archive":
        path.write_bytes(b"<html>404 not found</html>")
    else:
        _tar(path, TARS[kind])
    _sources(tmp_path, monkeypatch, {"cifar10": [(CIFAR, [path.as_uri()], md5(path))]})
    tally.bad_input(f"tar archive: {kind}")
    with pytest.raises(HarnessError) as info:
        load_dataset("cifar10")
    assert "\n" not in str(info.value) and TAR_ERRORS[kind] in str(info.value)
    assert "delete it" in str(info.value)
    assert not (cache / "cifar10" / "arrays").exists()
    assert not list(tmp_path.rglob("evil.txt"))


def _zip(path: Path, kind: str) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tiny-imagenet-200/wnids.txt", "n01443537\n")
        if kind == "dotdot":
            zf.writestr("tiny-imagenet-200/../../evil.txt", "evil")
        elif kind == "absolute":
            zf.writestr("/tmp/evil.txt", "evil")
        elif kind == "symlink":
            info = zipfile.ZipInfo("tiny-imagenet-200/link")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
        elif kind == "bomb":  # 64 MiB of zeros in 64 KiB: past a 1 MiB cap
            zf.writestr("tiny-imagenet-200/words.txt", bytes(64 * 2**20))


@pytest.mark.parametrize("kind", ["truncated", "dotdot", "absolute", "symlink", "bomb"])
def test_malformed_zip_is_refused(kind, tmp_path, cache, monkeypatch, tally):
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 2**20)
    path = tmp_path / TINY
    _zip(path, "bomb" if kind == "truncated" else kind)
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert path.stat().st_size < 2**20
    _sources(tmp_path, monkeypatch, {"tiny_imagenet": [(TINY, [path.as_uri()], md5(path))]})
    tally.bad_input(f"zip archive: {kind}")
    with pytest.raises(HarnessError) as info:
        load_dataset("tiny_imagenet")
    expected = {"truncated": "truncated or not a valid archive",
                "bomb": "decompression bomb"}.get(kind, "unsafe member")
    assert "\n" not in str(info.value) and expected in str(info.value), info.value
    assert not (cache / "tiny_imagenet" / "arrays").exists()
    assert not list(tmp_path.rglob("evil.txt"))


def test_gzip_bomb_is_refused_before_it_fills_memory(tmp_path, cache, monkeypatch, tally):
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 2**20)
    served = tmp_path / "srv"
    mnist_files(served)
    (served / MNIST[0]).write_bytes(gzip.compress(bytes(32 * 2**20)))  # 32 KiB on disk
    _sources(tmp_path, monkeypatch, {"mnist": [(n, [(served / n).as_uri()], md5(served / n))
                                               for n in MNIST]})
    tally.bad_input("gzip bomb as an MNIST file")
    with pytest.raises(HarnessError, match="decompression bomb") as info:
        load_dataset("mnist")
    assert "\n" not in str(info.value)
    assert not (cache / "mnist" / "arrays").exists()
