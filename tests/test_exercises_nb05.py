"""Checkers of notebook 05: right answers pass, stubs say "not done yet", typical mistakes are named."""

from __future__ import annotations

import numpy as np
import pytest

from exercise_helpers import not_done as stub
from lrp_teach.exercises import ExerciseFailed
from lrp_teach import metrics
from lrp_teach.exercises import nb05 as check


def softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- exercise 1: negative share ----------------------------------------------------------------

def share_right(relevance):
    maps = relevance.sum(axis=-1).reshape(len(relevance), -1)
    total = np.abs(maps).sum(axis=1)
    return np.where(total > 0, np.abs(np.minimum(maps, 0)).sum(axis=1) / np.where(
        total > 0, total, 1), 0.0)


def test_negative_share_passes(capsys):
    assert check.negative_share(share_right)
    assert "✔ Exercise 1 (share of negative relevance): correct." in capsys.readouterr().out


def test_negative_share_passes_with_the_metrics_version():
    assert check.negative_share(metrics.negative_share)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("wrong, message", [
    (stub, "not done yet"),
    (lambda r: 1 - share_right(r), "POSITIVE share"),
    (lambda r: (r.sum(-1).reshape(len(r), -1) < 0).mean(axis=1), "counted negative pixels"),
    (lambda r: np.abs(np.minimum(r, 0)).reshape(len(r), -1).sum(1)
     / np.abs(r).reshape(len(r), -1).sum(1), "SUM over its three channels"),
    (lambda r: share_right(r).mean(), "one number for"),
    (lambda r: np.abs(np.minimum(r.sum(-1), 0)).reshape(len(r), -1).sum(1)
     / np.abs(r.sum(-1)).reshape(len(r), -1).sum(1), "NaN"),
])
def test_negative_share_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.negative_share(wrong)


# ---- exercise 2: layer totals ------------------------------------------------------------------

def totals_right(per_layer):
    return np.array([r.reshape(len(r), -1).sum(axis=1) for _, r in per_layer])


def test_layer_totals_passes(capsys):
    assert check.layer_totals(totals_right)
    assert "✔ Exercise 2 (relevance per layer): correct." in capsys.readouterr().out


def test_layer_totals_passes_with_the_metrics_version():
    assert check.layer_totals(metrics.layer_totals)


@pytest.mark.parametrize("wrong, message", [
    (stub, "not done yet"),
    (lambda per_layer: np.array([np.abs(r).reshape(len(r), -1).sum(1) for _, r in per_layer]),
     "summed \\|relevance\\|"),
    (lambda per_layer: np.array([r.reshape(len(r), -1).mean(1) for _, r in per_layer]),
     "took the mean"),
    (lambda per_layer: np.array([r.sum() for _, r in per_layer]), "summed over the images"),
    (lambda per_layer: totals_right(per_layer).T, "put the layers first"),
])
def test_layer_totals_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.layer_totals(wrong)


# ---- exercise 3: initial relevance -------------------------------------------------------------

def initial_right(logits, target):
    start = np.zeros_like(logits)
    rows = np.arange(len(logits))
    start[rows, target] = logits[rows, target]
    return start


def test_initial_relevance_passes(capsys):
    assert check.initial_relevance(initial_right)
    assert "✔ Exercise 3 (where LRP starts): correct." in capsys.readouterr().out


def test_initial_relevance_passes_with_the_metrics_version():
    assert check.initial_relevance(metrics.initial_relevance)


@pytest.mark.parametrize("wrong, message", [
    (stub, "not done yet"),
    (lambda logits, target: softmax(logits), "lecture's mistake"),
    (lambda logits, target: np.eye(logits.shape[1])[target], "start with 1"),
    (lambda logits, target: logits, "Keep only the target"),
    (lambda logits, target: np.abs(initial_right(logits, target)), "Keep the sign"),
    (lambda logits, target: initial_right(logits, target) * (softmax(logits) / np.where(
        logits == 0, 1, logits)), "softmax probability"),
    (lambda logits, target: None, "return"),
])
def test_initial_relevance_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.initial_relevance(wrong)


# ---- numbering = notebook order ---------------------------------------------------------------

@pytest.mark.parametrize("checker, number", [
    (check.negative_share, 1), (check.layer_totals, 2), (check.initial_relevance, 3)])
def test_stub_message_names_the_exercise_number(checker, number):
    with pytest.raises(ExerciseFailed, match=rf"Exercise {number} \(.*not done yet"):
        checker(stub)
