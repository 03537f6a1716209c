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


# --- derive_relevance_on_line ------------------------------------------------------------------
def relevance_on_line_right():
    t = sympy.solve(sympy.Eq(S.w.dot(S.x + S.t * S.v) + S.b, 0), S.t)[0]
    root = S.x + t * S.v
    return sympy.Matrix([S.w[i] * (S.x[i] - root[i]) for i in range(2)])


def test_derive_relevance_on_line(capsys):
    assert check.derive_relevance_on_line(relevance_on_line_right)
    assert "✔ derive_relevance_on_line: correct." in capsys.readouterr().out
    assert check.derive_relevance_on_line(lambda: list(relevance_on_line_right()))
    fails_with(check.derive_relevance_on_line, not_done, "not done yet")
    f = S.w.dot(S.x) + S.b
    wv = S.w.dot(S.v)
    root = S.x - f / wv * S.v
    fails_with(check.derive_relevance_on_line, lambda: -relevance_on_line_right(), "sign")
    fails_with(check.derive_relevance_on_line, lambda: root, "root point a")
    fails_with(check.derive_relevance_on_line, lambda: S.x - root, "derivative")
    fails_with(check.derive_relevance_on_line,
               lambda: sympy.Matrix([S.w1 ** 2, S.w2 ** 2]) / S.w.dot(S.w) * f, "direction v")
    fails_with(check.derive_relevance_on_line,
               lambda: sympy.Matrix([S.w1 * S.v1, S.w2 * S.v2]) / wv * S.w.dot(S.x), "bias b")
    fails_with(check.derive_relevance_on_line,
               lambda: sympy.Matrix([S.w1 * S.v1, S.w2 * S.v2]) * f, "not conserved")
    fails_with(check.derive_relevance_on_line, lambda: S.x + S.t * S.v, "still contains t")
    v1 = sympy.Symbol("v1")  # no real=True: a different symbol than S.v1
    fails_with(check.derive_relevance_on_line,
               lambda: relevance_on_line_right().subs(S.v1, v1), "not the course's symbols")
    fails_with(check.derive_relevance_on_line, lambda: sympy.Matrix([1, 2, 3]), "2 entries")
    fails_with(check.derive_relevance_on_line, lambda: 3, "Matrix")


def test_predict_sensitivity_and_relevance(capsys):
    # w = (1, 0.5), b = −0.5, x = (2, 2): f = 2.5, ∂f/∂x = w, S = w² = (1, 0.25),
    # w² shares (0.8, 0.2) of f: R = (2, 0.5) -- written out from the formulas
    assert check.predict_sensitivity_and_relevance(lambda: ((1.0, 0.25), (2.0, 0.5)))
    assert "✔" in capsys.readouterr().out
    fails_with(check.predict_sensitivity_and_relevance, not_done, "not done yet")
    fails_with(check.predict_sensitivity_and_relevance, lambda: ((2.0, 0.5), (2.0, 0.5)),
               "adds up to f(x)")
    fails_with(check.predict_sensitivity_and_relevance, lambda: ((1.0, 0.5), (2.0, 0.5)),
               "squared")
    fails_with(check.predict_sensitivity_and_relevance, lambda: ((4.0, 1.0), (2.0, 0.5)),
               "not right yet")
    fails_with(check.predict_sensitivity_and_relevance, lambda: ((1.0, 0.25), (1.0, 0.25)),
               "add up to f(x)")
    fails_with(check.predict_sensitivity_and_relevance, lambda: ((1.0, 0.25), (1.25, 1.25)),
               "split")
    fails_with(check.predict_sensitivity_and_relevance, lambda: (1.0, 0.25, 2.0, 0.5), "two pairs")
    fails_with(check.predict_sensitivity_and_relevance, lambda: (1.0, (2.0, 0.5)), "shape")


# --- the exercises must be solved without lrp_teach.taylor ---------------------------------------
def test_solutions_calling_lrp_teach_taylor_are_rejected(capsys):
    # the taylor calls shown in the notebook right above each exercise
    from lrp_teach import taylor

    without = "without lrp_teach.taylor"
    fails_with(check.derive_t, lambda: taylor.solve_root_on_line(S.w).t,
               "taylor.solve_root_on_line", without)
    fails_with(check.derive_relevance_on_line, lambda: taylor.solve_root_on_line(S.v).R,
               "taylor.solve_root_on_line", without)
    fails_with(check.root_point, lambda w, x, b: taylor.root_point("w2", w, x, b),
               "taylor.root_point", without)
    fails_with(check.w2_relevance, lambda w, x, b: taylor.relevance("w2", w, x, b),
               "taylor.relevance", without)
    # the correct solutions above (which use taylor.S) still pass
    assert check.derive_t(derive_t_right) and check.derive_relevance_on_line(relevance_on_line_right)
    assert check.root_point(lambda w, x, b: x - (w @ x + b) / (w @ w) * w)
    assert check.w2_relevance(w2_right)
    assert check.derive_t(lambda: sympy.solve(
        sympy.Eq(taylor.S.w.dot(taylor.S.x + taylor.S.t * taylor.S.w) + taylor.S.b, 0),
        taylor.S.t)[0])


def test_taylor_is_found_through_imports_helpers_and_closures():
    import functools

    import lrp_teach
    from lrp_teach.taylor import relevance as imported_relevance

    fails_with(check.w2_relevance, lambda w, x, b: imported_relevance("w2", w, x, b),
               "taylor.relevance")
    fails_with(check.w2_relevance, lambda w, x, b: lrp_teach.taylor.relevance("w2", w, x, b),
               "taylor.relevance")
    fails_with(check.w2_relevance, functools.partial(imported_relevance, "w2"), "taylor.relevance")

    def imports_inside(w, x, b):
        from lrp_teach import taylor as t
        return t.relevance("w2", w, x, b)

    fails_with(check.w2_relevance, imports_inside, "taylor")

    def helper(w, x, b):  # the student's own helper, which hands the work to taylor
        return lrp_teach.taylor.root_point("w2", w, x, b)

    def via_helper(w, x, b):
        return w * (x - helper(w, x, b)) if w @ x + b > 0 else 0 * x

    fails_with(check.w2_relevance, via_helper, "taylor.root_point")

    def make(rule):
        def relevance(w, x, b):
            return imported_relevance(rule, w, x, b)
        return relevance

    fails_with(check.w2_relevance, make("w2"), "taylor.relevance")
