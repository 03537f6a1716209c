"""Checkers for notebook 02 (root points: the choice of root point is the choice of rule).

Exercises:

- ``zplus_root_point``: the root point in the positive orthant, searched along x ⊙ 1[w > 0];
- ``zplus_relevance``: the z⁺ rule Rᵢ = xᵢwᵢ⁺/Σⱼxⱼwⱼ⁺ · f(x);
- ``box_root_point``: the root point of the z^B rule inside the box l ≤ x ≤ h;
- ``gradient_x_input``: LRP-0 for one neuron, ∂f/∂xᵢ · xᵢ.
"""

from __future__ import annotations

import numpy as np

from .. import taylor
from ._core import call_student, expect_array, expect_close, fail, passed, reject_taylor

_SEED = 2025


def _orthant_cases(n_random: int = 4, sizes=(2, 3, 6)):
    """Active neurons with inputs x ≥ 0 (outputs of a ReLU layer), b ≤ 0, mixed weight signs."""
    cases = [
        (np.array([1.0, -0.6]), np.array([1.2, 0.8]), -0.3),
        (np.array([0.8, 0.5]), np.array([1.0, 2.0]), -0.5),
        (np.array([-0.7, 1.5]), np.array([0.4, 1.1]), 0.0),
        # a zero weight on a non-zero input: it must not move (catches `w >= 0` for `w > 0`)
        (np.array([0.9, 0.0, -0.4]), np.array([1.0, 0.7, 0.5]), -0.2),
        # weights far from 1, so that x ⊙ w⁺ points elsewhere than x ⊙ 1[w > 0]
        (np.array([2.5, 0.3, -1.0]), np.array([0.6, 1.5, 0.2]), -0.4),
    ]
    rng = np.random.default_rng(_SEED)
    while len(cases) < 5 + n_random:
        n = sizes[len(cases) % len(sizes)]
        w = rng.normal(size=n)
        x = rng.uniform(0, 2, size=n) * (rng.uniform(size=n) > 0.2)  # some inputs exactly 0
        b = -float(rng.uniform(0, 0.5))
        if w @ x + b > 0.1 and np.any(w < 0):
            cases.append((w, x, b))
    return cases


def _box_cases(n_random: int = 4, sizes=(2, 3, 6)):
    """Active neurons with x inside a box [low, high] (e.g. pixel values), mixed weight signs."""
    cases = [
        (np.array([1.0, -0.6]), np.array([1.2, 0.8]), -0.3,
         np.array([-0.5, -0.5]), np.array([1.5, 1.5])),
        (np.array([-1.0, 2.0]), np.array([0.0, 0.5]), 0.2,
         np.array([-1.0, -1.0]), np.array([1.0, 1.0])),
    ]
    # an input with a zero weight: it counts as not exciting (moves towards h), as in taylor
    cases.append((np.array([1.0, 0.0, -0.5]), np.array([0.8, 0.3, 0.2]), -0.2,
                  np.array([-1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0])))
    rng = np.random.default_rng(_SEED + 1)
    while len(cases) < 3 + n_random:
        n = sizes[len(cases) % len(sizes)]
        low = -rng.uniform(0.5, 2, size=n)
        high = rng.uniform(0.5, 2, size=n)
        x = rng.uniform(low, high)
        w = rng.normal(size=n)
        b = float(rng.normal(scale=0.3))
        lowest = np.maximum(w, 0) @ low + np.minimum(w, 0) @ high + b  # min of w·x + b on box
        if w @ x + b > 0.1 and lowest < 0 and np.any(w < 0) and np.any(w > 0):
            cases.append((w, x, b, low, high))
    return cases


def _inactive_case():
    return np.array([1.0, -0.6]), np.array([0.2, 0.8]), -0.3  # w·x + b = -0.58


