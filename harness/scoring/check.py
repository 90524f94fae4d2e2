"""The contract check of one contender, in its own process: ``python -m harness.scoring.check
SPEC`` writes ``facts.json`` beside ``SPEC``.

It runs the contender through the evaluation protocol (:func:`harness.scoring.protocol.evaluate`,
the worker's own) on the contract's tiny synthetic data, and writes the facts that
:class:`harness.contenders.testing.ContenderTestCase` judges: no verdicts here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

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


def main(argv: list[str]) -> int:
    spec_file = Path(argv[0])
    spec = json.loads(spec_file.read_text())
    context = JobContext.from_dict(spec["context"])
    facts = check(spec["name"], spec["seconds"], spec["params"], context, spec.get("backend"))
    (spec_file.parent / "facts.json").write_text(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
