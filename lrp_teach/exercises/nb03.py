"""Checkers for notebook 03, the z⁺ rule.

Index convention (the lecture's): a layer maps lower neurons j to upper neurons k with
``z = a @ w + b``, so ``w`` has shape (J, K) and ``w[j, k]`` is wⱼₖ. Batches come first:
``a`` is (N, J), relevance from above ``R`` is (N, K), relevance returned is (N, J).

Each checker computes the right answer itself (the ``_reference_*`` functions), tries the
student's function on several inputs, random ones included, and names the typical mistake it
recognises without printing the answer.
"""

from __future__ import annotations

import numpy as np

from ._core import call_student, expect_array, expect_close, fail, passed

EPSILON = 1e-9


# --------------------------------------------------------------------------------------------
# reference answers (used by the checkers; the notebook writes its own versions)
# --------------------------------------------------------------------------------------------

def _reference_step3(w, s):
    return np.asarray(s, dtype=np.float64) @ np.maximum(np.asarray(w, dtype=np.float64), 0).T


def _reference_zplus(a, w, R, epsilon=EPSILON):
    a, w, R = (np.asarray(v, dtype=np.float64) for v in (a, w, R))
    w_plus = np.maximum(w, 0.0)
    z = epsilon + a @ w_plus
    s = R / z
    c = s @ w_plus.T
    return a * c


def _reference_wsquare(w, R):
    w, R = np.asarray(w, dtype=np.float64), np.asarray(R, dtype=np.float64)
    squared = w ** 2
    return R @ (squared / squared.sum(axis=0, keepdims=True)).T


def _reference_absorbed(a, w, b, R):
    a, w, b, R = (np.asarray(v, dtype=np.float64) for v in (a, w, b, R))
    z = a @ w + b
    return (b * R / z).sum(axis=1)


# --------------------------------------------------------------------------------------------
# test inputs
# --------------------------------------------------------------------------------------------

def _cases(seed: int = 3):
    """(a ≥ 0, w, R ≥ 0) triples: rectangular and square layers, a few zero activations."""
    rng = np.random.default_rng(seed)
    cases = []
    for n, j, k in ((1, 3, 2), (4, 5, 3), (3, 4, 4), (6, 7, 7)):
        a = np.maximum(rng.normal(size=(n, j)), 0.0) + 0.05 * (rng.random((n, j)) > 0.3)
        w = rng.normal(size=(j, k))
        w[0, :] = np.abs(w[0, :])  # every upper neuron has a positive weight from an active
        a[:, 0] = np.abs(a[:, 0]) + 0.1  # lower neuron, so z⁺ conserves relevance exactly
        R = rng.random((n, k)) + 0.1
        cases.append((a, w, R))
    return cases


# --------------------------------------------------------------------------------------------
# exercise 1: step 3, cⱼ = Σₖ wⱼₖ⁺ sₖ
# --------------------------------------------------------------------------------------------

def zplus_step3(student_function) -> bool:
    """Check ``c = f(w, s)`` with cⱼ = Σₖ wⱼₖ⁺ sₖ for a batch s of shape (N, K)."""
    __tracebackhide__ = True
    exercise = "Exercise 1 (step 3: c = Σₖ wⱼₖ⁺ sₖ)"
    rng = np.random.default_rng(11)
    for a, w, _ in _cases():
        s = rng.normal(size=(a.shape[0], w.shape[1]))
        c = call_student(exercise, student_function, w.copy(), s.copy())
        expected = _reference_step3(w, s)
        c = expect_array(exercise, "c", c)
        if c.shape != expected.shape:
            if c.shape == expected.shape[::-1] or c.shape == (w.shape[1],):
                fail(exercise, f"`c` has shape {c.shape}, expected {expected.shape} (one value "
                               "per lower neuron j for every sample). Sum over k, the upper "
                               "neurons, not over j.")
            fail(exercise, f"`c` has shape {c.shape}, expected {expected.shape}: one value per "
                           "sample and lower neuron j.")
        if np.allclose(c, s @ w.T):
            fail(exercise, "you used the plain weights w. The z⁺ rule uses only the positive "
                           "part w⁺ = max(0, w), in step 3 as in step 1.")
        if np.allclose(c, s @ np.minimum(w, 0).T):
            fail(exercise, "you kept the negative weights. w⁺ = max(0, w) keeps the positive ones.")
        if w.shape[0] == w.shape[1] and np.allclose(c, s @ np.maximum(w, 0)):
            fail(exercise, "right idea, wrong index: you summed wₖⱼ sₖ (the transposed matrix). "
                           "w[j, k] connects lower neuron j to upper neuron k.")
        expect_close(exercise, "c", c, expected, rtol=1e-6)
    return passed(exercise)


