"""Scale: preparation, cache, memory and each default contender, by image count and size.

    .venv/bin/python -m tests.bench.bench_scale [--out results/bench-scale]
        [--sets 32px-1k,32px-10k,32px-50k,web-1200,phone-200,cifar10-full,tiny-imagenet-full]
        [--budget 30] [--no-runs]

``make bench-scale`` runs it. Each set is written once under ``OUT/sets`` (kept between
runs) from real photographs where they are here:

- ``32px-1k``, ``32px-10k``, ``32px-50k``: PNG folders of 32 px patches of scikit-image's
  photographs (:mod:`tests.photos`, 8 classes);
- ``web-1200``: 1,200 JPEGs of 500x375 and 375x500 (half each), 4 classes: the real
  CIFAR-10 photos of ``../shared/data/cifar10-photos`` upscaled (the photo patches
  where those are absent), as a web gallery holds them;
- ``phone-200``: 200 JPEGs of 4000x3000 (about 2 MB each, with sensor-like grain), 4
  classes, a quarter stored sideways with an EXIF orientation as phones do;
- ``cifar10-full`` and ``tiny-imagenet-full``: archives in the official formats
  (CIFAR-10's binary tar.gz, Tiny-ImageNet's zip of JPEGs) at the real counts (50,000 +
  10,000; 100,000 + 10,000), their content generated, read through the harness's own
  download-and-check path from a local ``$HARNESS_DATA_SOURCES`` mirror.

For each set it measures, in fresh processes: preparation (decode and cache, as
``harness run`` does before any job) in seconds and its peak resident memory; the cache's
size on disk; a second open of the cache; then ``harness run`` with the default lineup
at ``--budget`` seconds: the runner's peak resident memory (sampled) and each row's
status, training seconds against the budget, accuracy and the job's own peak memory.
Beside ``web-1200`` and ``phone-200`` it runs the two peers of ``make bench-real`` (the
Keras example convnet and ``SVC()``) on the same split resized to 32 px. It prints one
markdown table with the commit and writes it to ``OUT/bench-scale.md``. A benchmark,
not a test: nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CIFAR10 = ROOT.parent / "shared" / "data" / "cifar10-photos"
SETS = ("32px-1k", "32px-10k", "32px-50k", "web-1200", "phone-200", "cifar10-full",
        "tiny-imagenet-full")
#: the peers of ``make bench-real`` see the photo sets at this size
PEER_SIDE = 32


# -- the sets ---------------------------------------------------------------------------


def _photos(per_class: int, classes: int) -> list[tuple[np.ndarray, int]]:
    """``per_class`` real 32 px photos of each of ``classes`` classes: CIFAR-10's where
    they are here, else patches of scikit-image's photographs."""
    if CIFAR10.is_dir():
        from PIL import Image

        out = []
        for label, folder in enumerate(sorted(CIFAR10.iterdir())[:classes]):
            for path in sorted(folder.glob("*.png"))[:per_class]:
                with Image.open(path) as img:
                    out.append((np.asarray(img.convert("RGB")), label))
        return out
    from tests.photos import PHOTOS, photo_patches

    images, labels, _, _ = photo_patches(per_class * classes, 1, 32, 0, PHOTOS[:classes])
    return list(zip(images, labels.tolist(), strict=True))


def write_patches(root: Path, n: int) -> None:
    """``n`` 32 px patches of the 8 photographs as PNGs, one folder per photograph."""
    from PIL import Image

    from tests.photos import PHOTOS, photo_patches

    images, labels, _, _ = photo_patches(n, 1, 32, 0)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / PHOTOS[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:05d}.png", compress_level=1)


