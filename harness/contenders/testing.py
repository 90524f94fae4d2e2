"""The contender contract as a reusable pytest class, as Optuna ships ``SamplerTestCase``.

A plugin author checks their contenders against the same contract as the built-in
ones by subclassing :class:`ContenderTestCase` in a test module::

    from harness.contenders.testing import ContenderTestCase

    class TestMyContenders(ContenderTestCase):
        contenders = "mine-*"
        budgets = {"mine-slow": 30.0}      # seconds, by name or wildcard

Each contender is checked in a fresh process (``python -m harness.contenders.testing
SPEC``), as the harness runs jobs, on tiny synthetic data (36 training images of 32x32,
3 classes, each class a bright square in its own place): it fits within its budget
(5 % slack), returns probabilities of the right shape for a batch and for one image,
encodes no image on the path the harness times (``predict_proba``: no PNG or JPEG
bytes, no files), describes itself, saves what it says it saved, and - unless it needs pretrained
weights - learns the easy data. Test settings (budgets, parameters, skips, the
context) live on the test class, never on the contenders.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.core.context import JobContext

if TYPE_CHECKING:
    from harness.data import Split


def synthetic_split(n_per_class: int = 12, classes: int = 3, size: int = 32, seed: int = 0,
                    channels: int = 3) -> Split:
    """Easy images: each class is a bright square in its own place, plus noise."""
    import numpy as np

    from harness.data import Split

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            img = rng.integers(0, 60, (size, size, channels))
            r, q = divmod(c, 2)
            y0, x0 = r * size // 2, q * size // 2
            img[y0 : y0 + size // 2, x0 : x0 + size // 2] += 150
            images.append(img)
            labels.append(c)
    order = rng.permutation(len(labels))
    return Split(np.clip(np.array(images), 0, 255).astype(np.uint8)[order],
                 np.array(labels)[order], classes)


def tiny_splits() -> tuple[Split, Split, Split]:
    """(train, val, test) of synthetic 32x32 RGB images in 3 classes: the contract's data."""
    return synthetic_split(12, seed=0), synthetic_split(4, seed=1), synthetic_split(6, seed=2)


#: image encoders a prediction must not call: the harness times every contender from
#: the same in-memory arrays, and encoding them (PNG bytes, files) is work the others
#: do not do. ``(module, attribute path)``, watched where the module is loaded.
ENCODERS = (
    ("PIL.Image", "Image.save"),
    ("cv2", "imencode"),
    ("cv2", "imwrite"),
    ("torchvision.io", "encode_png"),
    ("torchvision.io", "encode_jpeg"),
    ("tensorflow", "io.encode_png"),
    ("tensorflow", "io.encode_jpeg"),
)


@contextlib.contextmanager
def encoders_watched():
    """Within ``with encoders_watched() as called:``, every :data:`ENCODERS` call is
    recorded in ``called`` (and still done)."""
    called: list[str] = []
    undo: list[tuple[Any, str, Any]] = []
    for module, path in ENCODERS:
        owner = sys.modules.get(module)
        *parents, attr = path.split(".")
        for part in parents:
            owner = getattr(owner, part, None)
        original = getattr(owner, attr, None) if owner is not None else None
        if original is None:
            continue

        def spy(*args, _original=original, _name=f"{module}.{path}", **kwargs):
            called.append(_name)
            return _original(*args, **kwargs)

        setattr(owner, attr, spy)
        undo.append((owner, attr, original))
    try:
        yield called
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)


