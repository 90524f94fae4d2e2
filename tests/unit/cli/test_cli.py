import subprocess
import sys

import pytest

from tests.conftest import harness_env, run_cli

HEAVY = ("tensorflow", "torch", "autogluon", "keras")


def test_help_imports_no_heavy_library():
    code = (
        "import sys; sys.argv = ['harness', '--help']\n"
        "from harness.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        f"bad = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not bad, bad\n"
        "assert 'pandas' not in sys.modules and 'numpy' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=harness_env())
    assert done.returncode == 0, done.stderr
    assert "run" in done.stdout and "leaderboard" in done.stdout


@pytest.mark.parametrize("command", ["run", "leaderboard", "datasets", "contenders", "doctor",
                                     "suite", "suite run", "suite plan", "export"])
def test_every_command_has_help(command, tmp_path):
    done = run_cli([*command.split(), "--help"], tmp_path)
    assert done.returncode == 0 and "Usage:" in done.stdout


@pytest.mark.parametrize(("args", "fragment"), [
    (["--dataset", "nope", "--budget", "60s"], "unknown dataset 'nope'"),
    (["--dataset", "digits", "--budget", "60s", "-c", "nope"], "unknown contender 'nope'"),
    (["--dataset", "digits", "--budget", "abc"], "invalid budget 'abc'"),
    (["--dataset", "digits", "--budget", "-5m"], "invalid budget '-5m'"),
    (["--dataset", "digits", "--budget", "60s", "--folds", "0"], "--folds"),
    (["--dataset", "digits", "--budget", "60s", "--seeds", "-1"], "--seeds"),
    (["--dataset", "digits", "--budget", "60s", "--max-memory", "lots"], "invalid --max-memory"),
    (["--dataset", "digits", "--budget", "60s", "--gpus", "64", "-c", "test-quick"],
     "asks for more GPUs"),
    (["--budget", "60s"], "--dataset"),
    (["--dataset", "digits", "--budget", "60s", "-c", "@nope"], "unknown lineup '@nope'"),
    (["--dataset", "digits", "--budget", "60s", "--param", "keras-shallow.nope=1"],
     "known: batch_size"),
    (["--dataset", "digits", "--budget", "60s", "-c", "test-quick", "--param", "x"],
     "CONTENDER.KEY=VALUE"),
])
def test_bad_input_is_one_clear_line(args, fragment, tmp_path):
    done = run_cli(["run", *args], tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("harness: error:") and fragment in lines[0], lines[0]
    assert not (tmp_path / "results" / "harness.sqlite").exists() or "GPUs" in fragment


def test_unwritable_store_is_one_clear_line(tmp_path):
    (tmp_path / "file").write_text("")
    done = run_cli(["run", "-d", "digits", "-b", "5s", "-c", "test-quick",
                    "--store", f"sqlite:///{tmp_path}/file/h.sqlite"], tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "pass --store" in done.stderr


def test_leaderboard_of_empty_store_says_what_to_do(tmp_path):
    done = run_cli(["leaderboard", "--store", f"sqlite:///{tmp_path}/h.sqlite"], tmp_path)
    assert done.returncode == 1 and "harness run" in done.stderr
    assert done.stderr.strip().count("\n") == 0


def test_reading_a_store_that_is_not_there_creates_nothing(tmp_path):
    url = f"sqlite:///{tmp_path}/nonexist/x.sqlite"
    for args in (["leaderboard", "--store", url, "--leaderboard-dir", "lb"],
                 ["export", "--store", url, "out.csv"]):
        done = run_cli(args, tmp_path)
        assert done.returncode == 1 and "harness run" in done.stderr, (args, done.stderr)
        assert done.stderr.strip().count("\n") == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.iterdir())


def test_listing_commands(tmp_path):
    datasets = run_cli(["datasets"], tmp_path)
    assert datasets.returncode == 0 and "digits" in datasets.stdout
    listed = run_cli(["contenders"], tmp_path)
    assert listed.returncode == 0
    assert "sklearn-logreg" in listed.stdout and "test-hang" in listed.stdout
    for name in ("@default", "@seeds", "@quick", "@all"):
        assert name in listed.stdout


@pytest.mark.slow  # imports Keras on three backends, torch and AutoMM
def test_doctor_reports_every_area(tmp_path):
    done = run_cli(["doctor"], tmp_path, timeout=600)
    assert done.returncode in (0, 1)
    for area in ("python", "extra [keras]", "TensorFlow", "torch", "GPUs", "free disk",
                 "dataset cache", "pretrained weights"):
        assert area in done.stdout, (area, done.stdout)


def test_leaderboard_dir_that_is_a_file_fails_before_training(tmp_path):
    (tmp_path / "boards").write_text("keep me")
    done = run_cli(["run", "-d", "digits", "-b", "5s", "-c", "test-quick",
                    "--leaderboard-dir", "boards"], tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "--leaderboard-dir" in done.stderr
    assert (tmp_path / "boards").read_text() == "keep me"
    assert not (tmp_path / "results" / "runs").exists()  # nothing trained for nothing


@pytest.mark.slow  # the stand-in weights of eight Keras backbones
def test_contenders_say_whether_pretrained_weights_are_there(tmp_path, keras_transfer_weights):
    pytest.importorskip("tensorflow")
    keras_home = str(tmp_path / "keras")  # an empty Keras cache
    offline = run_cli(["contenders", "mobilenet-frozen"], tmp_path, HARNESS_OFFLINE="1",
                      KERAS_HOME=keras_home)
    assert offline.returncode == 0, offline.stderr
    text = offline.stdout
    assert "(missing)" in text and "no: weights" in text and "mobilenet_1_0_224_tf_no_top" in text
    assert "HARNESS_OFFLINE is set" in text  # why it is missing
    given = run_cli(["contenders", "mobilenet-frozen", "--weights-dir",
                     str(keras_transfer_weights)], tmp_path, HARNESS_OFFLINE="1",
                    KERAS_HOME=keras_home)
    assert "(on disk)" in given.stdout and "no:" not in given.stdout
    # HARNESS_OFFLINE=0: online without asking; says what would happen, downloads nothing
    online = run_cli(["contenders", "mobilenet-frozen"], tmp_path, KERAS_HOME=keras_home,
                     HF_HUB_OFFLINE="0", HARNESS_OFFLINE="0")
    assert "(downloadable)" in online.stdout


def test_param_reaches_the_job_and_the_plan_says_why(tmp_path):
    import json

    done = run_cli(["run", "-d", "digits", "-b", "5s", "-c", "sklearn-logreg,test-quick",
                    "--param", "sklearn-logreg.max_iterations=20", "--param",
                    "sklearn-logreg.C=0.5", "--max-train-per-class", "20",
                    "--leaderboard-dir", "results/lb"], tmp_path, timeout=600,
                   HARNESS_OFFLINE="1")
    assert done.returncode == 0, done.stderr
    assert "sklearn-logreg: named" in done.stdout
    assert "test-quick: named" in done.stdout
    assert "params {'max_iterations': 20, 'C': 0.5}" in done.stdout
    results = [json.loads(p.read_text()) for p in tmp_path.glob("results/runs/*/result.json")]
    (logreg,) = [r for r in results if r["contender"] == "sklearn-logreg"]
    assert logreg["params"] == {"max_iterations": 20, "C": 0.5}
    assert logreg["description"]["params"]["max_iterations"] == 20
