"""Checkers for notebook 06, LRP on EfficientNet-Lite0, numbered as the exercises appear.

1. ``add_split(inputs, relevance)``: the relevance split at a residual join ``z = x_1 + x_2 + …``
   (LRP-0 on a sum, with the stabiliser).
2. ``prediction(f)`` / ``compare_prediction(f, share_with, share_without)``: predict (``f()``
   returns one of :data:`CHOICES`) what happens to the share of the logit that reaches the pixels
   when the rules leave the biases out, *before* the notebook shows it; the first call checks
   only that the answer is one of the choices, the second (after the measurement) prints whether
   it held.
3. ``contrastive_weights(kernel, bias, c, c_prime)``: the final dense layer of a network whose one
   output is ``f_c − f_c′`` (the log-odds of class c against class c′).

Batches come first. The reference answers live here (``reference_*``); the notebook's later
cells use them, so it runs whether or not an exercise was solved. The checkers name the typical
mistake without printing the answer.
"""

from __future__ import annotations

import numpy as np

from ._core import call_student, expect_array, fail, passed

#: The stabiliser of the split at a join (the engine's ``NORM_EPSILON``, zennit's default).
EPSILON = 1e-6


def _stabilize(z, epsilon=EPSILON):
    return z + epsilon * np.where(z >= 0, 1.0, -1.0)


# --------------------------------------------------------------------------------------------
# exercise 1: the relevance split at a residual join
# --------------------------------------------------------------------------------------------

def reference_add_split(inputs, relevance, epsilon: float = EPSILON) -> list:
    """LRP-0 through ``z = Σ_i x_i`` (weights 1, no bias), stabilised:

        R_i = x_i / (z + ε·sign(z)) · R        (sign(0) = +1)

    inputs : a list of arrays of one shape (the join's inputs x_1, x_2, ...).
    relevance : array of that shape (the relevance of the join's output z).
    Returns a list of arrays, one per input, float64.
    """
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]
    relevance = np.asarray(relevance, dtype=np.float64)
    if len(inputs) < 2 or any(x.shape != relevance.shape for x in inputs):
        raise ValueError("add_split needs two or more inputs, each of the relevance's shape "
                         f"{relevance.shape}; got {[x.shape for x in inputs]}.")
    s = relevance / _stabilize(sum(inputs), epsilon)
    return [x * s for x in inputs]


def _add_cases(seed=61):
    rng = np.random.default_rng(seed)
    cases = []
    for shape, m in (((1, 5), 2), ((3, 4, 4, 2), 2), ((2, 6), 3)):
        inputs = [rng.normal(size=shape) for _ in range(m)]
        relevance = rng.normal(size=shape)
        cases.append((inputs, relevance))
    # a join whose inputs cancel exactly in some places, and one with z < 0
    x1 = rng.normal(size=(2, 6))
    x2 = -x1.copy()
    x2[:, :3] += rng.normal(size=(2, 3))
    cases.append(([x1, x2], rng.normal(size=(2, 6))))
    return cases


