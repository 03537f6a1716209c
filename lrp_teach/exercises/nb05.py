"""Checkers for notebook 05, LRP on VGG16, numbered as the exercises appear in the notebook.

1. ``negative_share(relevance)``: how much of a heatmap is negative evidence (what the rainbow map
   hides).
2. ``layer_totals(per_layer)``: relevance summed per layer and per image (conservation).
3. ``initial_relevance(logits, target)``: where LRP starts -- the target logit, not the softmax
   vector (the lecture's first flaw).

Batches come first everywhere. Each checker computes the right answer itself (with the reference
implementations in :mod:`lrp_teach.metrics`, which the notebook's later cells use too), tries the
student's function on several inputs (random ones too) and names the typical mistake without the
answer.
"""

from __future__ import annotations

import numpy as np

from .. import metrics
from ._core import call_student, expect_array, fail, passed


# --------------------------------------------------------------------------------------------
# reference answers: lrp_teach.metrics; helpers for recognising mistakes
# --------------------------------------------------------------------------------------------

def _softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _pixel_maps(relevance):
    relevance = np.asarray(relevance, dtype=np.float64)
    return relevance.sum(axis=-1).reshape(relevance.shape[0], -1)


# --------------------------------------------------------------------------------------------
# exercise 1: the negative share of a heatmap
# --------------------------------------------------------------------------------------------

def negative_share(student_function) -> bool:
    """``f(relevance)`` for (N, H, W, C) -> (N,): Σ|negative pixel relevance| / Σ|pixel relevance|."""
    __tracebackhide__ = True
    exercise = "Exercise 1 (share of negative relevance)"
    rng = np.random.default_rng(52)
    for shape in ((1, 4, 4, 3), (3, 6, 5, 3), (2, 8, 8, 3)):
        relevance = rng.normal(size=shape) + rng.normal(size=(shape[0], 1, 1, 1))
        relevance[0] *= rng.random(shape[1:]) ** 3  # make magnitudes uneven: counts != shares
        value = call_student(exercise, student_function, relevance.copy())
        expected = metrics.negative_share(relevance)
        got = expect_array(exercise, "the negative share", value)
        if got.shape != expected.shape:
            if got.size == 1:
                fail(exercise, f"you returned one number for {shape[0]} images. Compute the share "
                               "for each image separately (sum over everything but the batch axis).")
            fail(exercise, f"the result has shape {got.shape}, expected one number per image "
                           f"{expected.shape}.")
        if np.allclose(got, expected, rtol=1e-6, atol=1e-9):
            continue
        if np.allclose(got, 1 - expected, rtol=1e-6):
            fail(exercise, "you computed the POSITIVE share. The exercise asks for the part that "
                           "is evidence against the class.")
        maps = _pixel_maps(relevance)
        if np.allclose(got, (maps < 0).mean(axis=1)):
            fail(exercise, "you counted negative pixels. Weigh each pixel by its |relevance|: a few "
                           "strongly negative pixels matter more than many faint ones.")
        flat = relevance.reshape(shape[0], -1)
        per_element = np.abs(np.minimum(flat, 0)).sum(1) / np.abs(flat).sum(1)
        if np.allclose(got, per_element):
            fail(exercise, "you took the sign of each colour channel. A pixel's relevance is the "
                           "SUM over its three channels; sum them first, then look at the sign.")
        fail(exercise, "the share does not match. Per image: sum the channels, then divide the "
                       "total |relevance| of the negative pixels by the total |relevance|.")
    zero = call_student(exercise, student_function, np.zeros((1, 2, 2, 3)))
    if not np.all(np.isfinite(np.asarray(zero, dtype=float))):
        fail(exercise, "an all-zero heatmap gave NaN. Return 0 when there is no relevance at all.")
    return passed(exercise)


# --------------------------------------------------------------------------------------------
# exercise 2: relevance per layer
# --------------------------------------------------------------------------------------------

