"""`harness weights`: what is here, what is missing, one command to fetch it, and the
URL -> path list for a machine with no network."""

from __future__ import annotations

import re

from tests.conftest import run_cli
from tests.unit.data.fixtures import http_server

MOBILENETV2 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
PATH = "tensorflow/keras-applications/mobilenet_v2/"


def test_print_lists_every_file_of_the_default_lineup_and_downloads_nothing(tmp_path):
    weights = tmp_path / "weights"
    done = run_cli(["weights", "fetch", "@default", "--print", "--weights-dir", str(weights)],
                   tmp_path, HARNESS_OFFLINE="1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    mobilenet = next(line for line in lines if MOBILENETV2 in line.split(" -> ")[0])
    assert mobilenet.startswith("https://storage.googleapis.com/" + PATH + MOBILENETV2)
    assert f" -> {weights / MOBILENETV2} (missing; mobilenetv2-frozen" in mobilenet
    # AutoMM's backbones on the CPU and on GPUs, and the transfer model of long budgets
    for needed in ("mobilenetv3_small_100", "mobilenetv3_large_100", "efficientnetb0_notop.h5"):
        assert any(needed in line for line in lines), (needed, lines)
    assert all(" -> " in line for line in lines)
    assert not weights.exists()  # --print downloads nothing, creates nothing


def test_fetch_downloads_checks_and_then_the_contender_can_run(tmp_path):
    served = tmp_path / "mirror"
    (served / PATH).mkdir(parents=True)
    stand_in = b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 64  # an HDF5 signature
    (served / PATH / MOBILENETV2).write_bytes(stand_in)
    weights = tmp_path / "weights"
    with http_server(served) as (base, requests):
        done = run_cli(["weights", "fetch", "mobilenetv2-frozen", "--weights-dir",
                        str(weights), "--mirror", base], tmp_path, HARNESS_OFFLINE="1")
    assert done.returncode == 0, done.stderr
    assert requests == ["/" + PATH + MOBILENETV2]
    assert (weights / MOBILENETV2).read_bytes() == stand_in
    assert sorted(p.name for p in weights.iterdir()) == [MOBILENETV2]  # no .part left
    listed = run_cli(["weights", "--weights-dir", str(weights)], tmp_path, HARNESS_OFFLINE="1")
    assert re.search(r"^1 of \d+ here", listed.stdout, re.MULTILINE), listed.stdout
    assert listed.stdout.count("│ yes ") == 1, listed.stdout
    ready = run_cli(["contenders", "mobilenetv2-frozen", "--weights-dir", str(weights)],
                    tmp_path, HARNESS_OFFLINE="1", COLUMNS="400")
    assert "(on disk)" in ready.stdout and "no:" not in ready.stdout, ready.stdout


def test_a_page_that_is_not_weights_is_refused_and_nothing_is_kept(tmp_path):
    served = tmp_path / "mirror"
    (served / PATH).mkdir(parents=True)
    (served / PATH / MOBILENETV2).write_text("<html>sign in to continue</html>")
    weights = tmp_path / "weights"
    with http_server(served) as (base, _):
        done = run_cli(["weights", "fetch", "mobilenetv2-frozen", "--weights-dir",
                        str(weights), "--mirror", base], tmp_path, HARNESS_OFFLINE="1")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]  # after the line saying what it downloads
    assert last.startswith("harness: error:") and "not an HDF5 file" in last, done.stderr
    assert not any(weights.iterdir())


def test_a_weights_dir_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    done = run_cli(["weights", "fetch", "mobilenetv2-frozen", "--weights-dir",
                    str(tmp_path / "file" / "w")], tmp_path, HARNESS_OFFLINE="1")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "Not a directory" in done.stderr
