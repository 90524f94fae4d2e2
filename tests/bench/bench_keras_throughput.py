"""The harness's Keras training loop against plain ``model.fit``, per contender and backend.

    .venv/bin/python -m tests.bench.bench_keras_throughput
        [--models keras-shallow,keras-cnn6,keras-deep,keras-fastnet,mobilenet-scratch]
        [--size 28 --channels 1 --train 7200 --val 800] [--seconds 20 --repeats 1]
        [--backends tensorflow,jax,torch]

The same model (a contender's builder, freshly built and seeded for each run), the
same in-memory data and batch size, trained two ways, each in its own process (a
Keras backend is chosen once per process), the ways taken in turns so that a busy
machine slows both alike:

- ``plain``: ``model.fit(x, y, batch_size, validation_data=(xv, yv))`` on the NumPy
  arrays, stopped at the deadline by a three-line callback: what a user of Keras
  writes;
- ``harness``: :func:`baselines.keras.fit_within_budget` as the contender calls it: the
  NumPy pipeline with the contender's augmentation, the deadline, the schedule on the
  budget's clock, the validation pass, the flip probe and best-weight keeping.

Throughput is training images per second of wall time from the end of the first
(traced) step to the end of training, validation included. A benchmark, not a test:
it prints each run, then the median per contender and backend and the ratio of the
harness's loop to plain ``fit`` (``tests/unit/contenders/test_keras_speed.py`` holds
the coarse 0.5x guard).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

MODELS = "keras-shallow,keras-cnn6,keras-deep,keras-fastnet,mobilenet-scratch"


def synthetic(n: int, size: int, channels: int, classes: int, seed: int):
    from harness.data import Split

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 256, (n, size, size, channels)).astype(np.uint8)
    images[np.arange(n), labels % size, :, 0] = 255  # learnable, not trivially so
    return Split(images, labels, classes)


def child(args) -> dict:
    """One run in this process: ``{"rate": images/s, "first_step": s, "epochs": n}``."""
    from baselines import keras as kc
    from harness.contenders import get
    from harness.core.budget import Budget

    train = synthetic(args.train, args.size, args.channels, args.classes, 0)
    val = synthetic(args.val, args.size, args.channels, args.classes, 1)
    keras = kc.import_keras(0)
    cls = get(args.model)
    p = cls.defaults
    model = cls.build(keras, train.images.shape[1:], train.num_classes, p)
    kc.compile_model(keras, model, learning_rate=p["learning_rate"], optimizer=p["optimizer"],
                     weight_decay=p["weight_decay"], label_smoothing=p["label_smoothing"])
    batch_size = p["batch_size"]
    state = {"start": None, "batches": 0, "end": 0.0, "epochs": 0}
    began = time.perf_counter()

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if state["start"] is None:  # the first step traced the graph
                state["start"] = time.perf_counter()
            else:
                state["batches"] += 1

        def on_epoch_end(self, epoch, logs=None):
            state["epochs"] = epoch + 1

        def on_train_end(self, logs=None):
            state["end"] = time.perf_counter()

    budget = Budget(args.seconds)
    if args.way == "plain":
        class Stop(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if budget.expired():
                    self.model.stop_training = True

        eye = np.eye(train.num_classes, dtype=np.float32)
        model.fit(train.images, eye[train.labels], batch_size=batch_size, epochs=100_000,
                  validation_data=(val.images, eye[val.labels]), verbose=0,
                  callbacks=[Clock(), Stop()])
    else:
        kc.fit_within_budget(model, train, val, budget, batch_size=batch_size,
                             base_lr=p["learning_rate"], callbacks=[Clock()],
                             schedule=kc.Schedule(p["schedule"], p["warmup"]),
                             augment=kc.Augment(p["flip"], p["translate"]))
    return {"rate": state["batches"] * batch_size / (state["end"] - state["start"]),
            "first_step": state["start"] - began, "epochs": state["epochs"]}


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _child_args(model: str, way: str, size: int, channels: int, classes: int, train: int,
                val: int, seconds: float) -> list[str]:
    return ["--way", way, "--models", model, f"--size={size}", f"--channels={channels}",
            f"--classes={classes}", f"--train={train}", f"--val={val}",
            f"--seconds={seconds}"]


def run_child(model: str, backend: str, way: str, *, size: int = 28, channels: int = 1,
              classes: int = 10, train: int = 7200, val: int = 800,
              seconds: float = 20.0) -> dict:
    """One run in a fresh process with ``KERAS_BACKEND=backend``."""
    command = [sys.executable, "-m", "tests.bench.bench_keras_throughput", "--child",
               *_child_args(model, way, size, channels, classes, train, val, seconds)]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False,
                          cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"{model} {backend}/{way} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


class Forks:
    """Runs in processes forked from one that imported Keras on ``backend`` once: each
    run is still a process of its own, started without the seconds of imports."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.bench_keras_throughput", "--serve"],
            env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)

    def run(self, model: str, way: str, *, size: int = 28, channels: int = 1,
            classes: int = 10, train: int = 7200, val: int = 800,
            seconds: float = 20.0) -> dict:
        """What :func:`run_child` returns, from a forked process."""
        args = _child_args(model, way, size, channels, classes, train, val, seconds)
        self.process.stdin.write(json.dumps(args) + "\n")
        self.process.stdin.flush()
        found, error = None, ""
        for line in self.process.stdout:
            if line.startswith("{"):
                found = json.loads(line)
            elif line.startswith("error "):
                error = json.loads(line[len("error "):])
            elif line.startswith("rc "):
                if line.strip() != "rc 0" or found is None:
                    raise RuntimeError(f"{model} {self.backend}/{way} failed ({line.strip()}):"
                                       f"\n{error}")
                return found
        raise RuntimeError(f"{model} {self.backend}/{way}: the forking process ended")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def serve(parser: argparse.ArgumentParser) -> None:
    """``--serve``: import Keras once, then one forked run per line of arguments read."""
    from baselines import keras as kc

    kc.import_keras(0)
    for line in sys.stdin:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                args = parser.parse_args(json.loads(line))
                args.model = args.models
                print(json.dumps(child(args)), flush=True)
                code = 0
            except BaseException:  # said on the answer's line: stderr goes nowhere
                import traceback

                print("error " + json.dumps(traceback.format_exc()[-3000:]), flush=True)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(f"rc {os.waitstatus_to_exitcode(status)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--train", type=int, default=7200)
    parser.add_argument("--val", type=int, default=800)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--way", default="harness", help=argparse.SUPPRESS)
    if sys.argv[1:] == ["--serve"]:
        serve(parser)
        return
    args = parser.parse_args()
    if args.child:
        args.model = args.models
        print(json.dumps(child(args)))
        return
    shape = dict(size=args.size, channels=args.channels, classes=args.classes,
                 train=args.train, val=args.val, seconds=args.seconds)
    runs: dict[tuple[str, str, str], list[dict]] = {}
    for r in range(args.repeats):
        for model in args.models.split(","):
            for backend in args.backends.split(","):
                for way in ("plain", "harness"):
                    got = run_child(model, backend, way, **shape)
                    runs.setdefault((model, backend, way), []).append(got)
                    print(f"run {r + 1}: {model:18s} {backend:10s} {way:8s} "
                          f"{got['rate']:7.0f} images/s, {got['epochs']} epochs, first step "
                          f"{got['first_step']:.1f} s", flush=True)
    print(f"\n{args.train} images {args.size}x{args.size}x{args.channels}, {args.seconds:g} s "
          f"each, median of {args.repeats}, images/s after the first step:\n")
    print("| Contender | Backend | plain fit | harness loop | ratio |")
    print("| --- | --- | ---: | ---: | ---: |")
    for model in args.models.split(","):
        for backend in args.backends.split(","):
            plain, ours = (statistics.median(g["rate"] for g in runs[(model, backend, w)])
                           for w in ("plain", "harness"))
            print(f"| {model} | {backend} | {plain:.0f} | {ours:.0f} | {ours / plain:.2f} |")


if __name__ == "__main__":
    main()
