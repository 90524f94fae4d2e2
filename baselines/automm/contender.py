"""The AutoMM family and its contenders, one per preset: ``automm-medium``
(``medium_quality``), ``automm-high`` (``high_quality``), ``automm-best``
(``best_quality``)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from baselines.automm.budget import (
    TOP_K,
    OverheadLog,
    attach,
    budget_callback,
    plan_time_limit,
    timer_callback,
)
from baselines.automm.images import frame, rgb
from baselines.automm.weights import CHECKPOINT_FILES, backbone_file, locate_weights
from harness.contenders import Contender, Family, FitReport, Probe, WeightsFile, register
from harness.core.budget import Budget
from harness.core.context import JobContext
from harness.data import Split

#: preset -> (backbone with GPUs: AutoMM 1.6's own for the preset, backbone on the CPU)
BACKBONES: dict[str, tuple[str, str]] = {
    "medium_quality": ("mobilenetv3_large_100", "mobilenetv3_small_100"),
    "high_quality": ("caformer_b36.sail_in22k_ft_in1k", "mobilenetv3_large_100"),
    "best_quality": ("swin_large_patch4_window7_224", "efficientnet_b0"),
}
#: timm CNNs downsample 32x: at 64 px the last feature map is 2x2, at 32 px a single
#: value per channel, which batch norm cannot train on with a batch of one
MIN_IMAGE_SIZE = 64
#: AutoMM's epoch cap and patience where the budget callback holds training: past any
#: budget (the callback stops it, and its schedule decays to the deadline)
OPEN_ENDED = 100_000
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
    # torch, Lightning and the AutoGluon stack before any image; the images go to disk
    # as files, and the data loader holds a few batches of them
    memory_base_mb = 2000.0
    memory_per_byte = 1.0
    preset: ClassVar[str] = ""
    #: None: the preset's (backbone and batch by device, AutoMM's learning rate and top-k)
    defaults: ClassVar[dict[str, Any]] = {"backbone": None, "image_size": None,
                                          "batch_size": None, "learning_rate": None,
                                          "top_k": None}

    @classmethod
    def weights_status(cls, context: JobContext) -> tuple[str, str]:
        backbone = BACKBONES[cls.preset][0 if context.gpus else 1]
        if context.weights_dir:
            folder = Path(context.weights_dir).expanduser() / backbone
            if all((folder / f).is_file() for f in CHECKPOINT_FILES):
                return "on disk", str(folder)
        if not context.offline:
            return "downloadable", f"timm's {backbone} from the Hugging Face hub on first use"
        return "missing", (f"{backbone} not on disk, and {context.why_offline}: put a "
                           f"timm checkpoint folder ({' + '.join(CHECKPOINT_FILES)}) at "
                           f"<weights-dir>/{backbone} (or fill the Hugging Face hub cache)")

    @classmethod
    def weights_files(cls, context: JobContext) -> list[WeightsFile]:
        backbone = BACKBONES[cls.preset][0 if context.gpus else 1]
        return [backbone_file(cls.name, backbone, context)]

    def prepare(self, train: Split, val: Split, context: JobContext) -> None:
        """Imports, weights and the PNG files: setup, before the training clock starts."""
        gpus = context.gpus
        self.backbone = self.params["backbone"] or BACKBONES[self.preset][0 if gpus else 1]
        self.checkpoint = locate_weights(self.backbone, context)
        import autogluon.multimodal  # noqa: F401  (seconds of imports, timed as setup)

        cache = _cache(context)
        self._frames = (frame(train, cache / "images"), frame(val, cache / "images"))

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
        if self.params["learning_rate"]:
            hyperparameters["optim.lr"] = self.params["learning_rate"]
        if self.params["top_k"]:
            hyperparameters["optim.top_k"] = self.params["top_k"]
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
        # torch's threads on the CPU: every core, or one left free for whatever else runs
        # (OpenMP threads that wait for a busy core make a step many times slower; one
        # thread of two made a step 1.5 times slower with nothing else running). The
        # callback times a few steps at each and keeps the faster.
        cores = len(os.sched_getaffinity(0))
        threads = () if gpus else ((cores, cores - 1) if cores > 1 else (1,))
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
        callback = budget_callback(
            budget, report, val_batches, log.after(key), batch_size=self.batch_size * max(1, gpus),
            threads=threads, top_k=self.params["top_k"] or TOP_K) if gpus <= 1 else None
        if gpus > 1:
            # Several GPUs train in other processes (DDP), where this process's callback
            # cannot look: Lightning's own Timer, checked after every step and agreed on
            # by every rank, stops training while what follows still fits
            timer = timer_callback(budget, log.after(key))
            self.budget_mechanism = ("Lightning Timer on every rank + time_limit"
                                     if attach(self.predictor, timer) else "time_limit")
        elif callback is not None and attach(self.predictor, callback):
            self.budget_mechanism = "budget callback + time_limit"
            # the callback's schedule runs on the budget's clock: no epoch cap or patience
            # of AutoMM's may end training before the budget does
            hyperparameters.update({"optim.max_epochs": OPEN_ENDED,
                                    "optim.patience": OPEN_ENDED})
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
        if callback:
            report.images_seen = callback.images
            self.torch_threads = callback.threads.chosen
            if callback.threads.describe():
                report.notes.append(callback.threads.describe())
            if callback.stopped_by_deadline:
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
                chunk = rgb(images[start : start + PREDICT_BATCH])
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
            "torch_threads": getattr(self, "torch_threads", None),
            # every weight, as for every family; the trainable ones beside
            "parameters": int(predictor.total_parameters) if predictor else None,
            "trainable_parameters": int(predictor.trainable_parameters) if predictor else None,
        }

    def save(self, path: Path) -> Path | None:
        self.predictor.save(str(path))
        return path

    def restore(self, path: Path, num_classes: int, manifest: dict[str, Any]) -> None:
        from autogluon.multimodal import MultiModalPredictor

        self.predictor = MultiModalPredictor.load(str(path))
        self.num_classes, self.gpus, self._runner = num_classes, 0, None


@register("automm-medium")
class AutoMMMedium(AutoMM):
    preset = "medium_quality"


@register("automm-high")
class AutoMMHigh(AutoMM):
    preset = "high_quality"


@register("automm-best")
class AutoMMBest(AutoMM):
    preset = "best_quality"