def write_upscaled(root: Path, per_class: int, classes: int, size: tuple[int, int],
                   sideways_every: int = 0, quality: int = 90, grain: int = 0) -> None:
    """Real photos upscaled to ``size`` JPEGs; with ``sideways_every``, every such one
    stored turned a quarter and tagged with EXIF orientation 6 (as phones save them);
    ``grain``: sensor noise of that amplitude, so that files weigh what a camera's do."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i, (pixels, label) in enumerate(_photos(per_class, classes)):
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        shape = size if i % 2 == 0 or sideways_every else size[::-1]
        img = Image.fromarray(pixels).resize(shape, Image.Resampling.BICUBIC)
        if grain:
            noisy = np.asarray(img, np.int16) + rng.integers(-grain, grain + 1,
                                                             (shape[1], shape[0], 1), np.int16)
            img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
        exif = Image.Exif()
        if sideways_every and i % sideways_every == 0:
            img = img.transpose(Image.Transpose.ROTATE_90)
            exif[0x0112] = 6
        img.save(folder / f"{i:05d}.jpg", quality=quality, exif=exif.tobytes())


def _md5(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


def write_cifar10(path: Path) -> None:
    """CIFAR-10's binary release at its real counts: 5 x 10,000 + 10,000 records of a
    label byte and 3 x 32 x 32 pixels (generated: a class-dependent tint and noise)."""
    rng = np.random.default_rng(0)

    def batch(n: int) -> bytes:
        labels = rng.integers(0, 10, n).astype(np.uint8)
        pixels = rng.integers(0, 64, (n, 3, 32, 32), dtype=np.uint8)
        pixels += (labels * 19)[:, None, None, None].astype(np.uint8)
        return np.concatenate([labels[:, None], pixels.reshape(n, -1)], axis=1).tobytes()

    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
             "ship", "truck"]
    members = {f"data_batch_{i}.bin": batch(10_000) for i in range(1, 6)}
    members["test_batch.bin"] = batch(10_000)
    members["batches.meta.txt"] = ("\n".join(names) + "\n").encode()
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def write_tiny_imagenet(path: Path) -> None:
    """cs231n's Tiny-ImageNet zip at its real counts: 200 classes x 500 training JPEGs
    and 10,000 labelled validation JPEGs of 64 x 64 (generated: a tint per class)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    base = "tiny-imagenet-200/"
    wnids = [f"n{i:08d}" for i in range(200)]

    def jpeg(label: int) -> bytes:
        pixels = rng.integers(0, 48, (64, 64, 3), dtype=np.uint8)
        pixels += np.uint8(label % 200)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=80)
        return buffer.getvalue()

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{base}wnids.txt", "\n".join(wnids) + "\n")
        zf.writestr(f"{base}words.txt", "".join(f"{w}\tclass {i}\n"
                                                for i, w in enumerate(wnids)))
        for label, wnid in enumerate(wnids):
            for j in range(500):
                zf.writestr(f"{base}train/{wnid}/images/{wnid}_{j}.JPEG", jpeg(label))
        lines = []
        for j in range(10_000):
            label = j % 200
            zf.writestr(f"{base}val/images/val_{j}.JPEG", jpeg(label))
            lines.append(f"val_{j}.JPEG\t{wnids[label]}\t0\t0\t64\t64")
        zf.writestr(f"{base}val/val_annotations.txt", "\n".join(lines) + "\n")


def mirror(sets_dir: Path, group: str, name: str, write) -> Path:
    """The archive ``name`` under ``sets_dir/mirror`` (written once) and a sources file
    that points ``group`` at it: what ``$HARNESS_DATA_SOURCES`` names."""
    folder = sets_dir / "mirror"
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / name
    if not archive.is_file():
        write(archive.with_suffix(".part"))
        archive.with_suffix(".part").replace(archive)
    toml = folder / f"{group}.toml"
    toml.write_text(f'[[{group}]]\nname = "{name}"\nurls = ["{archive.as_uri()}"]\n'
                    f'checksum = "md5:{_md5(archive)}"\n')
    return toml


def make_set(name: str, sets_dir: Path) -> tuple[str, dict[str, str]]:
    """``(--dataset argument, environment)`` of set ``name``, written if not there."""
    if name.endswith("-full"):
        if name == "cifar10-full":
            toml = mirror(sets_dir, "cifar10", "cifar-10-binary.tar.gz", write_cifar10)
            return "cifar10", {"HARNESS_DATA_SOURCES": str(toml)}
        toml = mirror(sets_dir, "tiny_imagenet", "tiny-imagenet-200.zip", write_tiny_imagenet)
        return "tiny_imagenet", {"HARNESS_DATA_SOURCES": str(toml)}
    folder = sets_dir / name
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        started = time.monotonic()
        if name.startswith("32px-"):
            write_patches(folder, int(name.removeprefix("32px-").removesuffix("k")) * 1000)
        elif name == "web-1200":
            write_upscaled(folder, 300, 4, (500, 375))
        elif name == "phone-200":
            write_upscaled(folder, 50, 4, (4000, 3000), sideways_every=4, quality=85, grain=12)
        else:
            raise SystemExit(f"unknown set {name!r}: use {', '.join(SETS)}")
        (folder / ".complete").touch()
        print(f"{name}: written in {time.monotonic() - started:.0f} s", flush=True)
    return f"folder:{folder}", {}


# -- the measurements ---------------------------------------------------------------------

