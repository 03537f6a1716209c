"""Checkers of notebook 02: pass on the right answer, friendly failures on typical mistakes."""

import numpy as np

from exercise_helpers import fails_with, not_done
from lrp_teach.exercises import nb02 as check


# --- zplus_root_point ------------------------------------------------------------------------
def zplus_root_right(w, x, b):
    v = np.where(w > 0, x, 0.0)
    return x - (w @ x + b) / (w @ v) * v


def test_zplus_root_point(capsys):
    assert check.zplus_root_point(zplus_root_right)
    assert "✔ zplus_root_point: correct." in capsys.readouterr().out
    fails_with(check.zplus_root_point, not_done, "not done yet")
    fails_with(check.zplus_root_point, lambda w, x, b: x - (w @ x + b) / (w @ w) * w, "w² root")
    fails_with(check.zplus_root_point, lambda w, x, b: x - (w @ x + b) / (w @ x) * x,
               "every input")
    fails_with(check.zplus_root_point, lambda w, x, b: np.where(w > 0, 0.0, x), "w·a + b")


def test_zplus_root_point_names_the_literal_x_times_w_plus_trap():
    def literal(w, x, b):  # v = x ⊙ w⁺ taken literally
        v = x * np.maximum(w, 0)
        return x - (w @ x + b) / (w @ v) * v
    fails_with(check.zplus_root_point, literal, "x ⊙ w⁺")


def test_zplus_root_point_catches_a_zero_weight_that_moves():
    def moves_zero_weights(w, x, b):  # `w >= 0` instead of `w > 0`
        v = np.where(w >= 0, x, 0.0)
        return x - (w @ x + b) / (w @ v) * v
    fails_with(check.zplus_root_point, moves_zero_weights, "negative (or zero) weight moved")


def test_zplus_root_point_detects_moved_negative_inputs():
    def moves_negative(w, x, b):  # a root in the orthant, but found by lowering the wrong inputs
        v = np.where(w > 0, x, 0.0) + np.where(w < 0, -x * 0.1, 0.0)
        return x - (w @ x + b) / (w @ v) * v
    fails_with(check.zplus_root_point, moves_negative, "negative (or zero) weight moved")


# --- zplus_relevance -------------------------------------------------------------------------
def zplus_right(w, x, b):
    z = x * np.maximum(w, 0)
    return z / z.sum() * max(0.0, w @ x + b)


def test_zplus_relevance(capsys):
    assert check.zplus_relevance(zplus_right)
    assert "✔ zplus_relevance: correct." in capsys.readouterr().out
    fails_with(check.zplus_relevance, not_done, "not done yet")
    fails_with(check.zplus_relevance, lambda w, x, b: x * w / (x @ w) * max(0, w @ x + b), "w⁺")
    fails_with(check.zplus_relevance, lambda w, x, b: x * np.maximum(w, 0), "not yet normalised")
    fails_with(check.zplus_relevance,
               lambda w, x, b: (x * np.maximum(w, 0) ** 2 / (x @ np.maximum(w, 0) ** 2)
                                * max(0.0, w @ x + b)), "xᵢ(wᵢ⁺)²")
    fails_with(check.zplus_relevance,
               lambda w, x, b: x * np.maximum(w, 0) / (x @ np.maximum(w, 0)), "not conserved")
    fails_with(check.zplus_relevance,
               lambda w, x, b: x * np.maximum(w, 0) / (x @ np.maximum(w, 0)) * (w @ x + b),
               "ReLU")


# --- box_root_point --------------------------------------------------------------------------
def box_right(w, x, b, low, high):
    v = np.where(w > 0, x - low, x - high)
    return x - (w @ x + b) / (w @ v) * v


def test_box_root_point(capsys):
    assert check.box_root_point(box_right)
    assert "✔ box_root_point: correct." in capsys.readouterr().out
    fails_with(check.box_root_point, not_done, "not done yet")
    fails_with(check.box_root_point, lambda w, x, b, low, high: box_right(w, x, b, high, low),
               "swapped")
    fails_with(check.box_root_point,
               lambda w, x, b, low, high: x - (w @ x + b) / (w @ w) * w, "w² root point")
    fails_with(check.box_root_point, lambda w, x, b, low, high: np.where(w > 0, low, high),
               "w·a + b")


def test_box_root_point_catches_a_zero_weight_counted_as_exciting():
    def zero_as_exciting(w, x, b, low, high):
        v = np.where(w >= 0, x - low, x - high)
        return x - (w @ x + b) / (w @ v) * v
    fails_with(check.box_root_point, zero_as_exciting, "weight is exactly 0")


# --- gamma_limit_rule (a prediction) ----------------------------------------------------------
def test_gamma_limit_rule(capsys):
    # v = x ⊙ (1 + γ·1[w > 0]); divided by 1 + γ it tends to x ⊙ 1[w > 0], the z⁺ direction
    assert check.gamma_limit_rule(lambda: "zplus")
    assert "✔ gamma_limit_rule" in capsys.readouterr().out
    assert check.gamma_limit_rule(lambda: "z⁺")                 # the aliases of taylor count
    fails_with(check.gamma_limit_rule, not_done, "not done yet")
    fails_with(check.gamma_limit_rule, lambda: "lrp0", "γ = 0")
    fails_with(check.gamma_limit_rule, lambda: "w2", "neither")
    fails_with(check.gamma_limit_rule, lambda: "zb", "neither")
    fails_with(check.gamma_limit_rule, lambda: "gamma", "not one of")
    fails_with(check.gamma_limit_rule, lambda: 3, "string")


# --- gradient_x_input ------------------------------------------------------------------------
def test_gradient_x_input(capsys):
    assert check.gradient_x_input(lambda w, x, b: w * x * (w @ x + b > 0))
    assert "✔ gradient_x_input: correct." in capsys.readouterr().out
    fails_with(check.gradient_x_input, not_done, "not done yet")
    fails_with(check.gradient_x_input, lambda w, x, b: w * x, "inactive")
    fails_with(check.gradient_x_input, lambda w, x, b: w * (w @ x + b > 0), "gradient alone")
    fails_with(check.gradient_x_input,
               lambda w, x, b: w * x / (w @ x) * max(0.0, w @ x + b), "leaves out the bias")


def test_solutions_calling_lrp_teach_taylor_are_rejected(capsys):
    from lrp_teach import taylor

    without = "without lrp_teach.taylor"
    fails_with(check.zplus_root_point, lambda w, x, b: taylor.root_point("zplus", w, x, b),
               "taylor.root_point", without)
    fails_with(check.zplus_relevance, lambda w, x, b: taylor.rule_relevance("zplus", w, x, b),
               "taylor.rule_relevance", without)
    fails_with(check.box_root_point,
               lambda w, x, b, low, high: taylor.root_point("zb", w, x, b, low, high),
               "taylor.root_point", without)
    fails_with(check.gradient_x_input, lambda w, x, b: taylor.gradient_x_input(w, x, b),
               "taylor.gradient_x_input", without)
    fails_with(check.gradient_x_input, taylor.gradient_x_input, "taylor.gradient_x_input")
    # correct solutions still pass, also next to an unrelated use of numpy
    assert check.zplus_root_point(zplus_root_right)
    assert check.gradient_x_input(lambda w, x, b: (w if w @ x + b > 0 else np.zeros_like(w)) * x)
