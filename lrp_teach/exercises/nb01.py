"""Checkers for notebook 01 (Taylor decomposition of one ReLU neuron).

Exercises:

- ``derive_t``: solve w·(x + t·w) + b = 0 for t with sympy;
- ``root_point``: the root point a = x + t·w with numbers;
- ``w2_relevance``: Rᵢ = wᵢ(xᵢ − aᵢ) for an active or inactive neuron;
- ``predict_sensitivity_and_relevance``: a prediction, by hand, of Sᵢ = (∂f/∂xᵢ)² and the w²
  relevances at x = (2, 2), before the notebook's table shows them;
- ``derive_relevance_on_line``: Rᵢ for a search line a = x + t·v in a direction v left open
  (a derivation with sympy, the recipe of notebook 02).

Every checker computes the right answer itself (from :mod:`lrp_teach.taylor`), tries the student's
function on fixed and random inputs, and names the kind of mistake it sees.
"""

from __future__ import annotations

import numpy as np
import sympy

from .. import taylor
from ._core import (call_student, expect_array, expect_close, expect_symbolic_equal, fail, passed,
                    reject_taylor)

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
    reject_taylor(name, function)
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


def root_point(function) -> bool:
    """``function(w, x, b)`` returns the root point a = x + t·w (same shape as x)."""
    __tracebackhide__ = True
    name = "root_point"
    reject_taylor(name, function)
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
    reject_taylor(name, function)
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


def _as_column(name, value):
    """A sympy column vector from a Matrix, list or tuple (anything else: a clear failure)."""
    __tracebackhide__ = True
    if hasattr(value, "R") and hasattr(value, "a"):
        fail(name, "you returned the whole namespace of a solver: return only the relevances R, "
                   "derived with sympy.solve yourself.")
    if isinstance(value, (list, tuple)):
        value = sympy.Matrix(value)
    if not isinstance(value, sympy.MatrixBase):
        fail(name, f"return the relevances as a sympy Matrix (or a list) with one entry per input; "
                   f"got {type(value).__name__}.")
    if value.shape not in ((2, 1), (1, 2)):
        fail(name, f"expected 2 entries (R₁, R₂), got a matrix of shape {value.shape}.")
    return sympy.Matrix(list(value))


def derive_relevance_on_line(function) -> bool:
    """``function()`` returns (R₁, R₂) for the root point on a = x + t·v, v = S.v left open."""
    __tracebackhide__ = True
    name = "derive_relevance_on_line"
    reject_taylor(name, function)
    S = taylor.S
    R = _as_column(name, call_student(name, function))
    free = set().union(*(entry.free_symbols for entry in R))
    allowed = {S.w1, S.w2, S.x1, S.x2, S.b, S.v1, S.v2, S.t}
    strangers = sorted(str(symbol) for symbol in free - allowed)
    if strangers:
        fail(name, f"your result contains symbols {strangers} that are not the course's symbols "
                   "(or have other assumptions): use S.w1, S.w2, S.x1, S.x2, S.b, S.v1, S.v2 from "
                   "lrp_teach.taylor.")
    if S.t in free:
        fail(name, "your result still contains t: solve w·(x + t·v) + b = 0 for t and "
                   "substitute it.")
    f = S.w.dot(S.x) + S.b
    w_dot_v = S.w.dot(S.v)
    expected = sympy.Matrix([S.w[i] * S.v[i] / w_dot_v * f for i in range(2)])
    t = -f / w_dot_v
    root = S.x + t * S.v

    def same(candidate):
        return taylor.symbolic_equal(R, candidate)

    if S.v1 not in free and S.v2 not in free:
        fail(name, "your result does not depend on the direction v. Search along a = x + t·v "
                   "with v = (S.v1, S.v2) left open (along v = w you get the w² rule of the "
                   "previous sections).")
    if same(root):
        fail(name, "that is the root point a. The relevance is the first-order Taylor term of "
                   "each input around a.")
    if same(-expected):
        fail(name, "the sign is flipped: the Taylor term is ∂f/∂xᵢ · (xᵢ − aᵢ), not "
                   "∂f/∂xᵢ · (aᵢ − xᵢ).")
    if same(sympy.Matrix([S.v[i] / w_dot_v * f for i in range(2)])) or same(S.x - root):
        fail(name, "that is xᵢ − aᵢ alone. The Taylor term multiplies it by the derivative "
                   "∂f/∂xᵢ.")
    if same(sympy.Matrix([S.w[i] * S.v[i] / w_dot_v * S.w.dot(S.x) for i in range(2)])):
        fail(name, "the bias b is missing: the neuron is w·x + b.")
    if not taylor.symbolic_equal(sum(R), f):
        fail(name, "relevance is not conserved: R₁ + R₂ should simplify to f(x) = w·x + b "
                   "(a is a root point, so f(a) = 0 and the first-order expansion is exact).")
    expect_symbolic_equal(name, "R", R, expected)
    return passed(name)


#: The neuron of notebook 01's sections 5-7 and the input of the prediction exercise.
_PREDICTION_W, _PREDICTION_B, _PREDICTION_X = np.array([1.0, 0.5]), -0.5, np.array([2.0, 2.0])


def predict_sensitivity_and_relevance(function) -> bool:
    """``function()`` returns ``(S, R)``: the student's prediction of Sᵢ = (∂f/∂xᵢ)² and of the
    w² relevances Rᵢ at x = (2, 2) for w = (1, 0.5), b = −0.5 (the feedback never states them)."""
    __tracebackhide__ = True
    name = "predict_sensitivity_and_relevance"
    w, b, x = _PREDICTION_W, _PREDICTION_B, _PREDICTION_X
    answer = call_student(name, function)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        fail(name, "return two pairs: (S₁, S₂), (R₁, R₂).")
    S = expect_array(name, "S", answer[0], shape=(2,))
    R = expect_array(name, "R", answer[1], shape=(2,))
    f = taylor.neuron_output(w, x, b)
    S_expected = (w * (w @ x + b > 0)) ** 2            # the gradient of an active neuron is w
    R_expected = taylor.relevance("w2", w, x, b)
    if not np.allclose(S, S_expected):
        if np.allclose(S, R_expected) or np.isclose(S.sum(), f):
            fail(name, "your S adds up to f(x): that is what a decomposition does. S is a squared "
                       "slope; how does the slope of this neuron depend on where x is?")
        if np.allclose(S, np.sqrt(S_expected)):
            fail(name, "S is the *squared* derivative.")
        fail(name, "S is not right yet: Sᵢ = (∂f/∂xᵢ)². What is ∂f/∂xᵢ where the neuron is active?")
    if not np.isclose(R.sum(), f):
        fail(name, "R₁ + R₂ must add up to f(x) at x = (2, 2). Compute f(x) first.")
    if not np.allclose(R, R_expected):
        fail(name, "R adds up to f(x), but the split is not the w² rule's: which share of f(x) "
                   "does input i get?")
    return passed(name, "Now run the table and compare with the other inputs.")
