"""Checkers for notebook 01 (Taylor decomposition of one ReLU neuron).

Exercises:

- ``derive_t``: solve w·(x + t·w) + b = 0 for t with sympy;
- ``root_point_t``: the same t with numbers;
- ``root_point``: the root point a = x + t·w;
- ``w2_relevance``: Rᵢ = wᵢ(xᵢ − aᵢ) for an active or inactive neuron.

Every checker computes the right answer itself (from :mod:`lrp_teach.taylor`), tries the student's
function on fixed and random inputs, and names the kind of mistake it sees.
"""

from __future__ import annotations

import numpy as np
import sympy

from .. import taylor
from ._core import call_student, expect_array, expect_close, expect_symbolic_equal, fail, passed

_SEED = 2024


def _active_cases(n_random: int = 4, sizes=(2, 3, 5)):
    """(w, x, b) with an *active* neuron: fixed 2-input cases first, then random ones."""
    cases = [
        (np.array([1.0, -0.5]), np.array([1.0, 1.5]), -0.2),
        (np.array([2.0, 1.0]), np.array([0.5, 1.0]), 0.5),
        (np.array([-1.0, 3.0]), np.array([0.2, 0.7]), -0.3),
    ]
    rng = np.random.default_rng(_SEED)
    while len(cases) < 3 + n_random:
        n = sizes[len(cases) % len(sizes)]
        w, x, b = rng.normal(size=n), rng.uniform(0, 2, size=n), float(rng.normal())
        if w @ x + b > 0.1:
            cases.append((w, x, b))
    return cases


def _inactive_case():
    return np.array([1.0, -0.5]), np.array([0.2, 1.5]), -0.4  # w·x + b = -0.95


def derive_t(function) -> bool:
    """``function()`` returns t (a sympy expression in S.w1, S.w2, S.x1, S.x2, S.b)."""
    __tracebackhide__ = True
    name = "derive t"
    S = taylor.S
    t = call_student(name, function)
    if isinstance(t, (list, tuple)):
        if len(t) != 1:
            fail(name, f"got {len(t)} solutions; return the one solution for t (e.g. "
                       "`solutions[0]`).")
        t = t[0]
    if isinstance(t, dict):
        fail(name, "got a dict: take the value for t out of it (e.g. `solution[S.t]`).")
    if isinstance(t, sympy.Equality):
        fail(name, "got an equation; return only the expression for t (the right-hand side).")
    expected = -(S.w.dot(S.x) + S.b) / S.w.dot(S.w)
    expression = sympy.sympify(t)
    if S.t in expression.free_symbols:
        fail(name, "your expression still contains t: solve the equation for t.")
    if not expression.free_symbols and expression.is_number:
        fail(name, "your t is a number; it should be a formula in w1, w2, x1, x2 and b. Use the "
                   "symbols S.w1, S.w2, S.x1, S.x2, S.b from lrp_teach.taylor.")
    if sympy.simplify(expression - (-(S.w.dot(S.x)) / S.w.dot(S.w))) == 0:
        fail(name, "the bias b is missing. The neuron is w·a + b, not only w·a.")
    if sympy.simplify(expression - expected * sympy.sqrt(S.w.dot(S.w))) == 0:
        fail(name, "you divide by ‖w‖, not by ‖w‖² = w·w. Substitute a = x + t·w into "
                   "w·a + b = 0 once more.")
    expect_symbolic_equal(name, "t", expression, expected)
    return passed(name)


def root_point_t(function) -> bool:
    """``function(w, x, b)`` returns t with f(x + t·w) = 0 (any number of inputs)."""
    __tracebackhide__ = True
    name = "root_point_t"
    for w, x, b in _active_cases():
        expected = taylor.step_t("w2", w, x, b)
        value = call_student(name, function, w.copy(), x.copy(), b)
        value = expect_array(name, "t", value)
        if value.shape != ():
            fail(name, f"t should be one number, got an array of shape {value.shape}. "
                       "Did you forget a sum (a dot product)?")
        value = float(value)
        if np.isclose(value, -(w @ x) / (w @ w)):
            fail(name, "the bias b is missing from t.")
        if np.isclose(value, expected * np.linalg.norm(w)):
            fail(name, "you divide by ‖w‖; the step needs ‖w‖² = w·w.")
        if np.isclose(value, -expected):
            fail(name, "t has the wrong sign: with t > 0 you move up the slope, away from the "
                       "zero line. Check that f(x + t·w) really is 0.")
        expect_close(name, "t", value, expected)
    return passed(name)


def root_point(function) -> bool:
    """``function(w, x, b)`` returns the root point a = x + t·w (same shape as x)."""
    __tracebackhide__ = True
    name = "root_point"
    for w, x, b in _active_cases():
        expected = taylor.root_point("w2", w, x, b)
        value = expect_array(name, "a", call_student(name, function, w.copy(), x.copy(), b),
                             shape=x.shape)
        residual = float(w @ value + b)
        if not np.isclose(residual, 0.0, atol=1e-7):
            t = taylor.step_t("w2", w, x, b)
            if np.allclose(value, x - t * w):
                fail(name, "your point is on the wrong side of x: a = x + t·w with the t that "
                           "solves w·a + b = 0 (t is negative for an active neuron).")
            fail(name, f"w·a + b = {residual:.4g} for your a, but a root point must satisfy "
                       "w·a + b = 0.")
        if not np.allclose(value, expected):
            fail(name, "your a is on the zero line, but not on the line through x along w. "
                       "Move from x in the direction of w (a = x + t·w), not elsewhere.")
    return passed(name)


def w2_relevance(function) -> bool:
    """``function(w, x, b)`` returns Rᵢ = wᵢ(xᵢ − aᵢ) (zero for an inactive neuron)."""
    __tracebackhide__ = True
    name = "w2_relevance"
    for w, x, b in _active_cases():
        f = taylor.neuron_output(w, x, b)
        expected = taylor.relevance("w2", w, x, b)
        value = expect_array(name, "R", call_student(name, function, w.copy(), x.copy(), b),
                             shape=x.shape)
        if np.allclose(value, w * x):
            fail(name, "that is wᵢ·xᵢ (gradient × input, Taylor around a = 0, which is not a "
                       "root). Expand around the root point a = x + t·w instead.")
        if np.allclose(value, np.abs(w) / np.abs(w).sum() * f):
            fail(name, "the shares should be wᵢ²/Σw², not |wᵢ|/Σ|w|.")
        if np.allclose(value, w ** 2 / (w @ w)):
            fail(name, "you have the shares wᵢ²/Σw², but forgot to multiply by f(x).")
        if not np.isclose(value.sum(), f):
            fail(name, f"relevance is not conserved: ΣRᵢ = {value.sum():.4g} but f(x) = "
                       f"{f:.4g}.")
        expect_close(name, "R", value, expected)
    w, x, b = _inactive_case()
    value = expect_array(name, "R", call_student(name, function, w, x, b), shape=x.shape)
    if not np.allclose(value, 0.0):
        fail(name, "for an inactive neuron (w·x + b ≤ 0) f(x) = 0, so every Rᵢ must be 0. "
                   "Did you forget the max(0, ·) of the ReLU?")
    return passed(name)
