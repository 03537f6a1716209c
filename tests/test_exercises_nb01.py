"""Checkers of notebook 01: pass on the right answer, friendly failures on typical mistakes."""

import numpy as np
import sympy

from exercise_helpers import fails_with, not_done
from lrp_teach.exercises import nb01 as check
from lrp_teach.taylor import S


# --- derive_t --------------------------------------------------------------------------------
def derive_t_right():
    equation = sympy.Eq(S.w.dot(S.x + S.t * S.w) + S.b, 0)
    return sympy.solve(equation, S.t)[0]


def test_derive_t(capsys):
    assert check.derive_t(derive_t_right)
    assert "✔ derive t: correct." in capsys.readouterr().out
    assert check.derive_t(lambda: sympy.solve(sympy.Eq(S.w.dot(S.x + S.t * S.w) + S.b, 0), S.t))
    fails_with(check.derive_t, not_done, "not done yet")
    fails_with(check.derive_t, lambda: -S.w.dot(S.x) / S.w.dot(S.w), "bias b is missing")
    fails_with(check.derive_t, lambda: (S.w.dot(S.x) + S.b) / S.w.dot(S.w), "opposite sign")
    fails_with(check.derive_t, lambda: -(S.w.dot(S.x) + S.b) / sympy.sqrt(S.w.dot(S.w)), "‖w‖")
    fails_with(check.derive_t, lambda: sympy.Eq(S.t, 1), "equation")
    fails_with(check.derive_t, lambda: S.t + S.b, "still contains t")
    fails_with(check.derive_t, lambda: sympy.Float(0.5), "is a number")


# --- root_point_t ----------------------------------------------------------------------------
def test_root_point_t(capsys):
    assert check.root_point_t(lambda w, x, b: -(w @ x + b) / (w @ w))
    assert "✔ root_point_t: correct." in capsys.readouterr().out
    fails_with(check.root_point_t, not_done, "not done yet")
    fails_with(check.root_point_t, lambda w, x, b: -(w @ x) / (w @ w), "bias b is missing")
    fails_with(check.root_point_t, lambda w, x, b: (w @ x + b) / (w @ w), "wrong sign")
    fails_with(check.root_point_t, lambda w, x, b: -(w @ x + b) / np.linalg.norm(w), "‖w‖²")
    fails_with(check.root_point_t, lambda w, x, b: -(w * x + b) / (w @ w), "one number")


# --- root_point ------------------------------------------------------------------------------
def test_root_point(capsys):
    assert check.root_point(lambda w, x, b: x - (w @ x + b) / (w @ w) * w)
    assert "✔ root_point: correct." in capsys.readouterr().out
    fails_with(check.root_point, not_done, "not done yet")
    fails_with(check.root_point, lambda w, x, b: x + (w @ x + b) / (w @ w) * w, "wrong side")
    fails_with(check.root_point, lambda w, x, b: x - (w @ x) / (w @ w) * w, "w·a + b =")
    # a root, but not on the line through x along w (shifts only the first input)
    def off_line(w, x, b):
        a = x.copy()
        a[0] = x[0] - (w @ x + b) / w[0]
        return a
    fails_with(check.root_point, off_line, "not on the line through x along w")
    fails_with(check.root_point, lambda w, x, b: None, "forget a `return`")


# --- w2_relevance ----------------------------------------------------------------------------
def w2_right(w, x, b):
    f = max(0.0, w @ x + b)
    return w**2 / (w @ w) * f


def test_w2_relevance(capsys):
    assert check.w2_relevance(w2_right)
    assert "✔ w2_relevance: correct." in capsys.readouterr().out
    fails_with(check.w2_relevance, not_done, "not done yet")
    fails_with(check.w2_relevance, lambda w, x, b: w * x, "gradient × input")
    fails_with(check.w2_relevance, lambda w, x, b: w**2 / (w @ w), "multiply by f(x)")
    fails_with(check.w2_relevance,
               lambda w, x, b: np.abs(w) / np.abs(w).sum() * max(0, w @ x + b), "|wᵢ|/Σ|w|")
    fails_with(check.w2_relevance, lambda w, x, b: w**2 / (w @ w) * (w @ x + b), "max(0, ·)")
    fails_with(check.w2_relevance, lambda w, x, b: w**2 / (w @ w) * (w @ x), "not conserved")
    fails_with(check.w2_relevance, lambda w, x, b: np.zeros(3), "shape")