def zplus_root_point(function) -> bool:
    """``function(w, x, b)`` returns the z⁺ root point (x ≥ 0, active neuron, b ≤ 0)."""
    __tracebackhide__ = True
    name = "zplus_root_point"
    reject_taylor(name, function)
    for w, x, b in _orthant_cases():
        expected = taylor.root_point("zplus", w, x, b)
        value = expect_array(name, "a", call_student(name, function, w.copy(), x.copy(), b),
                             shape=x.shape)
        if np.allclose(value, taylor.root_point("w2", w, x, b)) and not np.allclose(
                value, expected):
            fail(name, "that is the w² root point (search along w). Here the search direction "
                       "is vᵢ = xᵢ where wᵢ > 0 and 0 elsewhere.")
        v_literal = x * np.maximum(w, 0)           # the loose notation x ⊙ w⁺ taken literally
        literal = x - (w @ x + b) / (w @ v_literal) * v_literal
        if np.allclose(value, literal) and not np.allclose(value, expected):
            fail(name, "your search direction scales each exciting input by its weight as well "
                       "(x ⊙ w⁺, which looks like the z⁺ direction). Taken literally it "
                       "gives shares ∝ xᵢwᵢ², another rule. Each exciting input should shrink in "
                       "proportion to its own value only.")
        if np.allclose(value, x + taylor.step_t("lrp0", w, x, b) * x) and not np.allclose(
                value, expected):
            fail(name, "you shrink every input (direction v = x). Only the inputs with a "
                       "positive weight move: vᵢ = xᵢ·1[wᵢ > 0].")
        if not np.isclose(float(w @ value + b), 0.0, atol=1e-7):
            fail(name, f"w·a + b = {float(w @ value + b):.4g} for your a: a root point must lie "
                       "on the zero line.")
        if np.any(value < -1e-9):
            fail(name, "your a has negative entries, but the z⁺ root point must stay in the "
                       "positive orthant (inputs after a ReLU are ≥ 0).")
        moved = ~np.isclose(value, x)
        if np.any(moved & (w <= 0)):
            fail(name, "an input with a negative (or zero) weight moved. The z⁺ search only "
                       "lowers the inputs that excite the neuron (wᵢ > 0).")
        expect_close(name, "a", value, expected)
    return passed(name)


def zplus_relevance(function) -> bool:
    """``function(w, x, b)`` returns the z⁺ relevances Rᵢ = xᵢwᵢ⁺/Σⱼxⱼwⱼ⁺ · f(x)."""
    __tracebackhide__ = True
    name = "zplus_relevance"
    reject_taylor(name, function)
    for w, x, b in _orthant_cases():
        f = taylor.neuron_output(w, x, b)
        expected = taylor.rule_relevance("zplus", w, x, b)
        value = expect_array(name, "R", call_student(name, function, w.copy(), x.copy(), b),
                             shape=x.shape)
        z = x * w
        if np.allclose(value, z / z.sum() * f) and not np.allclose(value, expected):
            fail(name, "you used w instead of its positive part w⁺ = max(w, 0) (the lecture's "
                       "code makes the same slip). Inputs with negative weights get no z⁺ "
                       "relevance.")
        squared = x * np.maximum(w, 0) ** 2
        if np.allclose(value, squared / squared.sum() * f) and not np.allclose(value, expected):
            fail(name, "your shares are ∝ xᵢ(wᵢ⁺)²: that is what the search direction x ⊙ w⁺ "
                       "gives when taken literally, another rule. Check which direction the z⁺ "
                       "root point is searched along, and what that makes of wᵢ(xᵢ − aᵢ).")
        if np.allclose(value, np.maximum(z, 0)) and not np.allclose(value, expected):
            fail(name, "you have xᵢwᵢ⁺, but not yet normalised: divide by Σⱼxⱼwⱼ⁺ and multiply "
                       "by f(x).")
        if np.any(value < -1e-12):
            fail(name, "some Rᵢ are negative. z⁺ relevance is never negative when x ≥ 0.")
        if not np.isclose(value.sum(), f):
            fail(name, f"relevance is not conserved: ΣRᵢ = {value.sum():.4g}, f(x) = {f:.4g}.")
        expect_close(name, "R", value, expected)
    w, x, b = _inactive_case()
    value = expect_array(name, "R", call_student(name, function, w, x, b), shape=x.shape)
    if not np.allclose(value, 0.0):
        fail(name, "for an inactive neuron (w·x + b ≤ 0) all Rᵢ must be 0. Did you forget the "
                   "ReLU, f(x) = max(0, w·x + b)?")
    return passed(name)


