"""The winner kept: each table's leading model, exported with code that uses it.

Every job saves its fitted model in its folder (``model/``). When a run ends,
:func:`keep_leaders` removes each model but the leader's of every table the run added
to (per dataset, budget, GPU count and training cap: the job with the best test
accuracy of the contender with the best mean), unless ``--keep-models`` keeps them all.
``harness export-model`` (:func:`export_model`) copies a kept model to a folder with
``classify.py``, a few lines that load it and classify an image, and ``example.png``,
a test image to try it on; :func:`load_exported` is what those lines call.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.context import MODEL_DIR
from harness.core.errors import HarnessError
from harness.core.jobs import Result, Status

MANIFEST = "model.json"
SNIPPET = "classify.py"
EXAMPLE = "example.png"


def _table(r: Result) -> tuple:
    return (r.dataset, r.budget_seconds, r.gpus, r.max_train_per_class or 0)


def leaders(results: list[Result]) -> dict[tuple, Result]:
    """Per table, the best job of the contender with the best mean test accuracy."""
    accuracies: dict[tuple, dict[str, list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.status is Status.OK and r.test_accuracy is not None:
            accuracies[_table(r)][r.contender].append(r)
    out = {}
    for table, by_contender in accuracies.items():
        best = max(by_contender.values(),
                   key=lambda rows: float(np.mean([r.test_accuracy for r in rows])))
        out[table] = max(best, key=lambda r: r.test_accuracy)
    return out


def model_dir(result: Result) -> Path | None:
    """The job's saved model folder, where it is on this machine."""
    if not result.artifacts:
        return None
    folder = Path(result.artifacts) / MODEL_DIR
    return folder if folder.is_dir() else None


def keep_leaders(ran: list[Result], everything: list[Result]) -> list[Path]:
    """Remove the models of ``ran`` but each table's leader's (the leaders of
    ``everything``, the store's latest rows); return the folders removed."""
    keep = {r.job_key for r in leaders(everything).values()}
    removed = []
    for r in ran:
        folder = model_dir(r)
        if folder is not None and r.job_key not in keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def choose(results: list[Result], budget: float | None = None,
           contender: str | None = None) -> Result:
    """The row whose model to export: the leader of the table at ``budget`` (the
    largest budget with a kept model when not given), or ``contender``'s best job."""
    ok = [r for r in results if r.status is Status.OK and r.test_accuracy is not None]
    if budget is not None:
        ok = [r for r in ok if abs(r.budget_seconds - budget) < 1e-6]
    if not ok:
        raise HarnessError("no finished run matches: `harness run` it first, or pick "
                           "--budget from the page's tables")
    if contender is not None:
        mine = [r for r in ok if r.contender == contender and model_dir(r)]
        if not mine:
            raise HarnessError(f"no kept model of {contender!r} here: run it again with "
                               "--keep-models (only each table's leader is kept)")
        return max(mine, key=lambda r: r.test_accuracy)
    found = sorted((r for r in leaders(ok).values() if model_dir(r)),
                   key=lambda r: (r.budget_seconds, r.test_accuracy), reverse=True)
    if not found:
        raise HarnessError("the leader's model is not on this machine (its job folder "
                           "is elsewhere or was removed): run it again, or name "
                           "--contender with a kept model")
    return found[0]


def export_model(result: Result, target: Path, class_names: list[str],
                 example: np.ndarray | None = None) -> Path:
    """Copy ``result``'s model to ``target`` with its manifest, ``classify.py`` and,
    given a test image, ``example.png``; return the snippet's path."""
    source = model_dir(result)
    if source is None:
        raise HarnessError(f"job {result.job_key} kept no model: run it again with "
                           "--keep-models")
    if target.exists() and any(target.iterdir()):
        raise HarnessError(f"{target} is not empty: name a new folder")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target / MODEL_DIR)
    manifest = {
        "contender": result.contender, "family": result.family, "seed": result.seed,
        "params": result.params, "dataset": result.dataset,
        "budget_seconds": result.budget_seconds, "gpus": result.gpus,
        "job_key": result.job_key, "test_accuracy": result.test_accuracy,
        "backend": result.runtime.backend, "image_shape": result.image_shape,
        "class_names": list(class_names),
        "test_time_flip": bool(result.description.get("test_time_flip", False)),
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if example is not None:
        from PIL import Image

        image = example[..., 0] if example.shape[-1] == 1 else example
        Image.fromarray(image.astype(np.uint8)).save(target / EXAMPLE)
    snippet = target / SNIPPET
    snippet.write_text(
        f'"""{result.contender} on {result.dataset} ({result.test_accuracy:.2f} % on its '
        'test images), exported by harness.\n\n'
        f'    python {SNIPPET} IMAGE [IMAGE ...]   (try: python {SNIPPET} {EXAMPLE})\n"""\n'
        "import sys\nfrom pathlib import Path\n\n"
        "from harness.execution.models import load_exported\n\n"
        "model = load_exported(Path(__file__).parent)\n"
        "for path in sys.argv[1:]:\n"
        "    label, probability = model.classify(path)\n"
        '    print(f"{path}: {label} ({probability:.1%})")\n'
    )
    return snippet


@dataclass
class Exported:
    """A model loaded back from an export: ``classify(image path)`` and ``predict_proba``."""

    contender: Any
    manifest: dict[str, Any]

    @property
    def class_names(self) -> list[str]:
        return self.manifest["class_names"]

    def read(self, path: str | Path) -> np.ndarray:
        """An image file as the model's input: uint8, its height, width and channels,
        decoded as the training images were (upright, centre-cropped to the aspect,
        resized; 16-bit scaled to 8)."""
        from PIL import Image

        from harness.data.formats import shaped

        height, width, channels = self.manifest["image_shape"]
        with Image.open(path) as image:  # any format Pillow reads
            pixels = np.asarray(shaped(image, str(path), "L" if channels == 1 else "RGB",
                                       (width, height)), dtype=np.uint8)
        return pixels[..., None] if channels == 1 else pixels

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return self.contender.predict_proba(images)

    def classify(self, path: str | Path) -> tuple[str, float]:
        proba = self.predict_proba(self.read(path)[None])[0]
        best = int(np.argmax(proba))
        return self.class_names[best], float(proba[best])


def load_exported(folder: str | Path) -> Exported:
    """The model :func:`export_model` wrote to ``folder``, ready to classify."""
    import os

    from harness.contenders import create, get, load_plugins

    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    load_plugins()
    # the backend it was trained and saved on (``keras_backend`` in older manifests),
    # set before the family's framework is imported
    backend = manifest.get("backend") or manifest.get("keras_backend")
    variable = get(manifest["contender"]).framework.backend_variable
    if backend and variable:
        os.environ.setdefault(variable, backend)
    contender = create(manifest["contender"], seed=manifest["seed"], **manifest["params"])
    contender.restore(folder / MODEL_DIR, len(manifest["class_names"]), manifest)
    return Exported(contender, manifest)