def layer_totals(student_function) -> bool:
    """``f(per_layer)`` -> array (L, N): relevance summed per layer and per image."""
    __tracebackhide__ = True
    exercise = "Exercise 2 (relevance per layer)"
    rng = np.random.default_rng(53)
    for n in (1, 3):
        per_layer = [("input", rng.normal(size=(n, 6, 6, 3))),
                     ("block1_conv1", rng.normal(size=(n, 6, 6, 4))),
                     ("block1_pool", rng.normal(size=(n, 3, 3, 4))),
                     ("flatten", rng.normal(size=(n, 36))),
                     ("predictions", rng.normal(size=(n, 10)))]
        value = call_student(exercise, student_function, [(k, v.copy()) for k, v in per_layer])
        expected = metrics.layer_totals(per_layer)
        got = expect_array(exercise, "the totals", value)
        if got.shape == expected.shape[::-1] and got.shape != expected.shape:
            fail(exercise, f"the shape is {got.shape}; put the layers first: (layers, images) = "
                           f"{expected.shape}.")
        if got.shape == (len(per_layer),):
            fail(exercise, "you summed over the images too (or dropped the image axis). Keep one "
                           "total per image: conservation holds image by image.")
        if got.shape != expected.shape:
            fail(exercise, f"the result has shape {got.shape}, expected (layers, images) = "
                           f"{expected.shape}.")
        if np.allclose(got, expected, rtol=1e-6, atol=1e-9):
            continue
        absolute = np.stack([np.abs(r).reshape(n, -1).sum(1) for _, r in per_layer])
        if np.allclose(got, absolute):
            fail(exercise, "you summed |relevance|. Conservation is about the signed sum: "
                           "negative relevance cancels positive relevance.")
        means = np.stack([r.reshape(n, -1).mean(1) for _, r in per_layer])
        if np.allclose(got, means):
            fail(exercise, "you took the mean. Conservation is about the total (sum): layers have "
                           "different numbers of neurons.")
        fail(exercise, "the totals do not match the sums of each layer's relevance per image.")
    return passed(exercise)


# --------------------------------------------------------------------------------------------
# exercise 3: the starting relevance
# --------------------------------------------------------------------------------------------

def initial_relevance(student_function) -> bool:
    """``f(logits, target)`` -> (N, C): the target logit at the target class, 0 elsewhere."""
    __tracebackhide__ = True
    exercise = "Exercise 3 (where LRP starts)"
    rng = np.random.default_rng(51)
    for n, c in ((1, 5), (3, 10), (4, 1000)):
        logits = rng.normal(scale=4.0, size=(n, c))
        logits[0, 0] = -abs(logits[0, 0]) - 1.0  # a negative logit among the targets
        target = rng.integers(0, c, size=n)
        target[0] = 0
        value = call_student(exercise, student_function, logits.copy(), target.copy())
        expected = metrics.initial_relevance(logits, target)
        got = expect_array(exercise, "the starting relevance", value, shape=expected.shape)
        if np.allclose(got, expected, rtol=1e-6, atol=1e-9):
            continue
        probabilities = _softmax(logits)
        if np.allclose(got, probabilities, rtol=1e-5, atol=1e-9):
            fail(exercise, "this is the whole softmax vector -- exactly the lecture's mistake: it "
                           "explains all 1000 classes at once, squashed to probabilities. Start "
                           "from ONE class's logit.")
        rows = np.arange(n)
        if np.allclose(got[rows, target], probabilities[rows, target], rtol=1e-5) and \
                np.allclose(np.delete(got.ravel(), rows * c + target), 0):
            fail(exercise, "you put the target's softmax probability at the target. LRP explains "
                           "the score before the softmax (the logit): the softmax mixes in every "
                           "other class.")
        if np.allclose(got, np.eye(c)[target]):
            fail(exercise, "you start with 1 at the target. The starting relevance is the "
                           "network's output for that class (its logit), so that the heatmap "
                           "adds up to the score it explains.")
        if np.allclose(got, logits):
            fail(exercise, "every class keeps its logit. Keep only the target class's entry and "
                           "set the others to 0.")
        if np.allclose(got, np.abs(expected)):
            fail(exercise, "a negative logit came out positive. Keep the sign: a class the network "
                           "scores below zero starts with negative relevance.")
        if got.shape == expected.shape and np.allclose(got.sum(axis=1), expected.sum(axis=1)):
            fail(exercise, "the total per image is right, but it sits at the wrong class. Index "
                           "each row with its own target.")
        fail(exercise, "the starting relevance does not match: it should be zero everywhere except "
                       "at each image's target class.")
    return passed(exercise)
