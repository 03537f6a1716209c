"""Checkers of notebook 05: right answers pass, stubs say "not done yet", typical mistakes are named."""

from __future__ import annotations

import numpy as np
import pytest

from exercise_helpers import not_done as stub
from lrp_teach.exercises import ExerciseFailed
from lrp_teach import metrics
from lrp_teach.numeric import softmax
from lrp_teach.exercises import nb05 as check


# ---- exercise 1: negative share ----------------------------------------------------------------

def share_right(relevance):
    maps = relevance.sum(axis=-1).reshape(len(relevance), -1)
    total = np.abs(maps).sum(axis=1)
    return np.where(total > 0, np.abs(np.minimum(maps, 0)).sum(axis=1) / np.where(
        total > 0, total, 1), 0.0)


def test_negative_share_passes(capsys):
    assert check.negative_share(share_right)
    assert "✔ Exercise 1 (share of negative relevance): correct." in capsys.readouterr().out


def test_negative_share_reference_on_a_hand_computed_case():
    relevance = np.zeros((3, 1, 2, 3))
    relevance[0, 0, 0] = [1.0, 1.0, 1.0]        # +3
    relevance[0, 0, 1] = [-1.0, 0.0, 0.0]       # -1  -> share 1/4
    relevance[1, 0, 0] = [2.0, -3.0, 0.0]       # channels sum to -1 -> share 1
    assert check.reference_negative_share(relevance).tolist() == [0.25, 1.0, 0.0]  # all-zero: 0
    assert metrics.negative_share is check.reference_negative_share   # old name still works


def test_negative_share_rejects_one_for_an_all_zero_map():
    def one_when_empty(relevance):
        share = share_right(relevance)
        return np.where(np.abs(relevance).sum(axis=(1, 2, 3)) > 0, share, 1.0)

    with pytest.raises(ExerciseFailed, match="all-zero heatmap.*share is 0"):
        check.negative_share(one_when_empty)


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


# ---- exercise 2: initial relevance -------------------------------------------------------------

def initial_right(logits, target):
    start = np.zeros_like(logits)
    rows = np.arange(len(logits))
    start[rows, target] = logits[rows, target]
    return start


def test_initial_relevance_passes(capsys):
    assert check.initial_relevance(initial_right)
    assert "✔ Exercise 2 (where LRP starts): correct." in capsys.readouterr().out


def test_initial_relevance_reference_on_a_hand_computed_case():
    logits = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    assert check.reference_initial_relevance(logits, [1, 1]).tolist() == [[0.0, -2.0, 0.0],
                                                                          [0.0, 4.0, 0.0]]
    assert metrics.initial_relevance is check.reference_initial_relevance


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


# ---- exercise 3: the z^B step with VGG16's bounds -----------------------------------------------

def zbox_right(x, kernel, relevance, low, high):
    import tensorflow as tf

    w = tf.constant(kernel)
    w_plus, w_minus = tf.maximum(w, 0.0), tf.minimum(w, 0.0)
    low_image = tf.broadcast_to(tf.constant(low, tf.float32), x.shape)
    high_image = tf.broadcast_to(tf.constant(high, tf.float32), x.shape)

    def conv(v, k):
        return tf.nn.conv2d(v, k, 1, "SAME")

    def back(s, k):
        return tf.nn.conv2d_transpose(s, k, x.shape, 1, "SAME")

    z = conv(x, w) - conv(low_image, w_plus) - conv(high_image, w_minus)
    z = z + check.EPSILON * tf.where(z >= 0, 1.0, -1.0)
    s = relevance / z
    return (x * back(s, w) - low_image * back(s, w_plus) - high_image * back(s, w_minus)).numpy()


def test_zbox_passes(capsys):
    assert check.zbox_step(zbox_right)
    assert "✔ Exercise 3 (z^B step with VGG16's bounds): correct." in capsys.readouterr().out


def test_zbox_reference_equals_the_engine():
    """The checker's reference against lrp_teach.explain's ZBox rule on a one-conv model."""
    import keras
    import lrp_teach as lt
    from lrp_teach import composites, images, rules

    rng = np.random.default_rng(0)
    inputs = keras.Input((6, 6, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(conv(inputs))))
    kernel = (0.05 * rng.normal(size=(3, 3, 3, 4))).astype("float32")
    conv.set_weights([kernel, rng.normal(size=4).astype("float32")])    # a bias: it must cancel
    x = rng.uniform(images.VGG16_LOW, images.VGG16_HIGH, (2, 6, 6, 3)).astype("float32")
    composite = composites.Composite(default=rules.Z(),
                                     first=rules.ZBox(images.VGG16_LOW, images.VGG16_HIGH))
    relevance, layers = lt.explain(model, x, 0, composite, return_layers=True)
    expected = check.reference_zbox_step(x, kernel, dict(layers)[conv.name], images.VGG16_LOW,
                                         images.VGG16_HIGH)
    assert np.allclose(relevance, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def _zbox_variant(**switches):
    return lambda x, k, r, low, high: check._zbox(x, k, r, low, high, **switches)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("wrong, message", [
    (stub, "not done yet"),
    (_zbox_variant(bounds="none"), "lecture's rule"),
    (_zbox_variant(bounds="swapped"), "swapped"),
    (_zbox_variant(split=False), "own backward pass"),
    (_zbox_variant(epsilon=0.0), "NaN or inf"),
    (lambda x, k, r, low, high: check._zbox(x, k, r, low[0], high[0]), "per colour channel"),
    (lambda x, k, r, low, high: 1.01 * zbox_right(x, k, r, low, high), "does not match"),
])
def test_zbox_mistakes(wrong, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.zbox_step(wrong)


# ---- numbering = notebook order ---------------------------------------------------------------

@pytest.mark.parametrize("checker, number", [
    (check.negative_share, 1), (check.initial_relevance, 2), (check.zbox_step, 3)])
def test_stub_message_names_the_exercise_number(checker, number):
    with pytest.raises(ExerciseFailed, match=rf"Exercise {number} \(.*not done yet"):
        checker(stub)
