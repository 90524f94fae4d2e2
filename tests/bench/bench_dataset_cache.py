"""How long a cached dataset takes to load again: ``python tests/bench/bench_dataset_cache.py``.

Synthetic images of the real shapes (CIFAR-10: 50,000 + 10,000 of 32x32x3; Tiny-ImageNet:
100,000 + 10,000 of 64x64x3) are written through the real cache-writing path
(``harness.data.cache.write``, with the official sources' checksums), then loaded
with ``harness.data.registry.load_dataset`` as a job's worker does, in a fresh process each time
(interpreter start and imports included). ``--cold`` first evicts the cache files from
the page cache (``posix_fadvise``), as after a reboot. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SHAPES = {"cifar10": (50_000, 10_000, (32, 32, 3), 10),
          "tiny_imagenet": (100_000, 10_000, (64, 64, 3), 200)}

LOAD = """
import sys, time
t = time.perf_counter()
from pathlib import Path
from harness.data.registry import load_dataset
ds = load_dataset(sys.argv[1], Path(sys.argv[2]))
assert ds.train.images.shape[0] == int(sys.argv[3]), ds.train.images.shape
print(time.perf_counter() - t)
"""


def write_synthetic(name: str, data_dir: Path) -> float:
    import numpy as np

    from harness.data import Dataset, Split, cache
    from harness.data.official import remote_files

    n_train, n_test, shape, k = SHAPES[name]
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        return Split(rng.integers(0, 256, (n, *shape), np.uint8),
                     rng.integers(0, k, n).astype(np.int64), k)

    group = "cifar10" if name == "cifar10" else "tiny_imagenet"
    sources = {f.name: f.checksum for f in remote_files(group)}
    dataset = Dataset(name, split(n_train), split(n_test), tuple(f"c{i}" for i in range(k)))
    start = time.perf_counter()
    cache.write(data_dir / name / "arrays", dataset, sources)
    return time.perf_counter() - start


def evict(directory: Path) -> None:
    for path in directory.iterdir():
        with open(path, "rb") as fh:  # clean pages (written long enough ago) are dropped
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cifar10,tiny_imagenet")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="evict the files before each load")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        data_dir = Path(tmp)
        for name in args.datasets.split(","):
            written = write_synthetic(name, data_dir)
            arrays = data_dir / name / "arrays"
            size = sum(p.stat().st_size for p in arrays.iterdir()) / 2**20
            times, walls = [], []
            os.sync()
            for _ in range(args.repeat):
                if args.cold:
                    evict(arrays)
                wall = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", LOAD, name, str(data_dir),
                                       str(SHAPES[name][0])], capture_output=True, text=True,
                                      cwd=ROOT, check=True)
                walls.append(time.perf_counter() - wall)
                times.append(float(done.stdout.strip().splitlines()[-1]))
            print(f"{name}: {size:,.0f} MiB cached (written in {written:.1f} s); reload "
                  f"{'cold' if args.cold else 'warm'}: "
                  + ", ".join(f"{t:.2f}" for t in times) + f" s (best {min(times):.2f} s; whole "
                  f"process incl. interpreter start, worst {max(walls):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