def check(name: str, seconds: float, params: dict[str, Any], context: JobContext,
          backend: str | None = None) -> dict[str, Any]:
    """Run ``name`` through the contract; the facts a test judges (no verdicts here).

    ``backend``: the family's backend to train on (a Keras backend), set as the worker
    sets it, before the framework is imported.
    """
    import numpy as np

    from harness.contenders import FitReport, create, get
    from harness.contenders.contract import check_proba
    from harness.core.budget import Budget

    cls = get(name)
    for key, value in cls.framework.environment:  # as the worker does
        os.environ.setdefault(key, value)
    if backend and cls.framework.backend_variable:
        os.environ[cls.framework.backend_variable] = backend
    train, val, test = tiny_splits()
    contender = create(name, seed=context.seed, **params)
    context.work_dir.mkdir(parents=True, exist_ok=True)
    contender.prepare(train, val, context)  # setup: not on the training clock
    budget = Budget(seconds)
    t0 = time.monotonic()
    report = contender.fit(train, val, budget, context)
    took = time.monotonic() - t0
    facts: dict[str, Any] = {"seconds": seconds, "took": took,
                             "report_ok": isinstance(report, FitReport), "proba_error": None}
    try:
        proba = check_proba(contender.predict_proba(test.images), len(test), test.num_classes)
        facts["proba_shape"] = list(proba.shape)
        facts["accuracy"] = float(np.mean(proba.argmax(1) == test.labels))
    except ValueError as exc:
        facts["proba_error"] = str(exc)
    with encoders_watched() as called:  # the path the harness times
        facts["single_shape"] = list(np.shape(contender.predict_proba(test.images[:1])))
        contender.predict_proba(test.images)
    facts["encoders_called"] = sorted(set(called))
    info = contender.describe()
    facts["describe_ok"] = isinstance(info, dict) and "params" in info
    facts["parameters"] = info.get("parameters") if isinstance(info, dict) else None
    facts["history_elapsed"] = [e.elapsed_seconds for e in report.history]
    saved = contender.save(context.job_dir / "model")
    facts["saved_ok"] = saved is None or saved.exists()
    facts["pretrained"] = cls.pretrained
    facts["backend"] = info.get("backend") if isinstance(info, dict) else None
    return facts


def _match(table: dict[str, Any], name: str, default: Any = None) -> Any:
    """The value of the first key of ``table`` that is ``name`` or a wildcard matching it."""
    if name in table:
        return table[name]
    for pattern, value in table.items():
        if fnmatch.fnmatchcase(name, pattern):
            return value
    return default


