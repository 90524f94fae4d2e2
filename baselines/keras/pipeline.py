"""The input pipeline, backend-neutral: NumPy batches in a Keras ``PyDataset``.

Training batches are shuffled each epoch, augmented per batch on the CPU (translation
by reflect-padding and cropping; left-right flips behind a :class:`Switch` that the
flip probe turns on) and one-hot labelled; the images stay uint8 until the model's
own ``Rescaling`` (a quarter of the bytes to move). On TensorFlow the same batches
reach ``fit`` through ``tf.data`` (:func:`training_data`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data import Split


@dataclass(frozen=True)
class Augment:
    """Label-preserving distortions applied per batch, on the CPU, as array operations."""

    #: left-right flips: right for photos, wrong for digits and text. ``"auto"`` starts
    #: without them and turns them on when a model that never saw a mirror image
    #: already classifies mirrored validation images nearly as well (see FLIP_PROBE).
    flip: bool | str = False
    translate: int = 0  # pixels, in each direction, by reflect-padding then cropping


class Switch:
    """A flag the training loop reads between batches (the flip probe turns flips on)."""

    def __init__(self, on: bool = False) -> None:
        self.on = bool(on)

    def assign(self, on: bool) -> None:
        self.on = bool(on)


def _batches_class():
    """``Batches``, made once Keras is imported (``PyDataset`` is Keras' own class)."""
    global _BATCHES
    if _BATCHES is not None:
        return _BATCHES
    import keras

    class Batches(keras.utils.PyDataset):
        """NumPy batches for any Keras backend: shuffled, augmented, one-hot labelled.

        Training batches repeat forever (Keras counts ``steps_per_epoch``), each epoch
        a new permutation, all batches full so that the step is traced once; the
        images stay uint8 until the model's own ``Rescaling`` (a quarter of the bytes
        to move). Evaluation batches are the split in order, the last one partial.
        """

        def __init__(self, split: Split, batch_size: int, training: bool,
                     augment: Augment, seed: int, flip_switch: Switch | None) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.images, self.labels = split.images, split.labels
            self.eye = np.eye(split.num_classes, dtype=np.float32)
            self.batch_size, self.training = batch_size, training
            self.augment, self.flip_switch = augment, flip_switch
            self.rng = np.random.default_rng(seed)
            self.steps = len(split) // batch_size if training else \
                -(-len(split) // batch_size)
            self.order = np.arange(len(split))
            self.epoch = -1

        @property
        def num_batches(self) -> int | None:
            return None if self.training else self.steps

        def __len__(self) -> int:
            return self.steps

        def __getitem__(self, index: int):
            size = self.batch_size
            if not self.training:
                part = slice(index * size, (index + 1) * size)
                return self.images[part], self.eye[self.labels[part]]
            epoch, step = divmod(index, self.steps)
            if epoch != self.epoch:  # the generator asks in order: one shuffle an epoch
                self.order, self.epoch = self.rng.permutation(len(self.images)), epoch
            picked = self.order[step * size:(step + 1) * size]
            images = self.images[picked]
            if self.flip_switch is not None and self.flip_switch.on:
                mirror = self.rng.random(len(images)) < 0.5
                images[mirror] = images[mirror, :, ::-1]
            pad = self.augment.translate
            if pad:  # one shift per batch: cheap, and over many batches just as varied
                height, width = images.shape[1:3]
                padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                                mode="reflect")
                dy, dx = self.rng.integers(0, 2 * pad + 1, 2)
                images = padded[:, dy:dy + height, dx:dx + width]
            return images, self.eye[self.labels[picked]]

    _BATCHES = Batches
    return Batches


_BATCHES = None


def make_batches(split: Split, batch_size: int, *, training: bool,
                 augment: Augment = Augment(), seed: int = 0,
                 flip_switch: Switch | None = None):
    """The input pipeline, backend-neutral: a Keras ``PyDataset`` of NumPy batches.

    ``flip_switch`` turns flipping on and off while training (None: no flips).
    """
    return _batches_class()(split, max(1, min(batch_size, len(split))), training, augment,
                            seed, flip_switch)


def training_data(split: Split, batch_size: int, *, augment: Augment = Augment(),
                  seed: int = 0, flip_switch: Switch | None = None):
    """What ``fit`` trains on: the training :func:`make_batches`, and on TensorFlow the
    same batches, in the same order, through ``tf.data``.

    Given a ``PyDataset``, Keras on TensorFlow reads it through
    ``tf.data.Dataset.from_generator``, and every training step of a small network then
    took 2.3 times as long as on the same arrays (keras-fastnet, 28x28 images, batch
    128 on 2 cores: 0.22 s against 0.09 s), with the generator itself at 2 ms a batch.
    Batch indices mapped through ``tf.numpy_function`` train at the arrays' speed.
    Prefetching is fixed at two batches with tf.data's autotuning off: its thread also
    held up the end of ``fit`` by up to seconds, past the deadline.
    """
    batches = make_batches(split, batch_size, training=True, augment=augment, seed=seed,
                           flip_switch=flip_switch)
    import keras

    if keras.backend.backend() != "tensorflow":
        return batches
    import tensorflow as tf

    images = tf.TensorSpec((None, *split.images.shape[1:]), tf.as_dtype(split.images.dtype))
    labels = tf.TensorSpec((None, split.num_classes), tf.float32)

    def batch(index):
        x, y = tf.numpy_function(lambda i: batches[int(i)], [index],
                                 (images.dtype, labels.dtype))
        return tf.ensure_shape(x, images.shape), tf.ensure_shape(y, labels.shape)

    options = tf.data.Options()
    options.autotune.enabled = False
    # in order, one batch at a time: an epoch's shuffle happens at its first index
    return tf.data.Dataset.range(2**62).map(batch).prefetch(2).with_options(options)
