"""Grad-CAM and first-layer feature maps of a fitted Keras model, as raw arrays.

Called through ``Contender.explain`` by the worker while the model is still in
memory; the harness renders the figures later from ``explain.npz`` (see
:mod:`harness.reporting.figures`). Grad-CAM (Selvaraju et al., 2017) weights the last
convolutional feature map by the gradient of the predicted class's score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_CHANNELS = 16  # feature maps shown per layer
FEATURE_LAYERS = 2  # the first convolutional layers whose maps are kept


def _spatial_layers(model) -> list:
    """Top-level layers whose output is a 4-D map and that come after a convolution.

    Layers before the first convolution (rescaling, resizing) are excluded: Grad-CAM
    taken there would be a saliency map of the input, not of learned features.
    """
    import keras

    seen_conv, out = False, []
    for layer in model.layers:
        seen_conv = seen_conv or isinstance(layer, keras.layers.Conv2D)
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        # dropout is the identity at inference: naming it would only confuse
        if (seen_conv and shape is not None and len(shape) == 4
                and not isinstance(layer, keras.layers.Dropout)):
            out.append(layer)
    return out


def _backbone(model):
    """The model whose own layers hold the convolutions: ``model``, or a backbone nested
    in it as a single layer (``keras.applications``); None if there is none."""
    import keras

    def has_conv(m) -> bool:
        return any(isinstance(layer, keras.layers.Conv2D) for layer in m.layers)

    if has_conv(model):
        return model
    return next((layer for layer in model.layers
                 if isinstance(layer, keras.Model) and has_conv(layer)), None)


def _around(model, backbone, x, after=None):
    """The chain of top-level layers before ``backbone`` applied to ``x`` or, given
    ``after`` (the backbone's output), the layers after it. Models built as a chain
    (stem, backbone, head) only: :func:`gradcam` checks the result."""
    import keras

    if backbone is model:
        return x if after is None else after
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    cut = layers.index(backbone)
    h = x if after is None else after
    for layer in (layers[:cut] if after is None else layers[cut + 1:]):
        h = layer(h, training=False)
    return h


def gradcam(model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """``(heatmaps in [0, 1] at the maps' resolution, predicted classes, layer name)``."""
    import keras
    import tensorflow as tf

    backbone = _backbone(model)
    layers = _spatial_layers(backbone) if backbone is not None else []
    if not layers:
        raise ValueError("no convolutional feature map in the model")
    # a 1x1 map (MobileNet on small images) says nothing about where: take the last
    # map that still has some extent
    last = ([layer for layer in layers if min(layer.output.shape[1:3]) >= 2] or layers)[-1]
    grad_model = keras.Model(backbone.input, [last.output, backbone.output])
    x = tf.convert_to_tensor(images.astype(np.float32))
    inner = _around(model, backbone, x)
    with tf.GradientTape() as tape:
        maps, out = grad_model(inner, training=False)
        proba = _around(model, backbone, x, after=out)
        pred = tf.argmax(proba, axis=1)
        score = tf.gather(proba, pred, axis=1, batch_dims=1)
    if backbone is not model and not np.allclose(proba, model(x, training=False), atol=1e-4):
        raise ValueError("the model is not a chain around its backbone")
    grads = tape.gradient(score, maps)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1)).numpy()
    peak = cam.reshape(len(cam), -1).max(1).reshape(-1, 1, 1)
    return cam / np.where(peak > 0, peak, 1.0), pred.numpy(), last.name


def feature_maps(model, image: np.ndarray) -> tuple[list[np.ndarray], list[str]]:
    """The first convolutional layers' outputs for one image, ``MAX_CHANNELS`` each."""
    import keras

    backbone = _backbone(model)
    if backbone is None:
        return [], []
    convs = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
    convs = convs[:FEATURE_LAYERS]
    probe = keras.Model(backbone.input, [c.output for c in convs])
    outs = probe(_around(model, backbone, image[None].astype(np.float32)), training=False)
    outs = outs if isinstance(outs, list | tuple) else [outs]
    return [np.asarray(o)[0, :, :, :MAX_CHANNELS] for o in outs], [c.name for c in convs]


def explain(model, images: np.ndarray, path: Path) -> None:
    """Write ``path`` (npz): the images, their Grad-CAM heatmaps and feature maps."""
    data: dict[str, np.ndarray] = {"images": images}
    notes = []
    try:
        cam, pred, layer = gradcam(model, images)
        data.update(gradcam=cam.astype(np.float32), pred=pred, gradcam_layer=np.array(layer))
    except Exception as exc:  # an unusual architecture: say so, keep the rest
        notes.append(f"no Grad-CAM: {exc}")
    try:
        maps, names = feature_maps(model, images[0])
    except Exception as exc:
        maps, names = [], []
        notes.append(f"no feature maps: {exc}")
    for i, (m, name) in enumerate(zip(maps, names, strict=True)):
        data[f"features_{i}"] = m.astype(np.float16)
        data[f"features_{i}_name"] = np.array(name)
    data["notes"] = np.array("; ".join(notes))
    np.savez_compressed(path, **data)