# --------------------------------------------------------------------------------------------
# exercise 2: the whole z⁺ layer
# --------------------------------------------------------------------------------------------

def zplus_layer(student_function) -> bool:
    """Check ``R_lower = f(a, w, R, epsilon)``: the lecture's four steps with w⁺."""
    __tracebackhide__ = True
    exercise = "Exercise 2 (the z⁺ rule for one layer)"
    for a, w, R in _cases(seed=5):
        result = call_student(exercise, student_function, a.copy(), w.copy(), R.copy(), EPSILON)
        expected = _reference_zplus(a, w, R)
        result = expect_array(exercise, "R_lower", result)
        if result.shape != expected.shape:
            fail(exercise, f"the relevance you return has shape {result.shape}, expected "
                           f"{expected.shape}: one value per sample and lower neuron j (the shape "
                           "of `a`).")
        w_plus = np.maximum(w, 0)
        z = EPSILON + a @ w_plus
        if np.allclose(result, (R / (a @ w)) @ w.T * a):
            fail(exercise, "you used the plain weights w. The z⁺ rule uses w⁺ = max(0, w) in "
                           "steps 1 and 3.")
        if np.allclose(result, a * ((R / z) @ w.T)):
            fail(exercise, "steps 1 and 2 are right, but step 3 uses the plain weights w. Step 3 "
                           "sends each sₖ back along the same weights that step 1 summed over.")
        if np.allclose(result, (R / z) @ w_plus.T):
            fail(exercise, "you returned c. Step 4 multiplies by the activation: Rⱼ = aⱼ cⱼ.")
        if np.allclose(result, a * (R @ w_plus.T)):
            fail(exercise, "step 2 is missing: divide the relevance by z before step 3 "
                           "(sₖ = Rₖ / zₖ).")
        if np.any(result < -1e-12):
            fail(exercise, "some relevance is negative. With a ≥ 0, w⁺ ≥ 0 and R ≥ 0 every term "
                           "of the z⁺ rule is ≥ 0: check where a negative sign sneaks in.")
        if not np.allclose(result.sum(axis=1), R.sum(axis=1), rtol=1e-6):
            fail(exercise, "relevance is not conserved: for every sample, Σⱼ Rⱼ should equal "
                           "Σₖ Rₖ. Which step changes the total?")
        expect_close(exercise, "R_lower", result, expected, rtol=1e-6)
    return passed(exercise, "Relevance is conserved and non-negative.")


# --------------------------------------------------------------------------------------------
# exercise 3: the w² rule for the input layer
# --------------------------------------------------------------------------------------------

def wsquare_layer(student_function) -> bool:
    """Check ``R_input = f(w, R)`` with Rᵢ = Σⱼ wᵢⱼ² / Σᵢ' wᵢ'ⱼ² · Rⱼ."""
    __tracebackhide__ = True
    exercise = "Exercise 3 (the w² rule for the input layer)"
    rng = np.random.default_rng(7)
    for _, w, R in _cases(seed=9):
        R = R * np.where(rng.random(R.shape) < 0.3, -1.0, 1.0)  # relevance from above may be < 0
        result = call_student(exercise, student_function, w.copy(), R.copy())
        expected = _reference_wsquare(w, R)
        result = expect_array(exercise, "R_input", result)
        if result.shape != expected.shape:
            fail(exercise, f"the relevance you return has shape {result.shape}, expected "
                           f"{expected.shape}: one value per sample and input i.")
        absolute = np.abs(w)
        if np.allclose(result, R @ (absolute / absolute.sum(axis=0, keepdims=True)).T):
            fail(exercise, "you used |w|. The rule squares the weights: wᵢⱼ².")
        squared = w ** 2
        if w.shape[0] == w.shape[1] and np.allclose(
                result, R @ (squared / squared.sum(axis=1, keepdims=True))):
            fail(exercise, "the normalisation runs over the wrong index. For each upper neuron j, "
                           "divide by Σᵢ wᵢⱼ², the sum over the inputs i of that neuron.")
        if not np.allclose(result.sum(axis=1), R.sum(axis=1), rtol=1e-6):
            fail(exercise, "relevance is not conserved: Σᵢ Rᵢ should equal Σⱼ Rⱼ for every "
                           "sample. For each upper neuron j the shares wᵢⱼ² / Σᵢ' wᵢ'ⱼ² must add "
                           "up to 1: is the normalisation over the right index?")
        expect_close(exercise, "R_input", result, expected, rtol=1e-6)
    return passed(exercise, "Note that the result does not depend on the input values at all.")


