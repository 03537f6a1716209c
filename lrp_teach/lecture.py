"""The lecture's LRP and its heatmap, ported faithfully -- kept only to show what they get wrong.

- :func:`lecture_lrp`: its ``LayerwiseRelevancePropagation`` in eager TensorFlow 2 (also
  importable as ``lrp_teach.vgg16.lecture_lrp``).
- :func:`project_image` and :func:`heatmap`: its colouring of a relevance map, with the same
  NumPy operations and therefore the same results, including its quirks (see there).
  :func:`lrp_teach.viz.rainbow_heatmap` is the *corrected* rainbow map (one scale for the whole
  map), for comparisons at the same scale.
"""

from __future__ import annotations

import numpy as np


def lecture_lrp(model, images, start: str = "softmax", target=None, epsilon: float = 1e-7):
    """The lecture's ``LayerwiseRelevancePropagation`` algorithm, faithfully, without TF1 graphs.

    Every Dense and Conv2D layer uses ``z = a·W + b + ε`` with the **plain** weights W (the slides
    say z⁺) and ε added without regard to the sign of z; max pooling passes ``a · maxpoolgrad(s)``
    with ``s = R / (maxpool(a) + ε)``; flatten reshapes. The same rule runs down to the pixels (no
    input-layer rule). ``start="softmax"`` begins, as the lecture does, with the whole softmax
    vector as relevance; ``start="logit"`` with the target logit only (the correction).

    Returns the relevance of the input, shape of ``images``. For teaching comparisons only; use
    :func:`lrp_teach.explain` for real work.
    """
    from ._tf import keras, tf

    x = tf.convert_to_tensor(np.asarray(images, dtype=np.float32))
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    activations = [x]
    for layer in layers:
        activations.append(layer(activations[-1]))
    logits = activations[-1]
    if start == "softmax":
        relevance = tf.nn.softmax(logits)
    elif start == "logit":
        index = tf.argmax(logits, axis=-1) if target is None else tf.broadcast_to(
            tf.constant(target, tf.int64), [logits.shape[0]])
        relevance = logits * tf.one_hot(index, logits.shape[-1], dtype=logits.dtype)
    else:
        raise ValueError("start must be 'softmax' (the lecture) or 'logit' (the correction)")

    for layer, a in zip(reversed(layers), reversed(activations[:-1])):
        kind = type(layer).__name__
        if kind in ("Dense", "Conv2D"):
            def linear(inputs, layer=layer):
                if kind == "Dense":
                    return tf.matmul(inputs, layer.kernel) + layer.bias
                return tf.nn.conv2d(inputs, layer.kernel, strides=layer.strides,
                                    padding=layer.padding.upper()) + layer.bias
        elif kind == "MaxPooling2D":
            def linear(inputs, layer=layer):
                return tf.nn.max_pool2d(inputs, layer.pool_size, layer.strides,
                                        layer.padding.upper())
        elif kind == "Flatten":
            relevance = tf.reshape(relevance, tf.shape(a))
            continue
        elif kind in ("Dropout", "InputLayer"):
            continue
        else:
            raise ValueError(f"lecture_lrp: layer {layer.name} ({kind}) is not in the lecture's code")
        with tf.GradientTape() as tape:
            tape.watch(a)
            z = linear(a) + epsilon
        s = tf.stop_gradient(relevance / z)
        c = tape.gradient(z, a, output_gradients=s)
        relevance = a * c
    return relevance.numpy()


def project_image(image, output_range=(0, 1), absmax=None, input_is_positive_only=False):
    """The lecture's ``project_image``, with the same NumPy operations and the same results.

    It was written for a batch (one ``absmax`` per image, the maximum over all axes but the
    first) but the lecture's ``heatmap`` calls it on ONE summed map of shape (H, W). Then:

    1. ``absmax`` is the maximum of |R| over axis 1: one value **per row**, shape (H,);
    2. the rows with ``absmax != 0`` are divided by ``absmax`` of those rows, and NumPy
       broadcasts the (H,) vector along the **last** axis: for a square map with no zero row,
       pixel (i, j) is divided by the absmax of row **j** (its column index), not of its own row
       and not by the map's maximum, so values beyond ±1 occur (they are clipped in step 4);
    3. ``(R + 1) / 2`` (unless ``input_is_positive_only``) maps [-1, 1] to [0, 1], zero to 0.5;
    4. clip to [0, 1] and stretch to ``output_range``.

    On a map with an **all-zero row** step 2 divides an array of (k, W) rows by k values
    (k = rows that are not zero): NumPy raises ``ValueError`` (shapes cannot be broadcast), as the
    lecture's code does, unless k happens to be 1 or W; this port raises the same ``ValueError``
    with a message that says why. Unlike the original it does not modify ``image`` in place.
    """
    image = np.array(image, dtype=np.result_type(np.asarray(image).dtype, np.float32))
    if absmax is None:
        absmax = np.max(np.abs(image), axis=tuple(range(1, len(image.shape))))
    absmax = np.asarray(absmax)
    nonzero = absmax != 0
    if nonzero.sum() > 0:
        try:
            image[nonzero] /= absmax[nonzero]    # the lecture's line, broadcasting and all
        except ValueError as error:
            raise ValueError(
                f"the lecture's project_image fails on this map of shape {image.shape}: "
                f"{int((~nonzero).sum())} of its {len(nonzero)} rows are all zero, and dividing "
                f"the other {int(nonzero.sum())} rows by their {int(nonzero.sum())} maxima cannot "
                f"be broadcast ({error}). Use lrp_teach.viz.rainbow_heatmap (one scale for the "
                "whole map) instead.") from error
    if not input_is_positive_only:
        image = (image + 1) / 2
    image = image.clip(0, 1)
    return output_range[0] + image * (output_range[1] - output_range[0])


def heatmap(relevance, cmap_type: str = "rainbow", **kwargs) -> np.ndarray:
    """The lecture's ``heatmap``: sum the colour channels of ONE relevance map (H, W, C), colour
    :func:`project_image` of it with ``cmap_type``; returns RGB of shape (H, W, 3) in [0, 1].

    ``kwargs`` go to :func:`project_image`. Raises ``ValueError`` where the lecture's code fails
    (a map with an all-zero row, see :func:`project_image`).
    """
    import matplotlib

    relevance = np.asarray(relevance)
    if relevance.ndim != 3:
        raise ValueError(f"heatmap expects one map of shape (H, W, C), got {relevance.shape}; "
                         "pass one image of a batch, e.g. R[0].")
    projected = project_image(relevance.sum(axis=-1), **kwargs)
    return matplotlib.colormaps[cmap_type](projected)[..., :3]