def add_split(student_function) -> bool:
    """``f(inputs, relevance)`` -> list of arrays: LRP-0 through a sum, stabilised with EPSILON."""
    __tracebackhide__ = True
    exercise = "Exercise 1 (the split at a residual join)"
    for inputs, relevance in _add_cases():
        value = call_student(exercise, student_function, [x.copy() for x in inputs],
                             relevance.copy())
        expected = reference_add_split(inputs, relevance)
        if not isinstance(value, (list, tuple)) or len(value) != len(inputs):
            fail(exercise, f"return a list with one relevance array per input ({len(inputs)} "
                           f"inputs here), got {type(value).__name__}"
                           + (f" of length {len(value)}" if isinstance(value, (list, tuple)) else "")
                           + ".")
        got = [expect_array(exercise, f"the relevance of input {i + 1}", v, shape=e.shape)
               for i, (v, e) in enumerate(zip(value, expected))]
        if all(np.allclose(g, e, rtol=1e-6, atol=1e-9) for g, e in zip(got, expected)):
            continue
        z = sum(inputs)
        if all(np.allclose(g, relevance / len(inputs)) for g in got):
            fail(exercise, "every input gets the same share. LRP-0 splits in proportion to what "
                           "each input CONTRIBUTES to the sum.")
        absolute = sum(np.abs(x) for x in inputs)
        if all(np.allclose(g, np.abs(x) / absolute * relevance) for g, x in zip(got, inputs)):
            fail(exercise, "you split by |x_i| / Σ|x_i|. Keep the signs: an input that pulls the "
                           "sum down takes relevance of the opposite sign (the shares still add up "
                           "to R).")
        unsigned = [x / (z + EPSILON) * relevance for x in inputs]
        if all(np.allclose(g, u, rtol=1e-6, atol=1e-9) for g, u in zip(got, unsigned)):
            fail(exercise, "close, but the stabiliser must push z AWAY from zero: add ε·sign(z) "
                           "(for z < 0 that is −ε), not +ε.")
        with np.errstate(divide="ignore", invalid="ignore"):
            bare = [x / z * relevance for x in inputs]
        if all(np.allclose(g, b, rtol=1e-9, atol=1e-12) for g, b in zip(got, bare)):
            fail(exercise, "no stabiliser: where the inputs (nearly) cancel, z is tiny and the "
                           "shares explode (or are NaN at z = 0). Divide by z + ε·sign(z) with "
                           "ε = check.EPSILON.")
        total = sum(got)
        fine = np.abs(z) > 1e-3
        if not np.allclose(total[fine], relevance[fine], rtol=1e-4, atol=1e-6):
            fail(exercise, "the shares do not add up to the relevance of the join's output (away "
                           "from z = 0 they must, up to ε). Check the division: s = R / z, then "
                           "R_i = x_i · s.")
        fail(exercise, "the shares add up, but they do not match LRP-0 on a sum. Write the join as "
                       "a linear layer with weights 1 and no bias and apply the four steps.")
    return passed(exercise)


# --------------------------------------------------------------------------------------------
# exercise 2: a prediction, checked after the measurement
# --------------------------------------------------------------------------------------------

#: The choices of exercise 2 (what the share of the logit reaching the pixels does when the rules
#: leave the biases out).
CHOICES = ("falls towards 0", "stays about the same", "rises, but stays well below 100 %",
           "rises to about 100 %")


#: What to look at when a prediction did not hold, per predicted choice.
WRONG_PREDICTION_HINTS = {
    CHOICES[0]: "Without b_k in the denominator no bias absorbs relevance any more: what is left "
                "that could stop it? Look at the units whose denominator becomes zero.",
    CHOICES[1]: "With the biases in the rules most of the logit went to them; leaving them out "
                "changes every denominator z_k. Compare what the biases took with what is left.",
    CHOICES[2]: "Look at where a bias enters the denominator z_k and what it takes from R_k on "
                "the way down.",
    CHOICES[3]: "Conservation without biases needs a non-zero denominator in every unit: look for "
                "units driven by their bias alone (no positive input, so z_k = 0 without b_k) — "
                "their relevance goes nowhere.",
}


def _share_outcome(share_with, share_without) -> str:
    """Which of CHOICES a measured pair of shares (with the biases in the rules, without) is."""
    scale = max(abs(share_with), 1e-12)
    if abs(share_without - 1.0) < 0.05:
        return CHOICES[3]
    if abs(share_without) < 0.05 * scale:
        return CHOICES[0]
    if abs(share_without - share_with) <= 0.1 * scale:
        return CHOICES[1]
    if share_with < share_without < 0.95:
        return CHOICES[2]
    return "something else"


def _percent(value) -> str:
    """A share as a percentage with two significant digits (0.031 % and 4.3 % alike)."""
    return f"{100 * value:.2g} %"


def _recorded(exercise, student_function):
    __tracebackhide__ = True
    answer = call_student(exercise, student_function)
    if answer not in CHOICES:
        fail(exercise, f"{answer!r} is not one of the choices: " + ", ".join(
            repr(c) for c in CHOICES) + ". Return one of them exactly (copy it from check.CHOICES).")
    return answer


def prediction(student_function) -> bool:
    """``f()`` -> one of :data:`CHOICES`. Checks only that it is one of them (the notebook
    measures the answer in the cells after it)."""
    __tracebackhide__ = True
    exercise = "Exercise 2 (your prediction)"
    _recorded(exercise, student_function)
    return passed(exercise, "Recorded; the cells below measure it.")


