"""Checkers of notebook 04: pass on the right answer, fail with a specific message otherwise."""

import numpy as np
import pytest

from exercise_helpers import not_done as _stub
from lrp_teach.exercises import ExerciseFailed
from lrp_teach.exercises import nb04 as check
from lrp_teach._tf import tf

EPS = 1e-6


# ---------------------------------------------------------------- exercise 1: Conv2D z⁺ step

def _conv_zplus(a, kernel, bias, relevance, positive=True, use_bias=True, transpose=True,
                times_input=True):
    w = tf.maximum(kernel, 0.0) if positive else tf.constant(kernel)
    b = (tf.maximum(bias, 0.0) if positive else tf.constant(bias)) if use_bias else 0.0
    z = tf.nn.conv2d(a, w, strides=1, padding="SAME") + b
    z = z + EPS * tf.where(z >= 0, 1.0, -1.0)
    s = relevance / z
    if transpose:
        c = tf.nn.conv2d_transpose(s, w, output_shape=a.shape, strides=1, padding="SAME")
    else:
        c = tf.nn.conv2d(s, tf.transpose(w, (0, 1, 3, 2)), strides=1, padding="SAME")
    return (a * c).numpy() if times_input else c.numpy()


def test_conv_zplus_passes_on_the_right_answer(capsys):
    assert check.conv_zplus_step(_conv_zplus)
    assert "✔ Exercise 1 (Conv2D z⁺ step): correct." in capsys.readouterr().out


def test_conv_zplus_passes_with_the_gradient_trick():
    def gradient_version(a, kernel, bias, relevance):
        a = tf.constant(a)
        with tf.GradientTape() as tape:
            tape.watch(a)
            z = tf.nn.conv2d(a, tf.maximum(kernel, 0.0), 1, "SAME") + tf.maximum(bias, 0.0) + EPS
            s = tf.stop_gradient(relevance / z)
            total = tf.reduce_sum(z * s)
        return (a * tape.gradient(total, a)).numpy()

    assert check.conv_zplus_step(gradient_version)


@pytest.mark.parametrize("switches, message", [
    (dict(positive=False), "positive parts"),
    (dict(use_bias=False), "b⁺"),
    (dict(times_input=False), "Step 4"),
    (dict(transpose=False), "conv2d_transpose"),
])
def test_conv_zplus_names_typical_mistakes(switches, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.conv_zplus_step(lambda *args: _conv_zplus(*args, **switches))


def test_conv_zplus_stub_and_shape():
    with pytest.raises(ExerciseFailed, match="not done yet"):
        check.conv_zplus_step(_stub)
    with pytest.raises(ExerciseFailed, match="shape"):
        check.conv_zplus_step(lambda a, k, b, r: r)
    with pytest.raises(ExerciseFailed, match="conserved|does not match"):
        check.conv_zplus_step(lambda a, k, b, r: a * 3.0)


# ---------------------------------------------------------------- exercise 3: mass accuracy

def _mass(relevance, mask):
    pixels = np.clip(relevance.sum(axis=-1), 0, None)
    total = pixels.sum()
    return float((pixels * mask).sum() / total) if total > 0 else 0.0


def test_mass_accuracy_passes(capsys):
    assert check.relevance_mass_accuracy(_mass)
    assert "✔ Exercise 3 (relevance mass accuracy): correct." in capsys.readouterr().out


def test_mass_accuracy_agrees_with_the_metrics_module():
    from lrp_teach import metrics

    def via_metrics(relevance, mask):
        return float(metrics.relevance_mass_accuracy(relevance[None], mask[None])[0])

    assert check.relevance_mass_accuracy(via_metrics)


def test_mass_accuracy_typical_mistakes():
    with pytest.raises(ExerciseFailed, match="not done yet"):
        check.relevance_mass_accuracy(_stub)
    with pytest.raises(ExerciseFailed, match=r"\|R\|"):
        check.relevance_mass_accuracy(
            lambda r, m: float((np.abs(r.sum(-1)) * m).sum() / np.abs(r.sum(-1)).sum()))
    with pytest.raises(ExerciseFailed, match="AFTER summing"):
        check.relevance_mass_accuracy(
            lambda r, m: float((np.clip(r, 0, None) * m[..., None]).sum()
                               / np.clip(r, 0, None).sum()))
    with pytest.raises(ExerciseFailed, match="number of pixels in the mask|\\[0, 1\\]"):
        check.relevance_mass_accuracy(
            lambda r, m: float((np.clip(r.sum(-1), 0, None) * m).sum() / m.sum()))
    with pytest.raises(ExerciseFailed, match="ONE number"):
        check.relevance_mass_accuracy(lambda r, m: np.clip(r.sum(-1), 0, None) * m)


def test_mass_accuracy_zero_positive_case():
    def no_guard(relevance, mask):
        pixels = np.clip(relevance.sum(axis=-1), 0, None)
        with np.errstate(invalid="ignore", divide="ignore"):
            return float((pixels * mask).sum() / pixels.sum())

    with pytest.raises(ExerciseFailed, match="return 0.0|NaN"):
        check.relevance_mass_accuracy(no_guard)


# ---------------------------------------------------------------- exercise 2: object evidence

def _evidence(relevance, masks):
    return (relevance.sum(axis=-1) * masks).sum(axis=(1, 2))


def test_object_evidence_passes(capsys):
    assert check.object_evidence(_evidence)
    assert "✔ Exercise 2 (evidence inside the object): correct." in capsys.readouterr().out


def test_object_evidence_passes_with_the_metrics_version():
    from lrp_teach import metrics

    assert check.object_evidence(metrics.object_evidence)


def test_object_evidence_typical_mistakes():
    with pytest.raises(ExerciseFailed, match="not done yet"):
        check.object_evidence(_stub)
    with pytest.raises(ExerciseFailed, match="whole image"):
        check.object_evidence(lambda r, m: r.sum(axis=(1, 2, 3)))
    with pytest.raises(ExerciseFailed, match="keep the sign"):
        check.object_evidence(lambda r, m: (np.abs(r).sum(-1) * m).sum(axis=(1, 2)))
    with pytest.raises(ExerciseFailed, match="negative relevance too"):
        check.object_evidence(lambda r, m: (np.clip(r.sum(-1), 0, None) * m).sum(axis=(1, 2)))
    with pytest.raises(ExerciseFailed, match="one number per image"):
        check.object_evidence(lambda r, m: (r.sum(-1) * m).sum())


# ---------------------------------------------------------------- numbering = notebook order

@pytest.mark.parametrize("checker, number", [
    (check.conv_zplus_step, 1), (check.object_evidence, 2), (check.relevance_mass_accuracy, 3)])
def test_stub_message_names_the_exercise_number(checker, number):
    with pytest.raises(ExerciseFailed, match=rf"Exercise {number} \(.*not done yet"):
        checker(_stub)
