"""Every registered contender against the contract, on tiny synthetic data.

A new contender in ``baselines/`` is tested here without anyone writing a test: the
contract is :class:`harness.contenders.testing.ContenderTestCase`, the same class a
plugin author subclasses. What the built-in contenders need to fit a CI budget on a
CPU (shorter budgets, smaller inputs, stand-in weights, skips) is said here, on the
test side, never on the contenders.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from harness.contenders import get, list_contenders
from harness.contenders.testing import ContenderTestCase
from harness.core.context import JobContext
from tests.conftest import harness_env


def _transfer() -> list[str]:
    return [n for n in list_contenders("all") if get(n).family == "keras-transfer"]


def _transfer_params() -> dict[str, dict]:
    """The contract's images are 32x32 and stay so: no resizing to 224 or to the 64 px a
    real run uses (four times the work of a step, past a CI budget of seconds for an
    eager ConvNeXt), and static backbones (NASNet) built and loaded in setup as they
    would be for a fixed size. The 64 px default is tested on real weights in
    tests/unit/contenders/test_automm_real_weights.py and test_keras_transfer.py."""
    return {name: {"input_size": 32} for name in _transfer()}


_JAX_COMPILE = ("compiling its training step on JAX outlasts a CI budget of seconds on "
                "a CPU (18-78 s measured)")


class TestBuiltinContenders(ContenderTestCase):
    contenders = "all"
    budgets: ClassVar[dict[str, float]] = {
        # the hand-built CNNs reach validation accuracy 1.0 on the 36 images 2.0-4.8 s
        # into training on TensorFlow and PyTorch, 3.5 s for keras-shallow on JAX
        # (measured in a full slow tier at 15 s): 10 s leaves twice that
        "keras-shallow": 10.0, "keras-cnn6": 10.0, "keras-deep": 10.0, "keras-fastnet": 10.0,
        # MobileNet spends 9 s tracing its first step on JAX, and there learned the 36
        # images at 29.8 s of 45; at batch-norm momentum 0.6 it learns them at 12.5 s on
        # TensorFlow and 3.6 s on PyTorch (the same full slow tier)
        "mobilenet-scratch": 25.0, "mobilenet-scratch@jax": 45.0,
        # transfer contenders train on stand-in weights: the contract is their shape
        **{name: 8.0 for name in _transfer()},
        # one eager step of a whole NASNetMobile is long enough that stopping after it
        # overran 8 s by 6 % once (8.5 s); 20 s keeps a step's overrun within 5 %
        "nasnetmobile-224-finetune": 20.0,
        # the frozen NASNetMobiles too: an epoch here (one eager step and a validation)
        # takes 1.7-1.9 s, and in CI one ran 8 s to 8.9 s (11 % over)
        "nasnetmobile-frozen": 20.0, "nasnetmobile-224-frozen": 20.0,
        # ConvNeXtTiny fine-tuned eagerly: under a full slow tier one run at 8 s failed
        # once (passing alone and in its neighbours' order after); the same margin
        "convnext-tiny-224-finetune": 20.0,
        # the tuners split 60 % of the budget into trials of a few steps each on 36 images:
        # at 15 s optuna-tpe ended at chance on PyTorch (0.33, twice) and at 0.67 on
        # TensorFlow; at 25 s it reached 1.0 on both
        "keras-tuner-bayes": 25.0, "optuna-tpe": 25.0,
        # JAX compiles the whole training step with XLA on the first step, on the clock
        # (7-11 s for keras-cnn6 on 2 busy cores): the CNNs need time to learn after it
        # (they learned the 36 images at 8.7-11.5 s of 30 in the slow tier quoted above)
        "keras-cnn6@jax": 30.0, "keras-deep@jax": 30.0, "keras-fastnet@jax": 30.0,
        "mobilenetv3large-frozen@jax": 20.0,
    }
    params: ClassVar[dict[str, dict]] = _transfer_params()
    skips: ClassVar[dict[str, str]] = {
        "convnext-base-224-finetune":
            "one eager ConvNeXtBase step outlasts a CI budget on a CPU (its loading is "
            "tested in tests/unit/contenders/test_keras_transfer.py)",
        "convnext-base-2phase":
            "one eager ConvNeXtBase step outlasts a CI budget on a CPU (its loading is "
            "tested in tests/unit/contenders/test_keras_transfer.py)",
        "efficientnetb0-224-finetune":
            "at 1e-4 from random stand-in weights it learns nothing in a CI budget on a CPU",
        # measured on 2 cores: compiling the first training step took 18-23 s for the
        # frozen ConvNeXtTiny, EfficientNetB0 and NASNetMobile, 68-78 s for fine-tuning
        # (a phase this short trains eagerly on TensorFlow and PyTorch; on JAX eager is
        # slower still). They run on JAX where budgets are minutes, or on GPUs.
        **{f"{name}@jax": _JAX_COMPILE for name in (
            "convnext-tiny-frozen", "efficientnetb0-frozen", "nasnetmobile-frozen",
            "nasnetmobile-224-frozen")},
        "*-224-finetune@jax": _JAX_COMPILE,
    }

    def context(self, name: str, job_dir: Path, request) -> JobContext:
        context = super().context(name, job_dir, request)
        family = get(name).family
        if family == "automm":  # stand-in timm checkpoints, and a shared image cache
            cache = request.getfixturevalue("tmp_path_factory").getbasetemp() / "automm-data"
            return replace(context, weights_dir=request.getfixturevalue("automm_weights"),
                           data_dir=cache, cache_dir=cache)
        if family == "keras-transfer":  # Keras' files, saved from weights=None backbones
            weights = request.getfixturevalue("keras_transfer_weights")
            return replace(context, weights_dir=weights)
        return context

    def environment(self) -> dict[str, str]:
        return harness_env()  # the fault plugins on the path, as the other tests have
