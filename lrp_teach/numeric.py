"""Small numeric helpers used in more than one place."""

from __future__ import annotations

import numpy as np


def softmax(logits, axis: int = -1) -> np.ndarray:
    """The softmax of ``logits`` along ``axis``, in float64, numerically stable.

    The largest logit is subtracted first (softmax is unchanged by a shift), so ``exp`` never
    overflows: ``softmax([1000, 0])`` is ``[1, 0]``, not ``nan``. (The lecture port
    :func:`lrp_teach.lecture.lecture_lrp` works on TensorFlow tensors and keeps ``tf.nn.softmax``,
    so that its float32 numbers stay those TensorFlow computes.)
    """
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)
