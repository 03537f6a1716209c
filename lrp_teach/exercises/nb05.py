"""Checkers for notebook 05, LRP on VGG16, numbered as the exercises appear in the notebook.

1. ``negative_share(relevance)``: how much of a heatmap is negative evidence (what the signed map
   shows in blue).
2. ``initial_relevance(logits, target)``: where LRP starts -- the target logit, not the softmax
   vector (the lecture's first flaw), one target per image.
3. ``zbox_step(x, kernel, relevance, low, high)``: the z^B rule through VGG16's first convolution
   with its per-channel pixel bounds (the lecture's missing input-layer rule).

Batches come first everywhere. The reference answers live here (``reference_*``; the notebook's
later cells use them, so it runs whether or not an exercise was solved). Each checker tries the
student's function on several inputs (random ones too) and names the typical mistake without the
answer.
"""

from __future__ import annotations

import numpy as np

from .. import metrics
from ..numeric import softmax
from ._conv import conv, conv_transpose, has_nan_or_inf
from ._core import call_student, expect_array, fail, passed

#: The stabiliser of the rules (the engine's and zennit's default).
EPSILON = 1e-6


# --------------------------------------------------------------------------------------------
# exercise 1: the negative share of a heatmap
# --------------------------------------------------------------------------------------------

def reference_negative_share(relevance) -> np.ndarray:
    """Share of a heatmap's |relevance| that is evidence *against* the class, per image, in [0, 1].

    With R_p the relevance of pixel p summed over its colour channels:

        share = Σ_p |min(R_p, 0)|  /  Σ_p |R_p|        (0 for an all-zero map)

    relevance : (N, H, W, C) or (N, H, W). Returns (N,) float64.
    """
    pixels = metrics.pixel_relevance(relevance).reshape(len(relevance), -1)
    total = np.abs(pixels).sum(axis=1)
    negative = np.abs(np.minimum(pixels, 0.0)).sum(axis=1)
    return np.divide(negative, total, out=np.zeros_like(total), where=total > 0)


def negative_share(student_function) -> bool:
    """``f(relevance)`` for (N, H, W, C) -> (N,): Σ|negative pixel relevance| / Σ|pixel relevance|."""
    __tracebackhide__ = True
    exercise = "Exercise 1 (share of negative relevance)"
    rng = np.random.default_rng(52)
    for shape in ((1, 4, 4, 3), (3, 6, 5, 3), (2, 8, 8, 3)):
        relevance = rng.normal(size=shape) + rng.normal(size=(shape[0], 1, 1, 1))
        relevance[0] *= rng.random(shape[1:]) ** 3  # make magnitudes uneven: counts != shares
        value = call_student(exercise, student_function, relevance.copy())
        expected = reference_negative_share(relevance)
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
        maps = metrics.pixel_relevance(relevance).reshape(shape[0], -1)
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
    zero = np.asarray(zero, dtype=float)
    if not np.all(np.isfinite(zero)):
        fail(exercise, "an all-zero heatmap gave NaN. Return 0 when there is no relevance at all.")
    if zero.shape != (1,) or zero[0] != 0.0:
        fail(exercise, f"an all-zero heatmap has no negative evidence: its share is 0, you returned "
                       f"{zero.ravel().tolist()}. Return 0 where the total |relevance| is 0.")
    return passed(exercise)


# --------------------------------------------------------------------------------------------
# exercise 2: the starting relevance
# --------------------------------------------------------------------------------------------

