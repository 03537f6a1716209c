"""Checkers for notebook 04, LRP layer by layer on the trained shapes network.

Shapes follow Keras: images and feature maps are (N, H, W, C) ("channels last"), a Conv2D kernel
is (3, 3, C_in, C_out), a mask is (H, W) or (N, H, W) booleans.

Exercises are numbered as they appear in the notebook: 1. the Conv2D z⁺ step, 2. the evidence
inside the object, 3. relevance mass accuracy.

Each checker computes the right answer itself (the last two with :mod:`lrp_teach.metrics`, which
the notebook's later cells use too), tries the student's function on several inputs (random ones
included) and names the typical mistake it recognises, never the answer.
"""

from __future__ import annotations

import numpy as np

from .. import metrics
from ._core import call_student, expect_array, expect_close, fail, passed

#: The stabiliser of the z⁺ rule (the engine's and zennit's default).
EPSILON = 1e-6


# --------------------------------------------------------------------------------------------
# exercise 1: the Conv2D z⁺ step with a transposed convolution
# --------------------------------------------------------------------------------------------

def _conv(a, kernel):
    from .._tf import tf

    return tf.nn.conv2d(tf.constant(a, tf.float32), tf.constant(kernel, tf.float32), strides=1,
                        padding="SAME").numpy().astype(np.float64)


def _conv_transpose(s, kernel, input_shape):
    from .._tf import tf

    return tf.nn.conv2d_transpose(tf.constant(s, tf.float32), tf.constant(kernel, tf.float32),
                                  output_shape=input_shape, strides=1,
                                  padding="SAME").numpy().astype(np.float64)


def _reference_conv_zplus(a, kernel, bias, relevance, *, positive=True, use_bias=True,
                          transpose=True, times_input=True):
    """The z⁺ step; the keyword switches produce the typical mistakes."""
    w = np.maximum(kernel, 0.0) if positive else kernel
    b = (np.maximum(bias, 0.0) if positive else bias) if use_bias else 0.0 * bias
    z = _conv(a, w) + b
    z = z + EPSILON * np.where(z >= 0, 1.0, -1.0)
    s = relevance / z
    if transpose:
        c = _conv_transpose(s, w, a.shape)
    else:  # a forward convolution where the backward one belongs (the kernel is not flipped)
        c = _conv(s, np.transpose(w, (0, 1, 3, 2)))
    return a * c if times_input else c


def _conv_cases(seed=4):
    rng = np.random.default_rng(seed)
    cases = []
    for n, size, c_in, c_out in ((1, 5, 2, 3), (2, 6, 3, 4), (1, 4, 4, 2)):
        a = np.maximum(rng.normal(size=(n, size, size, c_in)), 0.0) + 0.05
        kernel = rng.normal(size=(3, 3, c_in, c_out))
        kernel[1, 1, 0, :] = np.abs(kernel[1, 1, 0, :]) + 0.2  # every output has a positive path
        bias = rng.normal(size=c_out) + 0.5                   # some b > 0 (b⁺ matters)
        relevance = rng.random((n, size, size, c_out)) + 0.1
        cases.append(tuple(x.astype(np.float32) for x in (a, kernel, bias, relevance)))
    return cases


def conv_zplus_step(student_function) -> bool:
    """Check ``R_in = f(a, kernel, bias, relevance)``, the z⁺ rule through a 3×3 SAME Conv2D."""
    __tracebackhide__ = True
    exercise = "Exercise 1 (Conv2D z⁺ step)"
    for a, kernel, bias, relevance in _conv_cases():
        answer = call_student(exercise, student_function, a.copy(), kernel.copy(), bias.copy(),
                              relevance.copy())
        answer = expect_array(exercise, "R_in", np.asarray(answer), shape=a.shape)
        expected = _reference_conv_zplus(a, kernel, bias, relevance)
        if np.allclose(answer, expected, rtol=1e-3, atol=1e-5):
            continue
        mistakes = [
            (dict(positive=False), "it looks like you used all weights W (and b). The z⁺ "
                                   "rule keeps only the positive parts W⁺ = max(W, 0), "
                                   "b⁺ = max(b, 0), in step 1 AND step 3."),
            (dict(use_bias=False), "almost: the denominator z⁺ includes the positive bias b⁺ "
                                   "(that is the relevance the bias absorbs)."),
            (dict(times_input=False), "you return c. Step 4 multiplies by the layer's input: "
                                      "R_in = a · c."),
            (dict(transpose=False), "step 3 must run the convolution BACKWARDS (from the output "
                                    "positions to the input positions): use "
                                    "tf.nn.conv2d_transpose with the same kernel, not "
                                    "tf.nn.conv2d."),
        ]
        for switches, message in mistakes:
            if np.allclose(answer, _reference_conv_zplus(a, kernel, bias, relevance, **switches),
                           rtol=1e-3, atol=1e-5):
                fail(exercise, message)
        total = relevance.sum()
        if not np.isclose(answer.sum(), total, rtol=0.2):
            fail(exercise, f"relevance is far from conserved: your R_in sums to "
                           f"{answer.sum():.4g}, the relevance from above to {total:.4g}. Check "
                           "steps 2 (s = R / z) and 3.")
        expect_close(exercise, "R_in", answer, expected, rtol=1e-3, atol=1e-5)
    return passed(exercise,
                  "Relevance flows back through the convolution; only b⁺ keeps a share.")


# --------------------------------------------------------------------------------------------
# exercise 2: the evidence inside the object, for the true and for a wrong class
# --------------------------------------------------------------------------------------------

