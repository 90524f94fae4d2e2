"""The contract check of one contender, in its own process: ``python -m harness.scoring.check
SPEC`` writes ``facts.json`` beside ``SPEC``.

It runs the contender through the evaluation protocol (:func:`harness.scoring.protocol.evaluate`,
the worker's own) on the contract's tiny synthetic data, and writes the facts that
:class:`harness.contenders.testing.ContenderTestCase` judges: no verdicts here.

``python -m harness.scoring.check --serve NAME [BACKEND]`` imports the framework of
``NAME``'s family once (on ``BACKEND``), then checks each SPEC path read from its input
in a child forked from itself (where the system forks), in a process group of its own,
which writes what it prints to ``check.log`` beside the SPEC. For each it answers
``pid N`` when the child starts and ``rc N`` when it ends. A check so started is the
same check in a process of its own, without the seconds of importing TensorFlow or
PyTorch again.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, TextIO

from harness.core.context import JobContext


def check(name: str, seconds: float, params: dict[str, Any], context: JobContext,
          backend: str | None = None) -> dict[str, Any]:
    """Run ``name`` through the protocol on the contract's data; the facts a test judges.

    Inference is not timed here (18 images say nothing of speed; AutoMM's ten single-image
    calls alone would add 5 s): the timed path runs once, watched for image encoders.

    ``backend``: the family's backend to train on (a Keras backend), set as the worker
    sets it, before the framework is imported.
    """
    from harness.contenders import get
    from harness.contenders.testing import tiny_splits
    from harness.core.jobs import Job
    from harness.scoring.protocol import Data, evaluate

    job = Job(dataset="contract", contender=name, fold=0, folds=1, seed=context.seed,
              budget_seconds=seconds, params=params, backend=backend)
    context.job_dir.mkdir(parents=True, exist_ok=True)
    outcome = evaluate(job, lambda: Data(*tiny_splits()), context, outputs=context.job_dir,
                       pictures=False, timing=None)
    said = outcome.description
    return {
        "seconds": seconds, "took": outcome.train_seconds,
        "status": outcome.status.value, "message": outcome.message,
        "traceback": outcome.traceback_tail,
        "proba_shape": None if outcome.proba is None else list(outcome.proba.shape),
        "accuracy": outcome.scores.get("test_accuracy"),
        "encoders_called": list(outcome.encoders_called),
        "parameters": outcome.parameters,
        "history_elapsed": [e.elapsed_seconds for e in outcome.history],
        "pretrained": get(name).pretrained,
        # what the contender says it ran on, not what was asked of it
        "backend": said.get("backend"),
    }


def preload(name: str, backend: str | None) -> None:
    """Import what every check of ``name``'s family imports first, as the protocol would
    set it up: the family's environment, ``backend``, then its modules. What fails to
    import is left for the check itself to report."""
    from harness.contenders import get, load_plugins

    load_plugins()
    family = get(name).framework
    for key, value in family.environment:
        os.environ.setdefault(key, value)
    if backend and family.backend_variable:
        os.environ[family.backend_variable] = backend
    importlib.import_module("harness.scoring.protocol")
    for module in family.modules:
        with contextlib.suppress(Exception):
            importlib.import_module(module)


def serve(name: str, backend: str | None, requests: TextIO, answers: TextIO) -> int:
    """Preload ``name``'s framework, then check each spec path read from ``requests`` in
    a forked child; answer ``pid N`` as it starts and ``rc N`` as it ends."""
    preload(name, backend)
    for line in requests:
        spec = line.strip()
        if not spec:
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: its output to the spec's log, its input from nowhere
            code = 1
            try:
                os.setpgid(0, 0)  # a group of its own: a timeout kills what it started too
                log = os.open(Path(spec).parent / "check.log",
                              os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                code = main([spec])
            except BaseException:  # the child reports it and exits, whatever it was
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        with contextlib.suppress(OSError):  # (set on both sides: whichever runs first)
            os.setpgid(pid, pid)
        answers.write(f"pid {pid}\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(f"rc {os.waitstatus_to_exitcode(status)}\n")
        answers.flush()
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        return serve(argv[1], argv[2] if len(argv) > 2 else None, sys.stdin, sys.stdout)
    spec_file = Path(argv[0])
    spec = json.loads(spec_file.read_text())
    context = JobContext.from_dict(spec["context"])
    facts = check(spec["name"], spec["seconds"], spec["params"], context, spec.get("backend"))
    (spec_file.parent / "facts.json").write_text(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
