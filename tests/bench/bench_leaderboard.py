"""The leaderboard of a 10,000-row store: ``python tests/bench/bench_leaderboard.py``.

A SQLite store is filled with 10,000 ok rows (2 datasets × 5 budgets × 10 contenders ×
10 folds × 10 seeds) and, for every row of seed 0, a job folder with the artifacts a
worker writes (history.csv, test_predictions.npz of 1,000 test images, examples.npz,
and explain.npz for the Keras-named contenders). Then ``harness leaderboard`` runs
three times, each in a fresh process (interpreter start and imports included): cold
(every figure drawn), warm (nothing changed: no figure re-drawn) and after one new
row (only the figures of that group's changed inputs re-drawn). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DATASETS, BUDGETS, CONTENDERS, FOLDS, SEEDS = 2, 5, 10, 10, 10
CLASSES, TEST = 10, 1000


def _artifacts(jobdir: Path, rng: np.random.Generator, skill: float, keras: bool) -> None:
    jobdir.mkdir(parents=True)
    with open(jobdir / "history.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "elapsed_seconds", "train_loss", "train_accuracy", "val_loss",
                    "val_accuracy"])
        for e in range(1, 21):
            w.writerow([e, 3 * e, 1 / e, skill * (1 - 0.5 / e), 1.2 / e, skill * (1 - 0.6 / e)])
    labels = rng.integers(0, CLASSES, TEST)
    proba = rng.random((TEST, CLASSES)) + np.eye(CLASSES)[labels] * skill * 5
    proba /= proba.sum(1, keepdims=True)
    np.savez_compressed(jobdir / "test_predictions.npz", proba=proba.astype(np.float32),
                        labels=labels, class_names=np.array([f"class {i}" for i in range(CLASSES)]))
    pred = proba.argmax(1)
    idx = np.concatenate([np.flatnonzero(pred == labels)[:8], np.flatnonzero(pred != labels)[:8]])
    images = rng.integers(0, 255, (len(idx), 28, 28, 1)).astype(np.uint8)
    np.savez_compressed(jobdir / "examples.npz", index=idx, correct=pred[idx] == labels[idx],
                        images=images, labels=labels[idx], pred=pred[idx],
                        confidence=proba[idx].max(1), explained=idx[:6],
                        explained_labels=labels[idx[:6]])
    if keras:
        np.savez_compressed(jobdir / "explain.npz", images=images[:6],
                            gradcam=rng.random((6, 7, 7)), pred=pred[idx[:6]],
                            gradcam_layer=np.array("conv2d_1"),
                            features_0=rng.random((28, 28, 8)).astype(np.float16),
                            features_0_name=np.array("conv2d"), notes=np.array(""))


def fill(root: Path) -> str:
    import sqlalchemy as sa

    from harness.core.jobs import Job, Result, Status
    from harness.store import Store

    url = f"sqlite:///{root}/bench.sqlite"
    store = Store(url)
    rng = np.random.default_rng(0)
    rows = []
    for d in range(DATASETS):
        for b in range(BUDGETS):
            for c in range(CONTENDERS):
                name = f"{'keras' if c % 2 else 'sk'}-model-{c}"
                skill = 0.5 + 0.04 * c
                for seed in range(SEEDS):
                    for fold in range(FOLDS):
                        job = Job(f"bench{d}", name, fold, FOLDS, seed, 60.0 * (b + 1))
                        jobdir = root / "runs" / job.key
                        if seed == 0:
                            _artifacts(jobdir, rng, skill, keras=c % 2 == 1)
                        r = Result.for_job(
                            job, Status.OK, artifacts=str(jobdir) if seed == 0 else "",
                            test_accuracy=float(skill + rng.normal(0, 0.01)),
                            test_macro_f1=skill, train_seconds=55.0 * (b + 1),
                            latency_p50_ms=1.0 + c, throughput_per_s=1000.0 / (1 + c),
                            parameters=1000 * (c + 1), n_train=900, n_val=100,
                            environment={"cpu": "bench CPU", "python": "3"},
                        )
                        rows.append(dict(job_key=r.job_key, run_id="bench", dataset=r.dataset,
                                         contender=r.contender, status="ok", created=time.time(),
                                         payload=r.to_dict()))
    with store.engine.begin() as conn:
        conn.execute(sa.insert(store.table), rows)
    return url


def leaderboard(url: str, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness", "leaderboard", "--store", url,
                    "--leaderboard-dir", str(out)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="keep the store here")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench-leaderboard-"))
    t = time.perf_counter()
    url = fill(root)
    print(f"store: {DATASETS * BUDGETS * CONTENDERS * FOLDS * SEEDS:,} rows, "
          f"filled in {time.perf_counter() - t:.1f} s ({root})")
    out = root / "leaderboards"
    print(f"cold (every figure drawn):      {leaderboard(url, out):6.2f} s")
    pngs = len(list(out.rglob("*.png")))
    print(f"warm (nothing changed):         {leaderboard(url, out):6.2f} s  ({pngs} figures)")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    # one new row moves one group's accuracies: its trade-off plots are re-drawn
    from harness.core.jobs import Job, Result, Status
    from harness.store import Store

    job = Job("bench0", "sk-model-0", 0, FOLDS, SEEDS, 60.0)
    Store(url).add(Result.for_job(job, Status.OK, test_accuracy=0.99, train_seconds=50.0,
                                  latency_p50_ms=1.0))
    took = leaderboard(url, out)
    redrawn = sum(1 for p in out.rglob("*.png") if before.get(p) != p.stat().st_mtime_ns)
    print(f"after one new row:              {took:6.2f} s  ({redrawn} figure(s) re-drawn)")


if __name__ == "__main__":
    main()
