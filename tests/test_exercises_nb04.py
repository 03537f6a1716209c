"""Checkers of notebook 04: pass on the right answer, fail with a specific message otherwise."""

import numpy as np
import pytest

from exercise_helpers import not_done as _stub
from lrp_teach.exercises import ExerciseFailed
from lrp_teach.exercises import nb04 as check
from lrp_teach._tf import tf

EPS = 1e-6


# ---------------------------------------------------------------- exercise 1: Conv2D γ step

def _conv_gamma(a, kernel, bias, relevance, gamma, weights="gamma", bias_term="gamma",
                backward="same", transpose=True, times_input=True, epsilon=EPS,
                signed_epsilon=True):
    w = {"gamma": kernel + gamma * tf.maximum(kernel, 0.0), "plain": tf.constant(kernel),
         "plus": tf.maximum(kernel, 0.0)}[weights]
    b = {"gamma": bias + gamma * tf.maximum(bias, 0.0), "plain": tf.constant(bias),
         "none": 0.0, "plus": tf.maximum(bias, 0.0)}[bias_term]
    z = tf.nn.conv2d(a, w, strides=1, padding="SAME") + b
    if epsilon:
        z = z + epsilon * (tf.where(z >= 0, 1.0, -1.0) if signed_epsilon else 1.0)
    s = relevance / z
    w_back = w if backward == "same" else tf.constant(kernel)
    if transpose:
        c = tf.nn.conv2d_transpose(s, w_back, output_shape=a.shape, strides=1, padding="SAME")
    else:
        c = tf.nn.conv2d(s, tf.transpose(w_back, (0, 1, 3, 2)), strides=1, padding="SAME")
    return (a * c).numpy() if times_input else c.numpy()


def test_conv_gamma_passes_on_the_right_answer(capsys):
    assert check.conv_gamma_step(_conv_gamma)
    assert "✔ Exercise 1 (Conv2D γ step): correct." in capsys.readouterr().out


def test_conv_gamma_passes_with_the_gradient_trick():
    def gradient_version(a, kernel, bias, relevance, gamma):
        a = tf.constant(a)
        w = kernel + gamma * tf.maximum(kernel, 0.0)
        with tf.GradientTape() as tape:
            tape.watch(a)
            z = tf.nn.conv2d(a, w, 1, "SAME") + bias + gamma * tf.maximum(bias, 0.0)
            z = z + EPS * tf.where(z >= 0, 1.0, -1.0)
            s = tf.stop_gradient(relevance / z)
            total = tf.reduce_sum(z * s)
        return (a * tape.gradient(total, a)).numpy()

    assert check.conv_gamma_step(gradient_version)


def test_conv_gamma_reference_equals_the_engine():
    """The checker's reference against lrp_teach.explain's Gamma rule on a one-conv model
    (an independent implementation: the engine's generic gradient step)."""
    import keras
    import lrp_teach as lt
    from lrp_teach import composites, rules

    rng = np.random.default_rng(0)
    inputs = keras.Input((6, 6, 2))
    conv = keras.layers.Conv2D(3, 3, padding="same", activation="relu")
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(conv(inputs))))
    kernel = rng.normal(scale=0.3, size=(3, 3, 2, 3)).astype("float32")
    kernel[1, 1] = np.abs(kernel[1, 1]) + 0.5                # z > 0 everywhere: the textbook case
    conv.set_weights([kernel, np.array([0.2, -0.1, 0.0], "float32")])
    x = rng.random((2, 6, 6, 2)).astype("float32") + 0.05
    composite = composites.Composite(by_class={"Conv2D": rules.Gamma(0.5)}, default=rules.Z())
    relevance, layers = lt.explain(model, x, 0, composite, return_layers=True)
    above = dict(layers)[conv.name]
    expected = check.reference_conv_gamma_step(x, kernel, conv.get_weights()[1], above, 0.5)
    assert np.allclose(relevance, expected, rtol=1e-4, atol=1e-6)
    assert not np.allclose(relevance, check.reference_conv_gamma_step(
        x, kernel, conv.get_weights()[1], above, 0.0), rtol=1e-3, atol=1e-4)  # γ matters here


@pytest.mark.parametrize("switches, message", [
    (dict(weights="plus", bias_term="plus"), "z⁺ rule"),
    (dict(weights="plain", bias_term="plain"), "LRP-0"),
    (dict(bias_term="plain"), "slip is in step 1.*b \\+ γb⁺, not b"),
    (dict(bias_term="none"), "slip is in step 1.*includes"),
    (dict(backward="plain"), "SAME modified weights"),
    (dict(times_input=False), "Step 4"),
    (dict(transpose=False), "conv2d_transpose"),
    (dict(epsilon=0.0), "NaN or inf.*ε"),
    (dict(signed_epsilon=False), "SIGN of z"),
])
def test_conv_gamma_names_typical_mistakes(switches, message):
    with pytest.raises(ExerciseFailed, match=message):
        check.conv_gamma_step(lambda *args: _conv_gamma(*args, **switches))


def test_conv_gamma_stub_and_shape():
    with pytest.raises(ExerciseFailed, match="not done yet"):
        check.conv_gamma_step(_stub)
    with pytest.raises(ExerciseFailed, match="shape"):
        check.conv_gamma_step(lambda a, k, b, r, g: r)
    with pytest.raises(ExerciseFailed, match="does not match|differ"):
        check.conv_gamma_step(lambda a, k, b, r, g: a * 3.0)


# ---------------------------------------------------------------- exercise 3: mass accuracy

def _mass(relevance, mask):
    pixels = np.clip(relevance.sum(axis=-1), 0, None)
    total = pixels.sum()
    return float((pixels * mask).sum() / total) if total > 0 else 0.0


def test_mass_accuracy_passes(capsys):
    assert check.relevance_mass_accuracy(_mass)
    assert "✔ Exercise 3 (relevance mass accuracy): correct." in capsys.readouterr().out


def test_mass_accuracy_rejects_a_slightly_wrong_answer():
    # the checker's reference (metrics.relevance_mass_accuracy) against hand-computed values is
    # tested in test_metrics.py; here: an answer off by 1 % must not pass
    with pytest.raises(ExerciseFailed):
        check.relevance_mass_accuracy(lambda r, m: 1.01 * _mass(r, m))


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


def test_object_evidence_reference_on_a_hand_computed_case():
    relevance = np.zeros((2, 2, 2, 3))
    relevance[0, 0, 0] = [1.0, 0.5, 1.0]        # inside the mask: +2.5
    relevance[0, 1, 1] = [9.0, 0.0, 0.0]        # outside: ignored
    relevance[1, 0, 0] = [-1.0, -1.0, 0.0]      # inside: -2
    masks = np.zeros((2, 2, 2), dtype=bool)
    masks[:, 0, 0] = True
    assert check.reference_object_evidence(relevance, masks).tolist() == [2.5, -2.0]
    from lrp_teach import metrics               # the old public name still works
    assert metrics.object_evidence is check.reference_object_evidence


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
    (check.conv_gamma_step, 1), (check.object_evidence, 2), (check.relevance_mass_accuracy, 3)])
def test_stub_message_names_the_exercise_number(checker, number):
    with pytest.raises(ExerciseFailed, match=rf"Exercise {number} \(.*not done yet"):
        checker(_stub)
