"""Gradient, gradient × input and Grad-CAM against direct TensorFlow computations."""

from __future__ import annotations

import numpy as np
import pytest

import lrp_teach as lt
from lrp_teach._tf import keras, tf

L = keras.layers


def small_model(seed=0, final="softmax"):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        L.Conv2D(3, 3, padding="same", activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(4, 3, padding="same", activation="relu", name="conv2"),
        L.Flatten(),
        L.Dense(3, activation=final, name="logits"),
    ])


def _logit_model(model):
    """Same weights, linear last layer (the logits)."""
    clone = small_model(final=None)
    clone.set_weights(model.get_weights())
    return clone


X = np.random.default_rng(1).uniform(-1, 1, size=(3, 8, 8, 2)).astype(np.float32)


def test_gradient_is_the_gradient_of_the_logit_not_the_softmax():
    model = small_model()
    logits_model = _logit_model(model)
    x = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = logits_model(x)
        chosen = tf.reduce_sum(logits * tf.one_hot([2, 0, 1], 3))
    expected = tape.gradient(chosen, x).numpy()
    np.testing.assert_allclose(lt.gradient(model, X, [2, 0, 1]), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(lt.gradient_x_input(model, X, [2, 0, 1]), X * expected,
                               rtol=1e-5, atol=1e-7)
    with tf.GradientTape() as tape:
        tape.watch(x)
        probabilities = tf.reduce_sum(model(x) * tf.one_hot([2, 0, 1], 3))
    assert not np.allclose(tape.gradient(probabilities, x).numpy(), expected, atol=1e-4)


def test_default_target_is_the_top_logit():
    model = small_model()
    top = np.asarray(model(X)).argmax(1)
    np.testing.assert_array_equal(lt.gradient(model, X), lt.gradient(model, X, top))


def test_grad_cam_matches_a_direct_computation():
    model = small_model()
    logits_model = _logit_model(model)
    features = keras.Model(logits_model.inputs, logits_model.get_layer("conv2").output)
    head = keras.Sequential([keras.Input((4, 4, 4)), logits_model.layers[-2],
                             logits_model.layers[-1]])
    x = tf.constant(X)
    A = features(x)
    with tf.GradientTape() as tape:
        tape.watch(A)
        chosen = tf.reduce_sum(head(A) * tf.one_hot([1, 1, 1], 3))
    weights = tf.reduce_mean(tape.gradient(chosen, A), axis=[1, 2], keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * A, axis=-1))
    expected = tf.image.resize(cam[..., None], (8, 8))[..., 0].numpy()
    got = lt.grad_cam(model, X, 1)
    assert got.shape == (3, 8, 8) and got.min() >= 0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # naming the layer explicitly gives the same map; another layer gives another one
    np.testing.assert_allclose(lt.grad_cam(model, X, 1, layer="conv2"), got, rtol=1e-6)
    assert lt.grad_cam(model, X, 1, layer=model.get_layer("conv1")).shape == (3, 8, 8)


def test_grad_cam_errors():
    model = small_model()
    with pytest.raises(ValueError, match=r"grad_cam: no layer named 'nope'; the model's layers "
                                         r"are \['conv1', 'pool1'"):
        lt.grad_cam(model, X, layer="nope")
    with pytest.raises(ValueError, match=r"grad_cam: layer 'logits' \(Dense\) has no spatial"):
        lt.grad_cam(model, X, layer="logits")
    dense = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)])
    with pytest.raises(ValueError, match=r"grad_cam needs images of shape \(N, H, W, C\)"):
        lt.grad_cam(dense, np.zeros((1, 4)))