PREPARE = """
import json, resource, sys, time
t = time.perf_counter()
from pathlib import Path
from harness.data.registry import prepare_dataset
data = prepare_dataset(sys.argv[1], Path(sys.argv[2]))
n = len(data.train) + len(data.test)
print(json.dumps({"seconds": time.perf_counter() - t, "images": n,
                  "shape": list(data.train.images.shape[1:]),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _child(code: str, *args: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, **env}, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise SystemExit(f"preparing failed: {tail}")
    return json.loads(lines[-1])


def _tree_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def run_peak(command: list[str], env: dict[str, str]) -> tuple[int, float, float]:
    """Run ``command``; its exit code, seconds, and the peak resident memory (MB) of that
    process alone (not its workers), sampled every 0.1 s."""
    import psutil

    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def sample() -> None:
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                peak[0] = max(peak[0], watched.memory_info().rss / 2**20)
            except psutil.Error:
                break
            time.sleep(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = process.communicate()
    thread.join()
    if process.returncode:
        print(err.strip()[-2000:], flush=True)
    return process.returncode, time.monotonic() - started, peak[0]


def measure(name: str, out: Path, budget: float, runs: bool) -> dict:
    dataset, env = make_set(name, out / "sets")
    data_dir = out / "data" / name
    shutil.rmtree(data_dir, ignore_errors=True)  # preparation measured from the files
    env = {**env, "HARNESS_DATA": str(data_dir)}
    first = _child(PREPARE, dataset, str(data_dir), env=env)
    again = _child(PREPARE, dataset, str(data_dir), env=env)
    row = {"set": name, "dataset": dataset, "images": first["images"],
           "shape": first["shape"], "prepare_s": first["seconds"],
           "prepare_peak_mb": first["peak_mb"], "reopen_s": again["seconds"],
           "cache_mb": _tree_mb(data_dir), "rows": [], "peers": []}
    if not runs:
        return row
    store = out / "runs" / name
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    command = [str(Path(sys.executable).with_name("harness")), "run", "--dataset", dataset,
               "--budget", f"{budget:g}s", "--store", f"sqlite:///{store / 'h.sqlite'}",
               "--runs-dir", str(store / "runs"), "--leaderboard-dir", str(store / "pages"),
               "--data-dir", str(data_dir)]
    print("$", " ".join(command), flush=True)
    code, seconds, peak = run_peak(command, env)
    row.update(run_exit=code, run_s=seconds, runner_peak_mb=peak)
    from harness.store import Store

    db = Store(f"sqlite:///{store / 'h.sqlite'}")
    try:
        for r in db.latest():
            row["rows"].append({
                "contender": r.contender, "status": r.status.value,
                "accuracy": r.test_accuracy, "train_s": r.train_seconds,
                "budget_s": r.budget_seconds, "peak_mb": r.peak_rss_mb,
                "trained_at": r.image_shape, "message": r.message})
    finally:
        db.close()
    if name in ("web-1200", "phone-200"):
        from tests.bench.bench_real import PEERS, run_peer

        for peer in PEERS:
            got = run_peer(peer, dataset, budget, data_dir, PEER_SIDE)
            row["peers"].append({"contender": f"{peer} at {PEER_SIDE} px", **got})
    return row


# -- the table ----------------------------------------------------------------------------


def _f(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def table(rows: list[dict], sha: str, budget: float) -> str:
    lines = [f"Commit `{sha}`, {os.cpu_count()} CPU cores, no GPU; the default lineup at "
             f"{budget:g} s. Preparation: decoding and caching in a fresh process, as "
             "`harness run` does before any job; reopen: the same again from the cache.", "",
             "| Set | Images | Working size | Prepare s | s / 1,000 images | Prepare peak MB "
             "| Cache MB | Reopen s | Runner peak MB |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['images']:,} | {'x'.join(map(str, r['shape']))} | "
            f"{r['prepare_s']:.1f} | {1000 * r['prepare_s'] / r['images']:.2f} | "
            f"{r['prepare_peak_mb']:.0f} | {r['cache_mb']:.0f} | {r['reopen_s']:.1f} | "
            f"{_f(r.get('runner_peak_mb'), '.0f')} |")
    lines += ["", "| Set | Contender | Status | Trained at | Train s / budget | Test accuracy "
              "| Job peak MB |", "| --- | --- | --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        for c in sorted(r["rows"], key=lambda c: -(c["accuracy"] or -1)):
            shown = f"{c['accuracy']:.2%}" if c["accuracy"] is not None else "–"
            status = c["status"] if c["status"] == "ok" else f"{c['status']}: {c['message'][:70]}"
            at = "x".join(map(str, c["trained_at"][:2])) if c["trained_at"] else "–"
            ratio = (f"{c['train_s']:.1f} / {c['budget_s']:g}"
                     if c["train_s"] is not None else "–")
            lines.append(f"| {r['set']} | {c['contender']} | {status} | {at} | {ratio} | "
                         f"{shown} | {_f(c['peak_mb'], '.0f')} |")
        for p in r["peers"]:
            acc = p.get("accuracy")
            lines.append(f"| {r['set']} | {p['contender']} | "
                         f"{'ok' if acc is not None else p.get('error', 'error')[:70]} | "
                         f"{PEER_SIDE}x{PEER_SIDE} | {_f(p.get('train_seconds'), '.1f')} | "
                         f"{_f(acc, '.2%')} | – |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "bench-scale"))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--no-runs", action="store_true",
                        help="preparation only: no harness run, no peers")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    from tests.bench.bench_real import commit

    sha, rows = commit(), []
    for name in args.sets.split(","):
        rows.append(measure(name.strip(), out, args.budget, not args.no_runs))
        (out / "bench-scale.json").write_text(json.dumps(rows, indent=1))
        print(table(rows[-1:], sha, args.budget), flush=True)
    text = table(rows, sha, args.budget)
    (out / "bench-scale.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
