"""The checkers of notebook 03 accept the right answer and name the typical mistakes."""

import numpy as np
import pytest

from exercise_helpers import not_done
from lrp_teach.exercises import ExerciseFailed
from lrp_teach.exercises import nb03 as check


# ---------------------------------------------------------------- exercise 1: step 3
def step3_right(w, s):
    return s @ np.maximum(w, 0).T


def test_step3_accepts_right_answer(capsys):
    assert check.zplus_step3(step3_right)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (not_done, "not done yet"),
    (lambda w, s: s @ w.T, "plain weights w"),
    (lambda w, s: s @ np.minimum(w, 0).T, "negative weights"),
    (lambda w, s: np.maximum(w, 0) @ s.T, "shape"),
    (lambda w, s: (s @ np.maximum(w, 0).T).sum(axis=0), "shape"),
    (lambda w, s: -(s @ np.maximum(w, 0).T), "opposite sign"),
    (lambda w, s: (s @ np.maximum(w, 0).T) + 1.0, "does not match"),
])
def test_step3_rejects_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.zplus_step3(wrong)


def test_step3_names_transposed_weights():
    def transposed(w, s):
        if w.shape[0] != w.shape[1]:
            return step3_right(w, s)  # only detectable on square layers
        return s @ np.maximum(w, 0)
    with pytest.raises(ExerciseFailed, match="wrong index"):
        check.zplus_step3(transposed)


# ---------------------------------------------------------------- exercise 2: z⁺ layer
def zplus_right(a, w, R, epsilon=1e-9):
    w_plus = np.maximum(w, 0)
    z = epsilon + a @ w_plus
    s = R / z
    c = s @ w_plus.T
    return a * c


def test_zplus_layer_accepts_right_answer(capsys):
    assert check.zplus_layer(zplus_right)
    assert "conserved" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (not_done, "not done yet"),
    (lambda a, w, R, e=1e-9: a * ((R / (a @ w)) @ w.T), "plain weights w"),
    (lambda a, w, R, e=1e-9: a * ((R / (e + a @ np.maximum(w, 0))) @ w.T),
     "step 3 uses the plain weights"),
    (lambda a, w, R, e=1e-9: (R / (e + a @ np.maximum(w, 0))) @ np.maximum(w, 0).T,
     "returned c"),
    (lambda a, w, R, e=1e-9: a * (R @ np.maximum(w, 0).T), "step 2 is missing"),
    (lambda a, w, R, e=1e-9: -zplus_right(a, w, R, e), "negative"),
    (lambda a, w, R, e=1e-9: 2 * zplus_right(a, w, R, e), "not conserved"),
    (lambda a, w, R, e=1e-9: zplus_right(a, w, R, e).T, "shape"),
    (lambda a, w, R, e=1e-9: zplus_right(a, w, R, e)[:, ::-1], "does not match"),
])
def test_zplus_layer_rejects_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.zplus_layer(wrong)


# ---------------------------------------------------------------- exercise 3: w² rule
def wsquare_right(w, R):
    squared = w ** 2
    return R @ (squared / squared.sum(axis=0)).T


def test_wsquare_accepts_right_answer(capsys):
    assert check.wsquare_layer(wsquare_right)
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (not_done, "not done yet"),
    (lambda w, R: R @ (np.abs(w) / np.abs(w).sum(axis=0)).T, r"used \|w\|"),
    (lambda w, R: R @ ((w ** 2) / (w ** 2).sum(axis=1, keepdims=True)) if w.shape[0] == w.shape[1]
     else wsquare_right(w, R), "wrong index"),
    (lambda w, R: R @ (w ** 2).T, "not conserved"),
    (lambda w, R: R @ (w / w.sum(axis=0)).T, "does not match"),
    (lambda w, R: None, "forget a `return`"),
])
def test_wsquare_rejects_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.wsquare_layer(wrong)


# ---------------------------------------------------------------- exercise 4: bias
def absorbed_right(a, w, b, R):
    z = a @ w + b
    return (b * R / z).sum(axis=1)


def test_absorbed_accepts_right_answer(capsys):
    assert check.absorbed_by_bias(absorbed_right)
    assert "✔" in capsys.readouterr().out


def test_absorbed_accepts_the_subtraction_route():
    def by_subtraction(a, w, b, R):
        z = a @ w + b
        lower = a * ((R / z) @ w.T)
        return R.sum(axis=1) - lower.sum(axis=1)
    assert check.absorbed_by_bias(by_subtraction)


@pytest.mark.parametrize("wrong, message", [
    (not_done, "not done yet"),
    (lambda a, w, b, R: (b * R).sum(axis=1), "not bₖ · Rₖ: which fraction"),
    (lambda a, w, b, R: np.full(len(a), b.sum()), "not only on the biases"),
    (lambda a, w, b, R: b * R / (a @ w + b), "one number per sample"),
    (lambda a, w, b, R: -absorbed_right(a, w, b, R), "opposite sign"),
])
def test_absorbed_rejects_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message) as error:
        check.absorbed_by_bias(wrong)
    assert "/ zₖ" not in str(error.value)               # feedback, not the answer


# ---------------------------------------------------------------- exercise 5: the logit's offset
def test_shift_factor_accepts_right_answer(capsys):
    assert check.zplus_shift_factor(lambda f1, shift: (f1 + shift) / f1)
    assert "✔ Exercise 5" in capsys.readouterr().out


def test_shift_factor_accepts_the_equivalent_form():
    assert check.zplus_shift_factor(lambda f1, shift: 1 + shift / f1)


@pytest.mark.parametrize("wrong, message", [
    (not_done, "not done yet"),
    (lambda f1, shift: 1.0, "the explained number does"),
    (lambda f1, shift: f1 + shift, "shifted logit, not a factor"),
    (lambda f1, shift: shift, "the shift itself, not a factor"),
    (lambda f1, shift: f1 / (f1 + shift), "upside down"),
    (lambda f1, shift: (f1 + shift) / (f1 - shift), "does not match"),
    (lambda f1, shift: "bigger", "one number"),
])
def test_shift_factor_rejects_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message) as error:
        check.zplus_shift_factor(wrong)
    assert "(f1 + shift)" not in str(error.value)       # feedback, not the answer