def compare_prediction(student_function, share_with, share_without) -> bool:
    """After the measurement: prints whether the prediction held (never raises, so that the
    notebook runs on in a student version with the exercise unsolved). Returns True if it held."""
    exercise = "Exercise 2 (your prediction, measured)"
    measured = (f"measured: {_percent(share_with)} of the logit reaches the pixels with the biases "
                f"in the rules, {_percent(share_without)} without them")
    try:
        answer = _recorded(exercise, student_function)
    except AssertionError as error:   # not done yet, or not one of the choices
        print(str(error).replace("✘", "·", 1) + f" ({measured}.)")
        return False
    if answer != _share_outcome(share_with, share_without):
        print(f"✘ {exercise}: you predicted {answer!r}; {measured}. {WRONG_PREDICTION_HINTS[answer]}")
        return False
    print(f"✔ {exercise}: it held; {measured}.")
    return True


# --------------------------------------------------------------------------------------------
# exercise 3: the weights of a contrastive output
# --------------------------------------------------------------------------------------------

def reference_contrastive_weights(kernel, bias, c, c_prime):
    """The dense layer whose single output is ``f_c − f_c′`` given the last dense layer
    ``f = a @ kernel + bias``: kernel ``w_c − w_c′`` of shape (J, 1), bias ``b_c − b_c′`` of shape
    (1,). float64."""
    kernel = np.asarray(kernel, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    if kernel.ndim != 2 or bias.shape != (kernel.shape[1],):
        raise ValueError(f"kernel must be (J, K) and bias (K,), got {kernel.shape} and "
                         f"{bias.shape}.")
    return (kernel[:, c] - kernel[:, c_prime])[:, None], np.array([bias[c] - bias[c_prime]])


def contrastive_weights(student_function) -> bool:
    """``f(kernel, bias, c, c_prime)`` -> (kernel (J, 1), bias (1,)) computing f_c − f_c′."""
    __tracebackhide__ = True
    exercise = "Exercise 3 (a contrastive output)"
    rng = np.random.default_rng(63)
    for j, k, c, c_prime in ((4, 3, 0, 2), (7, 10, 5, 1), (16, 1000, 282, 285)):
        kernel, bias = rng.normal(size=(j, k)), rng.normal(size=k)
        value = call_student(exercise, student_function, kernel.copy(), bias.copy(), c, c_prime)
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            fail(exercise, "return two arrays: (kernel, bias) of the new dense layer.")
        expected_kernel, expected_bias = reference_contrastive_weights(kernel, bias, c, c_prime)
        got_kernel = np.asarray(value[0], dtype=np.float64)
        got_bias = np.asarray(value[1], dtype=np.float64)
        if got_kernel.shape == (j,):
            fail(exercise, f"the kernel has shape {got_kernel.shape}; a Dense layer with one "
                           f"output needs shape ({j}, 1) (inputs × outputs).")
        got_kernel = expect_array(exercise, "the kernel", got_kernel, shape=(j, 1))
        got_bias = expect_array(exercise, "the bias", got_bias.reshape(-1) if got_bias.size == 1
                                else got_bias, shape=(1,))
        a = rng.normal(size=(5, j))
        logits = a @ kernel + bias
        wanted = logits[:, c] - logits[:, c_prime]
        out = (a @ got_kernel + got_bias)[:, 0]
        if np.allclose(out, wanted, rtol=1e-9, atol=1e-12):
            continue
        if np.allclose(out, -wanted, rtol=1e-9, atol=1e-12):
            fail(exercise, "the sign is flipped: the output must be f_c − f_c′ (large when the "
                           "network prefers c).")
        if np.allclose(out, wanted - (bias[c] - bias[c_prime]), rtol=1e-9, atol=1e-12):
            fail(exercise, "the output misses the biases: f_c − f_c′ includes b_c − b_c′.")
        if np.allclose(out, logits[:, c] + logits[:, c_prime], rtol=1e-9, atol=1e-12):
            fail(exercise, "this adds the two logits; the contrast is their difference.")
        fail(exercise, "the new output is not f_c − f_c′ for random inputs. Take column c and "
                       "column c′ of the kernel (and of the bias).")
    return passed(exercise)