def reference_initial_relevance(logits, target) -> np.ndarray:
    """The relevance LRP starts from: the target logit at the target class, 0 elsewhere.

        R_c^(start) = f_c(x)  if c = target,   0 otherwise         (per image)

    so that the heatmap adds up to the score it explains (not to the softmax vector).

    Parameters
    ----------
    logits : (N, C) the network's scores before the softmax.
    target : an int (the same class for every image) or N ints, one per image.

    Returns (N, C) float64.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, classes), got {logits.shape}. "
                         "For a single image add a batch axis: logits[None].")
    n, classes = logits.shape
    target = np.asarray(target)
    if target.ndim > 1 or (target.ndim == 1 and len(target) != n):
        raise ValueError(f"target must be one int or one int per image ({n}), got shape "
                         f"{target.shape}.")
    if not np.issubdtype(target.dtype, np.integer):
        raise ValueError(f"target must hold class indices (ints), got dtype {target.dtype}.")
    target = np.broadcast_to(target, (n,))
    if np.any((target < 0) | (target >= classes)):
        raise ValueError(f"target classes must lie in 0..{classes - 1}, got {target.tolist()}.")
    start = np.zeros_like(logits)
    rows = np.arange(n)
    start[rows, target] = logits[rows, target]
    return start


def initial_relevance(student_function) -> bool:
    """``f(logits, target)`` -> (N, C): the target logit at the target class, 0 elsewhere."""
    __tracebackhide__ = True
    exercise = "Exercise 2 (where LRP starts)"
    rng = np.random.default_rng(51)
    for n, c in ((1, 5), (3, 10), (4, 1000)):
        logits = rng.normal(scale=4.0, size=(n, c))
        logits[0, 0] = -abs(logits[0, 0]) - 1.0  # a negative logit among the targets
        target = rng.integers(0, c, size=n)
        target[0] = 0
        value = call_student(exercise, student_function, logits.copy(), target.copy())
        expected = reference_initial_relevance(logits, target)
        got = expect_array(exercise, "the starting relevance", value, shape=expected.shape)
        if np.allclose(got, expected, rtol=1e-6, atol=1e-9):
            continue
        probabilities = softmax(logits)
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


# --------------------------------------------------------------------------------------------
# exercise 3: the z^B step through VGG16's first convolution
# --------------------------------------------------------------------------------------------

def _zbox(x, kernel, relevance, low, high, *, bounds="box", epsilon=EPSILON, split=True):
    """The z^B step; the keyword switches produce the typical mistakes."""
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    w_plus, w_minus = np.maximum(kernel, 0.0), np.minimum(kernel, 0.0)
    if bounds == "swapped":
        low, high = high, low
    l_img = np.broadcast_to(np.asarray(low, np.float64), x.shape)
    h_img = np.broadcast_to(np.asarray(high, np.float64), x.shape)
    if bounds == "none":   # the lecture: R = x·c
        z = conv(x, kernel)
    else:
        z = conv(x, kernel) - conv(l_img, w_plus) - conv(h_img, w_minus)      # 1. forward
    if epsilon:
        z = z + epsilon * np.where(z >= 0, 1.0, -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = relevance / z                                                          # 2. divide
    c = conv_transpose(s, kernel, x.shape)                                        # 3. backward
    if bounds == "none":
        return x * c
    if not split:          # the bounds multiplied by c instead of c⁺ / c⁻
        return x * c - l_img * c - h_img * c
    c_plus = conv_transpose(s, w_plus, x.shape)
    c_minus = conv_transpose(s, w_minus, x.shape)
    return x * c - l_img * c_plus - h_img * c_minus                                # 4. multiply


def reference_zbox_step(x, kernel, relevance, low, high) -> np.ndarray:
    """The z^B rule through a 3×3 SAME Conv2D for pixels in the box low ≤ x ≤ high (per channel):

        z_k = Σ_j x_j w_jk − l_j w⁺_jk − h_j w⁻_jk,   z ← z + ε·sign(z)   (the bias cancels)
        s_k = R_k / z_k,   c = W s,  c⁺ = W⁺ s,  c⁻ = W⁻ s   (transposed convolutions)
        R_j = x_j c_j − l_j c⁺_j − h_j c⁻_j
    """
    return _zbox(x, kernel, np.asarray(relevance, np.float64), low, high)


def _zbox_cases(seed=54):
    from ..images import VGG16_HIGH, VGG16_LOW

    rng = np.random.default_rng(seed)
    cases = []
    for n, size, c_out in ((1, 5, 3), (2, 6, 4), (1, 7, 2)):
        x = rng.uniform(VGG16_LOW, VGG16_HIGH, size=(n, size, size, 3))
        kernel = rng.normal(scale=0.05, size=(3, 3, 3, c_out))
        relevance = rng.normal(size=(n, size, size, c_out))
        cases.append((x, kernel, relevance))
    # z = 0 exactly: pixels at their lower bound seen by a filter without negative weights;
    # no relevance there, so 0/0 without the stabiliser ε
    x, kernel, relevance = (c.copy() for c in cases[1])
    x[0, :4, :4, :] = VGG16_LOW
    kernel[..., 0] = np.abs(kernel[..., 0])
    relevance[0, :3, :3, 0] = 0.0    # the outputs whose window lies in that corner (or the padding)
    cases.append((x, kernel, relevance))
    return [tuple(c.astype(np.float32) for c in case) for case in cases]


def zbox_step(student_function) -> bool:
    """Check ``R_in = f(x, kernel, relevance, low, high)``: z^B through a 3×3 SAME Conv2D."""
    __tracebackhide__ = True
    from ..images import VGG16_HIGH, VGG16_LOW

    exercise = "Exercise 3 (z^B step with VGG16's bounds)"
    low, high = VGG16_LOW.copy(), VGG16_HIGH.copy()
    for x, kernel, relevance in _zbox_cases():
        answer = call_student(exercise, student_function, x.copy(), kernel.copy(),
                              relevance.copy(), low.copy(), high.copy())
        if has_nan_or_inf(answer, x.shape):
            fail(exercise, "your R_in contains NaN or inf: where the pixels sit at their lower "
                           "bound under a filter without negative weights, z = 0. Stabilise z in "
                           "step 1: z + ε·sign(z), ε = check.EPSILON.")
        answer = expect_array(exercise, "R_in", np.asarray(answer), shape=x.shape)
        expected = _zbox(x, kernel, relevance, low, high)
        # float32 convolutions of values ~100: compare relative to the map's scale
        atol = 1e-4 * float(np.abs(expected).max())
        if np.allclose(answer, expected, rtol=1e-3, atol=atol):
            continue
        mistakes = [
            (dict(bounds="none"), "this is R = x·c, the lecture's rule (plain weights down to "
                                  "the pixels): a pixel at the mean colour (x = 0) gets nothing. "
                                  "z^B subtracts the bounds: z = x·W − l·W⁺ − h·W⁻."),
            (dict(bounds="swapped"), "the bounds are swapped: the LOW bound goes with the "
                                     "positive weights W⁺, the HIGH bound with W⁻."),
            (dict(split=False), "in step 4 each bound needs its own backward pass: l with "
                                "c⁺ = W⁺ s and h with c⁻ = W⁻ s, not with c = W s."),
        ]
        for switches, message in mistakes:
            with np.errstate(all="ignore"):
                wrong = _zbox(x, kernel, relevance, low, high, **switches)
            if np.allclose(answer, wrong, rtol=1e-3, atol=atol):
                fail(exercise, message)
        scalar = _zbox(x, kernel, relevance, low[0], high[0])
        if np.allclose(answer, scalar, rtol=1e-3, atol=atol):
            fail(exercise, "low and high are per colour channel (shape (3,)): broadcast them over "
                           "the image, do not use one number for all channels.")
        fail(exercise, f"R_in does not match z^B (largest difference "
                       f"{np.abs(answer - expected).max():.3g}). Check the four steps against "
                       "the formula in the text.")
    return passed(exercise, "Pixels at the mean colour now get relevance, unlike with R = x·c.")
