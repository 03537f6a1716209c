"""Checkers of notebook 06: right answers pass, stubs say "not done yet", typical mistakes are named."""

from __future__ import annotations

import numpy as np
import pytest

from exercise_helpers import fails_with, not_done as stub
from lrp_teach.exercises import nb06 as check


# ---- exercise 1: the split at a residual join --------------------------------------------------

def split_right(inputs, relevance):
    z = sum(inputs)
    s = relevance / (z + 1e-6 * np.where(z >= 0, 1.0, -1.0))
    return [x * s for x in inputs]


def test_add_split_passes(capsys):
    assert check.add_split(split_right)
    assert "✔ Exercise 1 (the split at a residual join): correct." in capsys.readouterr().out


def test_add_split_reference_by_hand():
    # z = 3 + (-1) = 2, R = 4: shares 3/2·4 = 6 and -1/2·4 = -2 (they add up to 4)
    shares = check.reference_add_split([np.array([3.0]), np.array([-1.0])], np.array([4.0]))
    assert np.allclose(shares[0], 6.0, rtol=1e-5) and np.allclose(shares[1], -2.0, rtol=1e-5)
    # exact cancellation: z = 0 -> z + ε (sign(0) = +1): each share is x_i/ε·R, finite
    shares = check.reference_add_split([np.array([1.0]), np.array([-1.0])], np.array([1.0]))
    assert shares[0][0] == pytest.approx(1e6) and shares[1][0] == pytest.approx(-1e6)
    with pytest.raises(ValueError, match="two or more inputs"):
        check.reference_add_split([np.ones(2)], np.ones(2))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("wrong, message", [
    (stub, "not done yet"),
    (lambda xs, R: [R / len(xs) for _ in xs], "same share"),
    (lambda xs, R: [np.abs(x) / sum(np.abs(v) for v in xs) * R for x in xs], "|x_i|"),
    (lambda xs, R: [x / (sum(xs) + 1e-6) * R for x in xs], "ε·sign(z)"),
    (lambda xs, R: [x / sum(xs) * R for x in xs], "no stabiliser"),
    (lambda xs, R: [np.nan_to_num(x / sum(xs) * R) * 0 + np.nan for x in xs], "contains NaN or inf"),
    (lambda xs, R: [x * R for x in xs], "do not add up"),
    (lambda xs, R: split_right(xs, R)[:1], "one relevance array per input"),
    (lambda xs, R: [2 * x / (sum(xs) + 1e-6 * np.where(sum(xs) >= 0, 1, -1)) * R - R / len(xs)
                    for x in xs], "do not match LRP-0"),
])
def test_add_split_mistakes(wrong, message):
    fails_with(check.add_split, wrong, message)


# ---- exercise 2: the prediction ----------------------------------------------------------------

def test_prediction_accepts_every_choice_and_rejects_anything_else(capsys):
    for choice in check.CHOICES:
        assert check.prediction(lambda choice=choice: choice)
    assert "Recorded" in capsys.readouterr().out
    fails_with(check.prediction, stub, "not done yet")
    fails_with(check.prediction, lambda: "rises", "not one of the choices")


@pytest.mark.parametrize("with_, without, outcome", [
    (0.12, 0.999, check.CHOICES[3]),
    (0.12, 0.001, check.CHOICES[0]),
    (0.12, 0.125, check.CHOICES[1]),
    (0.001, 0.05, check.CHOICES[2]),
    (0.12, 1.5, None),
])
def test_compare_prediction(capsys, with_, without, outcome):
    for choice in check.CHOICES:
        held = check.compare_prediction(lambda choice=choice: choice, with_, without)
        out = capsys.readouterr().out
        assert held == (choice == outcome)
        assert out.startswith("✔" if held else "✘")
        assert f"{100 * with_:.2g} %" in out and f"{100 * without:.2g} %" in out


def test_a_wrong_prediction_gets_the_hint_of_its_choice(capsys):
    # measured: 0.03 % with the biases, 4 % without -> "rises, but stays well below 100 %"
    for choice, clue in ((check.CHOICES[3], "bias alone"), (check.CHOICES[0], "denominator becomes zero"),
                         (check.CHOICES[1], "what the biases took")):
        assert check.compare_prediction(lambda choice=choice: choice, 0.0003, 0.04) is False
        out = capsys.readouterr().out
        assert clue in out and "✘" in out
    hints = [check.WRONG_PREDICTION_HINTS[c] for c in check.CHOICES]
    assert len(set(hints)) == len(check.CHOICES)            # one hint per choice, all different


def test_compare_prediction_does_not_raise_when_not_done(capsys):
    assert check.compare_prediction(stub, 0.1, 1.0) is False
    assert "not done yet" in capsys.readouterr().out


# ---- exercise 3: a contrastive output ----------------------------------------------------------

def contrast_right(kernel, bias, c, c_prime):
    return (kernel[:, c] - kernel[:, c_prime])[:, None], np.array([bias[c] - bias[c_prime]])


def test_contrastive_weights_passes(capsys):
    assert check.contrastive_weights(contrast_right)
    assert "✔ Exercise 3" in capsys.readouterr().out


def test_contrastive_reference_computes_the_difference_of_logits():
    rng = np.random.default_rng(0)
    kernel, bias, a = rng.normal(size=(6, 4)), rng.normal(size=4), rng.normal(size=(3, 6))
    w, b = check.reference_contrastive_weights(kernel, bias, 3, 1)
    logits = a @ kernel + bias
    assert w.shape == (6, 1) and b.shape == (1,)
    assert np.allclose((a @ w + b)[:, 0], logits[:, 3] - logits[:, 1])


@pytest.mark.parametrize("wrong, message", [
    (stub, "not done yet"),
    (lambda k, b, c, cp: contrast_right(k, b, cp, c), "sign is flipped"),
    (lambda k, b, c, cp: (contrast_right(k, b, c, cp)[0], np.zeros(1)), "misses the biases"),
    (lambda k, b, c, cp: ((k[:, c] + k[:, cp])[:, None], np.array([b[c] + b[cp]])), "adds"),
    (lambda k, b, c, cp: (k[:, c] - k[:, cp], np.array([b[c] - b[cp]])), "needs shape"),
    (lambda k, b, c, cp: contrast_right(k, b, c, cp)[0], "two arrays"),
    (lambda k, b, c, cp: (k[:, :1], b[:1]), "not f_c − f_c′"),
])
def test_contrastive_weights_mistakes(wrong, message):
    fails_with(check.contrastive_weights, wrong, message)
