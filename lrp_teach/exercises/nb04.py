"""Checkers for notebook 04, LRP layer by layer on the trained shapes network.

Shapes follow Keras: images and feature maps are (N, H, W, C) ("channels last"), a Conv2D kernel
is (3, 3, C_in, C_out), a mask is (H, W) or (N, H, W) booleans.

Exercises are numbered as they appear in the notebook: 1. the Conv2D γ step (the notebook shows
the z⁺ step; the γ step is new), 2. the evidence inside the object, 3. relevance mass accuracy.

The reference answers live here too (``reference_*``): the notebook's later cells use them, so the
notebook runs whether or not the exercise was solved. Each checker tries the student's function
on several inputs (random ones included), compares with the reference and names the typical
mistake it recognises, never the answer.
"""

from __future__ import annotations

import numpy as np

from .. import metrics
from ._conv import conv, conv_transpose, has_nan_or_inf
from ._core import call_student, expect_array, expect_close, fail, passed

#: The stabiliser of the rules (the engine's and zennit's default).
EPSILON = 1e-6


# --------------------------------------------------------------------------------------------
# exercise 1: the Conv2D γ step with a transposed convolution
# --------------------------------------------------------------------------------------------

def _reference_conv_gamma(a, kernel, bias, relevance, gamma, *, weights="gamma", bias_term="gamma",
                          backward="same", transpose=True, times_input=True, epsilon=EPSILON,
                          signed_epsilon=True):
    """The textbook γ step (a ≥ 0); the keyword switches produce the typical mistakes."""
    w_plus, b_plus = np.maximum(kernel, 0.0), np.maximum(bias, 0.0)
    w = {"gamma": kernel + gamma * w_plus, "plain": kernel, "plus": w_plus}[weights]
    b = {"gamma": bias + gamma * b_plus, "plain": bias, "none": 0.0 * bias,
         "plus": b_plus}[bias_term]
    z = conv(a, w) + b                                                       # 1. forward
    if epsilon:
        z = z + epsilon * (np.where(z >= 0, 1.0, -1.0) if signed_epsilon else 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = relevance / z                                                     # 2. divide
    w_back = w if backward == "same" else kernel
    if transpose:
        c = conv_transpose(s, w_back, a.shape)                               # 3. backward
    else:  # a forward convolution where the backward one belongs (the kernel is not flipped)
        c = conv(s, np.transpose(w_back, (0, 1, 3, 2)))
    return a * c if times_input else c                                        # 4. multiply


def reference_conv_gamma_step(a, kernel, bias, relevance, gamma):
    """The γ rule through a 3×3 SAME Conv2D (stride 1), for inputs a ≥ 0:

        z_k = Σ_j a_j (w_jk + γ w⁺_jk) + (b_k + γ b⁺_k),  z ← z + ε·sign(z)
        s_k = R_k / z_k,   c_j = Σ_k (w_jk + γ w⁺_jk) s_k,   R_j = a_j c_j
    """
    return _reference_conv_gamma(np.asarray(a, np.float64), np.asarray(kernel, np.float64),
                                 np.asarray(bias, np.float64), np.asarray(relevance, np.float64),
                                 float(gamma))


def _conv_cases(seed=4):
    rng = np.random.default_rng(seed)
    cases = []
    for n, size, c_in, c_out, gamma in ((1, 5, 2, 3, 0.25), (2, 6, 3, 4, 0.5), (1, 6, 4, 2, 1.0)):
        a = rng.uniform(0.5, 1.5, size=(n, size, size, c_in))
        # mostly positive weights, a third negative: z > 0 everywhere (the textbook case), and
        # the negative weights make γ matter
        kernel = rng.normal(loc=0.15, scale=0.3, size=(3, 3, c_in, c_out))
        kernel[1, 1, :, :] = np.abs(kernel[1, 1, :, :]) + 1.0
        bias = rng.uniform(0.1, 0.6, size=c_out)
        bias[0] = -0.1                                         # a negative bias: b⁺ = 0 there
        relevance = rng.random((n, size, size, c_out)) + 0.1
        cases.append(tuple(x.astype(np.float32) for x in (a, kernel, bias, relevance)) + (gamma,))
    # an output with z = 0 exactly (all its inputs are 0, its bias is 0) and no relevance: 0/0
    # without the stabiliser ε
    a, kernel, bias, relevance, gamma = (c.copy() if hasattr(c, "copy") else c for c in cases[1])
    a[0, :4, :4, :] = 0.0
    bias[2] = 0.0
    relevance[0, :3, :3, 2] = 0.0    # the outputs whose window lies in that corner (or the padding)
    cases.append((a, kernel, bias, relevance, gamma))
    # an output channel with a small NEGATIVE z (tiny weights, bias -1e-5): z + ε·sign(z) moves it
    # away from zero, z + ε (the sign forgotten) towards it -- s differs by about 25 %
    a, kernel, bias, relevance, gamma = (c.copy() if hasattr(c, "copy") else c for c in cases[0])
    kernel[..., -1] = rng.uniform(0.5, 1.5, size=kernel.shape[:-1]).astype(np.float32) * 1e-7
    bias[-1] = -1e-5
    cases.append((a, kernel, bias, relevance, gamma))
    return cases


def conv_gamma_step(student_function) -> bool:
    """Check ``R_in = f(a, kernel, bias, relevance, gamma)``, the γ rule through a 3×3 SAME Conv2D."""
    __tracebackhide__ = True
    exercise = "Exercise 1 (Conv2D γ step)"
    for a, kernel, bias, relevance, gamma in _conv_cases():
        answer = call_student(exercise, student_function, a.copy(), kernel.copy(), bias.copy(),
                              relevance.copy(), gamma)
        if has_nan_or_inf(answer, a.shape):
            fail(exercise, "your R_in contains NaN or inf: an output with z = 0 (all its inputs 0, "
                           "bias 0) was divided by zero. Step 1 stabilises z before step 2: "
                           "z + ε·sign(z) with ε = check.EPSILON (sign(0) = +1).")
        answer = expect_array(exercise, "R_in", np.asarray(answer), shape=a.shape)
        expected = _reference_conv_gamma(a, kernel, bias, relevance, gamma)
        if np.allclose(answer, expected, rtol=1e-3, atol=1e-5):
            continue
        mistakes = [
            (dict(weights="plus", bias_term="plus"),
             "this is the z⁺ rule (only W⁺ and b⁺). The γ rule keeps ALL weights and adds γ times "
             "their positive part: W + γW⁺ (and b + γb⁺)."),
            (dict(weights="plain", bias_term="plain"),
             "this is LRP-0 (plain W and b): γ is missing. Use W + γW⁺ and b + γb⁺."),
            (dict(bias_term="plain"),
             "almost: the slip is in step 1. The bias is modified like the weights: b + γb⁺, "
             "not b."),
            (dict(bias_term="none"),
             "almost: the slip is in step 1. z includes the (modified) bias b + γb⁺; the "
             "relevance the bias absorbs is part of the rule."),
            (dict(backward="plain"),
             "step 3 must run backwards with the SAME modified weights as step 1 (W + γW⁺), "
             "not with W."),
            (dict(times_input=False),
             "you return c. Step 4 multiplies by the layer's input: R_in = a · c."),
            (dict(signed_epsilon=False),
             "almost: the slip is in the stabiliser. Add ε with the SIGN of z, z + ε·sign(z) "
             "(sign(0) = +1): z + ε pushes a small negative z towards zero instead of away from "
             "it (the checker includes such an output)."),
            (dict(transpose=False),
             "step 3 must run the convolution BACKWARDS (from the output positions to the input "
             "positions): use tf.nn.conv2d_transpose with the same kernel, not tf.nn.conv2d."),
        ]
        for switches, message in mistakes:
            with np.errstate(all="ignore"):
                wrong = _reference_conv_gamma(a, kernel, bias, relevance, gamma, **switches)
            if np.allclose(answer, wrong, rtol=1e-3, atol=1e-5):
                fail(exercise, message)
        expect_close(exercise, "R_in", answer, expected, rtol=1e-3, atol=1e-5)
    return passed(exercise, "The γ step: all weights, positive ones boosted by γ, and the same "
                            "weights forwards and backwards.")


# --------------------------------------------------------------------------------------------
# exercise 2: the evidence inside the object, for the true and for a wrong class
# --------------------------------------------------------------------------------------------

def reference_object_evidence(relevance, masks) -> np.ndarray:
    """Net (signed) relevance inside each image's mask, per image.

        evidence_n = Σ_{p in mask_n} R_p,    R_p summed over the colour channels

    Positive: the object is evidence FOR the explained class; negative: evidence AGAINST it.
    relevance : (N, H, W, C) or (N, H, W); masks : (N, H, W) booleans. Returns (N,) float64.
    """
    pixels = metrics.pixel_relevance(relevance)
    masks = np.asarray(masks)
    if masks.dtype != bool:
        masks = masks > 0
    if masks.shape != pixels.shape:
        raise ValueError(f"masks have shape {masks.shape} but the relevance maps have "
                         f"{pixels.shape}; pass one (H, W) boolean mask per image.")
    return (pixels * masks).sum(axis=(1, 2))


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
        expected = reference_object_evidence(relevance, masks)
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
