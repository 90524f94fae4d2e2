"""AutoGluon AutoMM (``MultiModalPredictor``) on images, held to the harness's budget.

One contender per AutoMM preset: ``automm-medium``, ``automm-high``, ``automm-best``.
What this package adds to AutoMM, and why, one concern per module:

- ``images``: AutoMM trains from a DataFrame of image paths; each array is written once
  as RGB PNG files under ``<data root>/automm/images/<content hash>/`` (setup, not
  training). Prediction encodes nothing: the uint8 arrays go through AutoMM's own
  validation transforms into its fitted torch model, as its ``predict`` would after
  decoding, so that AutoMM is timed from the same arrays as every contender.
- ``weights``: from ``<weights-dir>/<backbone>/`` (``pytorch_model.bin`` and
  ``config.json``, as :func:`save_backbone` writes them), else through timm's Hugging
  Face hub cache; neither there nor downloadable, the job is ``skipped`` with a message
  naming the backbone and the folder to fill.
- ``budget``: ``time_limit`` less the overhead measured on earlier fits, a callback that
  stops training while what follows still fits before the deadline, puts the learning
  rate's warm-up and decay on the budget's clock (AutoMM's own are sized for ten
  epochs), records the validation curve, and on the CPU picks torch's thread count
  by timing steps.
- ``contender``: the family and the presets. Backbones: with GPUs, the preset's own
  timm backbone; on the CPU a smaller one of the same rank, at least
  ``MIN_IMAGE_SIZE`` px (the last feature map 2x2). ``backbone=`` and ``image_size=``
  override the choice. A last batch of one training image (batch norm cannot train on
  it) is left out, and the row says so.
"""

from baselines.automm.budget import (
    MIN_TIME_LIMIT,
    OverheadLog,
    after_training_seconds,
    plan_time_limit,
    should_stop,
)
from baselines.automm.contender import (
    AUTOMM,
    BACKBONES,
    MIN_IMAGE_SIZE,
    AutoMM,
    AutoMMBest,
    AutoMMHigh,
    AutoMMMedium,
    per_device_batch,
)
from baselines.automm.images import png_paths
from baselines.automm.weights import (
    LITE0,
    locate_weights,
    save_backbone,
    save_efficientnet_lite0,
)

__all__ = [
    "AUTOMM", "BACKBONES", "LITE0", "MIN_IMAGE_SIZE", "MIN_TIME_LIMIT", "AutoMM",
    "AutoMMBest", "AutoMMHigh", "AutoMMMedium", "OverheadLog", "after_training_seconds",
    "locate_weights", "per_device_batch", "plan_time_limit", "png_paths", "save_backbone",
    "save_efficientnet_lite0", "should_stop",
]