class ContenderTestCase:
    """Every contender named by :attr:`contenders` against the contract; subclass it."""

    #: which registered contenders to check: a comma list or wildcards
    contenders: ClassVar[str] = "all"
    #: the training budget in seconds, and exceptions by name or wildcard
    budget: ClassVar[float] = 15.0
    budgets: ClassVar[dict[str, float]] = {}
    #: parameters to create a contender with, by name or wildcard (smaller inputs, say)
    params: ClassVar[dict[str, dict[str, Any]]] = {}
    #: contenders not to train here, with the reason the skip shows
    skips: ClassVar[dict[str, str]] = {}
    #: accuracy a contender that needs no pretrained weights must reach on the easy data
    min_accuracy: ClassVar[float] = 0.6
    #: seconds the check process may take in all (imports, setup, fit, predict, save)
    timeout: ClassVar[float] = 600.0
    #: the backends to check a contender on, for families that have several (Keras):
    #: ``None`` for every one installed here. Budgets, params and skips may name
    #: ``NAME@BACKEND`` to apply to one backend only.
    backends: ClassVar[tuple[str, ...] | None] = None

    def pytest_generate_tests(self, metafunc) -> None:
        if "contender_name" in metafunc.fixturenames:
            from harness.contenders import get, list_contenders

            cases, ids = [], []
            for name in list_contenders(self.contenders):
                family = get(name).framework
                installed = family.installed_backends()
                chosen = [b for b in (self.backends or installed) if b in installed]
                for backend in chosen or [None]:
                    cases.append((name, backend))
                    ids.append(f"{name}@{backend}" if backend else name)
            if "backend" in metafunc.fixturenames:
                metafunc.parametrize(("contender_name", "backend"), cases, ids=ids)
            else:
                names = list(dict.fromkeys(n for n, _ in cases))
                metafunc.parametrize("contender_name", names, ids=names)

    # -- hooks a subclass may override ---------------------------------------------------

    def context(self, name: str, job_dir: Path, request) -> JobContext:
        """The job context the contender is handed (weights, caches, offline...)."""
        return JobContext(job_dir=job_dir, data_dir=job_dir / "data",
                          cache_dir=job_dir / "cache", offline=True)

    def environment(self) -> dict[str, str]:
        """The environment of the check process (plugins on the path, say)."""
        return dict(os.environ)

    # -- the test --------------------------------------------------------------------------

    def _setting(self, table: dict[str, Any], name: str, backend: str | None,
                 default: Any = None) -> Any:
        """A test setting for ``name`` on ``backend``: ``NAME@BACKEND`` first, then ``NAME``."""
        if backend:
            found = _match(table, f"{name}@{backend}")
            if found is not None:
                return found
        return _match(table, name, default)

    def run_check(self, name: str, tmp_path: Path, request, backend: str | None = None
                  ) -> dict[str, Any]:
        import pytest

        from harness.contenders import get

        cls = get(name)
        why = (cls.unavailable() or cls.unsupported_backends.get(backend or "")
               or self._setting(self.skips, name, backend))
        if why:
            pytest.skip(why)
        spec = {"name": name, "backend": backend,
                "seconds": self._setting(self.budgets, name, backend, self.budget),
                "params": self._setting(self.params, name, backend, {}),
                "context": self.context(name, tmp_path / "job", request).to_dict()}
        spec_file = tmp_path / "spec.json"
        spec_file.write_text(json.dumps(spec))
        done = subprocess.run([sys.executable, "-m", "harness.contenders.testing",
                               str(spec_file)], env=self.environment(), capture_output=True,
                              text=True, timeout=self.timeout)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads((tmp_path / "facts.json").read_text())

    def test_contract(self, contender_name: str, backend: str | None, tmp_path: Path,
                      request) -> None:
        name = contender_name
        facts = self.run_check(name, tmp_path, request, backend)
        if backend:  # the check ran on the backend it was asked for, not a default
            assert facts["backend"] == backend, f"{name} ran on {facts['backend']}"
        seconds, took = facts["seconds"], facts["took"]
        assert facts["report_ok"], "fit must return a FitReport"
        assert took <= seconds * 1.05, f"{name} trained {took:.1f} s on a {seconds:.0f} s budget"
        assert facts["proba_error"] is None, facts["proba_error"]
        assert facts["proba_shape"] == [18, 3]
        if not facts["pretrained"]:
            # Pretrained contenders may run here on random stand-in weights with
            # fine-tuning recipes (tiny learning rates) not meant to learn from scratch
            # in seconds: for them the contract is the shape of what they return.
            accuracy = facts["accuracy"]
            assert accuracy > self.min_accuracy, \
                f"{name} learned nothing: {accuracy:.2f} on easy synthetic data"
        assert facts["single_shape"] == [1, 3]
        assert not facts["encoders_called"], \
            f"{name} encodes images on its timed path: {facts['encoders_called']}"
        assert facts["describe_ok"], "describe() must return a dict with 'params'"
        assert facts["parameters"] is None or facts["parameters"] > 0
        assert all(0 <= e <= took + 1 for e in facts["history_elapsed"])
        assert facts["saved_ok"], "save() returned a path that does not exist"


def main(argv: list[str]) -> int:
    """``python -m harness.contenders.testing SPEC``: one check, facts beside SPEC."""
    from harness.contenders import load_plugins

    spec_file = Path(argv[0])
    spec = json.loads(spec_file.read_text())
    context = JobContext.from_dict(spec["context"])
    if context.offline:  # the Hugging Face libraries read their own switch
        os.environ["HF_HUB_OFFLINE"] = "1"
    load_plugins()
    facts = check(spec["name"], spec["seconds"], spec["params"], context, spec.get("backend"))
    (spec_file.parent / "facts.json").write_text(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