def box_root_point(function) -> bool:
    """``function(w, x, b, low, high)`` returns the z^B root point inside the box."""
    __tracebackhide__ = True
    name = "box_root_point"
    reject_taylor(name, function)
    for w, x, b, low, high in _box_cases():
        expected = taylor.root_point("zb", w, x, b, low, high)
        value = expect_array(
            name, "a", call_student(name, function, w.copy(), x.copy(), b, low.copy(),
                                    high.copy()), shape=x.shape)
        v_swapped = np.where(w > 0, x - high, x - low)  # l and h exchanged
        swapped = x - (w @ x + b) / (w @ v_swapped) * v_swapped
        if np.allclose(value, swapped) and not np.allclose(value, expected):
            fail(name, "low and high are swapped: to lower the output, inputs with wᵢ > 0 move "
                       "towards lᵢ and inputs with wᵢ < 0 towards hᵢ.")
        v_zero_exciting = np.where(w >= 0, x - low, x - high)  # wᵢ = 0 put with the exciting
        zero_exciting = x - (w @ x + b) / (w @ v_zero_exciting) * v_zero_exciting
        if np.allclose(value, zero_exciting) and not np.allclose(value, expected):
            fail(name, "look at the inputs whose weight is exactly 0: which case of the search "
                       "direction v do they belong to? Read the exercise text again.")
        if np.allclose(value, taylor.root_point("w2", w, x, b)) and not np.allclose(
                value, expected):
            fail(name, "that is the w² root point (search along w). The z^B search direction "
                       "is vᵢ = xᵢ − lᵢ where wᵢ > 0 and xᵢ − hᵢ where wᵢ < 0.")
        if not np.isclose(float(w @ value + b), 0.0, atol=1e-7):
            fail(name, f"w·a + b = {float(w @ value + b):.4g} for your a: a root point must lie "
                       "on the zero line.")
        if np.any(value < low - 1e-9) or np.any(value > high + 1e-9):
            fail(name, "your a leaves the box l ≤ a ≤ h.")
        expect_close(name, "a", value, expected)
    return passed(name)


def gradient_x_input(function) -> bool:
    """``function(w, x, b)`` returns ∂f/∂xᵢ · xᵢ for f(x) = max(0, w·x + b)."""
    __tracebackhide__ = True
    name = "gradient_x_input"
    reject_taylor(name, function)
    cases = [(w, x, b) for w, x, b in _orthant_cases()] + [
        (np.array([1.0, -0.5]), np.array([-1.0, -3.0]), 0.8),  # negative inputs, b > 0
        _inactive_case(),
    ]
    for w, x, b in cases:
        expected = taylor.gradient_x_input(w, x, b)
        value = expect_array(name, "R", call_student(name, function, w.copy(), x.copy(), b),
                             shape=x.shape)
        f = taylor.neuron_output(w, x, b)
        if f == 0 and not np.allclose(value, 0.0):
            fail(name, "for an inactive neuron the gradient of max(0, ·) is 0, so gradient × "
                       "input is 0 too.")
        if f > 0 and np.allclose(value, w) and not np.allclose(value, expected):
            fail(name, "that is the gradient alone; multiply by the input.")
        if f > 0 and np.isclose(value.sum(), f) and not np.allclose(value, expected):
            fail(name, "your relevances sum to f(x). Gradient × input does not: it leaves out "
                       "the bias (ΣRᵢ = f(x) − b). Don't renormalise.")
        expect_close(name, "R", value, expected)
    return passed(name)


_RULE_NAMES = ("w2", "zplus", "zb", "lrp0")


def gamma_limit_rule(function) -> bool:
    """``function()`` names the rule LRP-γ becomes as γ → ∞ (a prediction before the notebook's
    sympy cell shows it). LRP-γ searches along v = x ⊙ (1 + γ·1[w > 0])."""
    __tracebackhide__ = True
    name = "gamma_limit_rule"
    answer = call_student(name, function)
    if not isinstance(answer, str):
        fail(name, f"return the rule's name as a string, one of {', '.join(_RULE_NAMES)}.")
    answer = answer.strip()
    try:
        answer = taylor.canonical_rule(answer)
    except ValueError:
        fail(name, f"{answer!r} is not one of {', '.join(_RULE_NAMES)}.")
    if answer == "lrp0":
        fail(name, "that is closer to γ = 0 (the direction v = x). Divide v by 1 + γ and let γ grow: "
                   "which inputs still move?")
    if answer in ("w2", "zb"):
        fail(name, "v = x ⊙ (1 + γ·1[w > 0]) contains neither the size of the weights nor a box. "
                   "Which rule's direction has the same form?")
    # the limit: v/(1 + γ) → x ⊙ 1[w > 0], the z⁺ direction
    return passed(name, "The next cell checks it with sympy.")