# --------------------------------------------------------------------------------------------
# exercise 4: what the bias takes away (LRP-0)
# --------------------------------------------------------------------------------------------

def absorbed_by_bias(student_function) -> bool:
    """Check ``lost = f(a, w, b, R)``: Σₖ Rₖ − Σⱼ Rⱼ under LRP-0, one number per sample."""
    __tracebackhide__ = True
    exercise = "Exercise 4 (relevance absorbed by the bias)"
    rng = np.random.default_rng(13)
    for a, w, R in _cases(seed=17):
        # biases that keep |z| away from 0, so that LRP-0 is well defined on these test inputs
        for _ in range(1000):
            b = rng.normal(scale=0.5, size=w.shape[1])
            if np.abs(a @ w + b).min() > 0.1:
                break
        result = call_student(exercise, student_function, a.copy(), w.copy(), b.copy(), R.copy())
        expected = _reference_absorbed(a, w, b, R)
        result = expect_array(exercise, "lost", result)
        if result.shape != expected.shape:
            if result.shape == R.shape:
                fail(exercise, f"return one number per sample (shape {expected.shape}): the total "
                               "lost in this layer, summed over the upper neurons k.")
            fail(exercise, f"`lost` has shape {result.shape}, expected {expected.shape}: one "
                           "number per sample.")
        if np.allclose(result, (b * R).sum(axis=1)):
            fail(exercise, "not bₖ · Rₖ: which fraction of Rₖ belongs to the bias's term in "
                           "the denominator?")
        if np.allclose(result, np.full_like(expected, b.sum())):
            fail(exercise, "the loss depends on the relevance arriving from above, not only on "
                           "the biases.")
        expect_close(exercise, "lost", result, expected, rtol=1e-6)
    return passed(exercise)


# --------------------------------------------------------------------------------------------
# exercise 5: predict how the logit's offset scales the z⁺ explanation
# --------------------------------------------------------------------------------------------

def zplus_shift_factor(student_function) -> bool:
    """Check ``factor = f(f1, shift)``: the factor by which every z⁺ relevance changes when
    ``shift`` is added to every logit, at a point with logit ``f1`` (before the notebook shows it)."""
    __tracebackhide__ = True
    exercise = "Exercise 5 (the logit's offset)"
    for f1, shift in ((9.0, 5.0), (2.0, 5.0), (4.0, -1.0), (0.5, 3.0)):
        # z⁺ is linear in the relevance it starts from and the shift leaves every hidden
        # activation alone, so every relevance is multiplied by (f1 + shift) / f1
        expected = (f1 + shift) / f1
        value = call_student(exercise, student_function, f1, shift)
        try:
            value = float(value)
        except (TypeError, ValueError):
            fail(exercise, f"return one number (the factor), not {type(value).__name__}.")
        if np.isclose(value, 1.0) and not np.isclose(expected, 1.0):
            fail(exercise, "the predictions do not change, but the explained number does: the "
                           "relevance still adds up to the logit it starts from.")
        if np.isclose(value, shift):
            fail(exercise, "that is the shift itself, not a factor: by how much is every "
                           "relevance multiplied?")
        if np.isclose(value, f1 + shift):
            fail(exercise, "that is the shifted logit, not a factor: the answer is dimensionless "
                           "(the same units cancel).")
        if np.isclose(value, f1 / (f1 + shift)):
            fail(exercise, "upside down: with a positive shift the relevances grow.")
        expect_close(exercise, "factor", value, expected, rtol=1e-9)
    return passed(exercise, "The next cell measures it on the network.")


__all__ = ["zplus_step3", "zplus_layer", "wsquare_layer", "absorbed_by_bias", "zplus_shift_factor"]
