"""Hand-built Keras CNNs, trained from scratch within the budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from baselines import keras_common
from harness.budget import Budget
from harness.contender import Contender, FitReport, register
from harness.data import Split


class KerasCNN(Contender):
    """A Keras model built by ``build``; trained and scored by the shared plumbing."""

    family = "keras-cnn"
    requires = ("tensorflow", "keras")
    extra = "keras"
    overhead_seconds = 20.0
    defaults: dict[str, Any] = {"batch_size": 64, "learning_rate": 1e-3, "patience": None}

    def build(self, keras, input_shape: tuple[int, ...], num_classes: int):
        raise NotImplementedError

    def fit(self, train: Split, val: Split, budget: Budget, workdir: Path) -> FitReport:
        keras = keras_common.import_keras(self.seed)
        self.model = self.build(keras, train.images.shape[1:], train.num_classes)
        self.model.compile(
            optimizer=keras.optimizers.Adam(self.params["learning_rate"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return keras_common.fit_within_budget(
            self.model, train, val, budget,
            batch_size=self.params["batch_size"], patience=self.params["patience"],
            base_lr=self.params["learning_rate"],
        )

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return keras_common.predict_in_batches(self.model, images)

    def describe(self) -> dict[str, Any]:
        model = getattr(self, "model", None)
        return {
            "params": dict(self.params),
            "parameters": int(model.count_params()) if model is not None else None,
            "input_shape": list(model.input_shape[1:]) if model is not None else None,
            "layers": [layer.__class__.__name__ for layer in model.layers] if model else [],
        }

    def save(self, path: Path) -> Path | None:
        path.mkdir(parents=True, exist_ok=True)
        target = path / "model.keras"
        self.model.save(target)
        return target


@register("keras-shallow")
class KerasShallow(KerasCNN):
    """The seed project's MNIST model: one Conv2D layer with 8 kernels, a dense head.

    Dropout around the head: trained for the whole budget, the model would
    otherwise overfit small datasets such as digits.
    """

    def build(self, keras, input_shape, num_classes):
        layers = keras.layers
        return keras.Sequential([
            keras.Input(shape=input_shape),
            layers.Rescaling(1 / 255),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(num_classes, activation="softmax"),
        ], name="keras_shallow")