def object_evidence(student_function) -> bool:
    """Check ``f(relevance (N, H, W, C), masks (N, H, W)) -> (N,)`` = Σ of R inside each mask."""
    __tracebackhide__ = True
    exercise = "Exercise 2 (evidence inside the object)"
    rng = np.random.default_rng(6)
    for n, size in ((1, 5), (3, 6), (4, 8)):
        relevance = rng.normal(size=(n, size, size, 3))
        masks = rng.random((n, size, size)) < 0.3
        masks[:, 0, 0] = True
        answer = call_student(exercise, student_function, relevance.copy(), masks.copy())
        answer = expect_array(exercise, "evidence", answer)
        expected = metrics.object_evidence(relevance, masks)
        if answer.shape != expected.shape:
            fail(exercise, f"return one number per image, shape {expected.shape}; got "
                           f"{answer.shape}. Sum over the channels and the pixels, keep the "
                           "image axis.")
        if np.allclose(answer, expected, rtol=1e-6):
            continue
        if np.allclose(answer, relevance.sum(axis=(1, 2, 3))):
            fail(exercise, "you summed over the whole image. Only the pixels where the mask is "
                           "True count.")
        if np.allclose(answer, (np.abs(relevance).sum(-1) * masks).sum(axis=(1, 2))) or \
                np.allclose(answer, (np.abs(relevance.sum(-1)) * masks).sum(axis=(1, 2))):
            fail(exercise, "keep the sign: the point is to see whether the evidence is FOR "
                           "(positive) or AGAINST (negative) the class.")
        if np.allclose(answer, (np.clip(relevance.sum(-1), 0, None) * masks).sum(axis=(1, 2))):
            fail(exercise, "keep the negative relevance too: we want the net evidence.")
        fail(exercise, "the values do not match Σ over the mask pixels of the relevance "
                       "(summed over channels).")
    return passed(exercise)


# --------------------------------------------------------------------------------------------
# exercise 3: relevance mass accuracy of one heatmap
# --------------------------------------------------------------------------------------------

def _mass_accuracy(relevance, mask, part="positive", per_pixel=True, normalise="mass"):
    pixels = relevance.sum(axis=-1) if per_pixel else relevance
    if part == "positive":
        values = np.clip(pixels, 0, None)
    elif part == "abs":
        values = np.abs(pixels)
    else:
        values = pixels
    mask_ = mask if values.ndim == 2 else mask[..., None]
    inside = (values * mask_).sum()
    if normalise == "mass":
        total = values.sum()
    else:  # divided by the mask's size
        total = mask.sum()
    return inside / total if total != 0 else 0.0


def _mass_cases(seed=5):
    rng = np.random.default_rng(seed)
    cases = []
    for size, channels in ((6, 3), (8, 3), (5, 1)):
        relevance = rng.normal(size=(size, size, channels))
        mask = np.zeros((size, size), dtype=bool)
        r0, c0 = rng.integers(0, size // 2, 2)
        mask[r0:r0 + size // 2, c0:c0 + size // 2] = True
        relevance[mask] += 0.8  # more positive evidence on the object, as for a good heatmap
        cases.append((relevance, mask))
    return cases


def relevance_mass_accuracy(student_function) -> bool:
    """Check ``f(relevance (H, W, C), mask (H, W)) -> float`` = positive mass inside / total."""
    __tracebackhide__ = True
    exercise = "Exercise 3 (relevance mass accuracy)"
    for relevance, mask in _mass_cases():
        answer = call_student(exercise, student_function, relevance.copy(), mask.copy())
        answer = expect_array(exercise, "mass accuracy", answer)
        if answer.size != 1:
            fail(exercise, f"return ONE number per heatmap, got an array of shape {answer.shape}. "
                           "Sum the relevance over the channels first, then over the pixels.")
        value = float(answer.reshape(()))
        expected = float(metrics.relevance_mass_accuracy(relevance[None], mask[None])[0])
        if np.isclose(value, expected, rtol=1e-6, atol=1e-9):
            continue
        if not 0.0 <= value <= 1.0:
            fail(exercise, f"a share of the relevance mass must lie in [0, 1], got {value:.4g}. "
                           "Only the POSITIVE relevance counts, inside and in the total.")
        if np.isclose(value, _mass_accuracy(relevance, mask, part="abs")):
            fail(exercise, "you used |R|. The metric counts positive relevance only (negative "
                           "relevance is evidence AGAINST the class, not mass on the object).")
        if np.isclose(value, _mass_accuracy(relevance, mask, per_pixel=False)):
            fail(exercise, "clip at zero AFTER summing a pixel's channels: a pixel's relevance is "
                           "the sum over its colour channels.")
        if np.isclose(value, _mass_accuracy(relevance, mask, normalise="size")):
            fail(exercise, "divide by the total positive relevance of the image, not by the number "
                           "of pixels in the mask.")
        fail(exercise, "the value does not match. Inside = Σ over mask pixels of max(R_p, 0), "
                       "total = Σ over all pixels of max(R_p, 0), R_p summed over channels.")
    empty = call_student(exercise, student_function, -np.ones((4, 4, 3)),
                         np.eye(4, dtype=bool))
    if not np.isfinite(np.asarray(empty, dtype=np.float64)).all() or float(empty) != 0.0:
        fail(exercise, "a heatmap without any positive relevance points at nothing: return 0.0 "
                       "(and avoid dividing by zero).")
    return passed(exercise)
