"""Small array helpers the convolution exercises of notebooks 04 (γ step) and 05 (z^B step) share:
the reference answers run their forward and backward steps through these, in float32 like the
engine, and the checkers use ``has_nan_or_inf`` to recognise a missing stabiliser."""

from __future__ import annotations

import numpy as np


def has_nan_or_inf(answer, shape) -> bool:
    """True for an array of the right shape with NaN/inf in it (a missing stabiliser)."""
    try:
        answer = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return answer.shape == shape and not np.all(np.isfinite(answer))


def conv(x, kernel):
    """Step 1's forward: a stride-1 'SAME' convolution of NHWC ``x`` with an HWIO ``kernel``."""
    from .._tf import tf

    return tf.nn.conv2d(tf.constant(x, tf.float32), tf.constant(kernel, tf.float32), strides=1,
                        padding="SAME").numpy().astype(np.float64)


def conv_transpose(s, kernel, input_shape):
    """Step 3's backward: the transposed convolution of ``s`` back to ``input_shape``."""
    from .._tf import tf

    return tf.nn.conv2d_transpose(tf.constant(s, tf.float32), tf.constant(kernel, tf.float32),
                                  output_shape=input_shape, strides=1,
                                  padding="SAME").numpy().astype(np.float64)
