"""The lecture's LRP, ported to eager TensorFlow 2 -- kept only to show what it gets wrong.

(Also importable as ``lrp_teach.vgg16.lecture_lrp``.)
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
