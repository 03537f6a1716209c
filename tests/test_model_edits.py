"""fold_batchnorm and contrastive_model (lrp_teach.model_edits) on small functional models."""

from __future__ import annotations

import numpy as np
import pytest

from lrp_teach._tf import keras
from lrp_teach.model_edits import batchnorm_scale_shift, contrastive_model, fold_batchnorm


def residual_model(seed=0):
    """conv → BN → ReLU6, depthwise → BN → ReLU6, 1×1 conv → BN, Add with the block's input,
    global average pooling, dense: the pattern of an inverted residual block."""
    rng = np.random.default_rng(seed)
    x = keras.Input((8, 8, 4))
    h = keras.layers.Conv2D(8, 1, use_bias=False)(x)
    h = keras.layers.BatchNormalization(epsilon=1e-3)(h)
    h = keras.layers.ReLU(max_value=6.0)(h)
    h = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(h)
    h = keras.layers.BatchNormalization(epsilon=1e-3)(h)
    h = keras.layers.ReLU(max_value=6.0)(h)
    h = keras.layers.Conv2D(4, 1, use_bias=False)(h)
    h = keras.layers.BatchNormalization(epsilon=1e-3)(h)
    h = keras.layers.Add()([h, x])
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(5)(h)
    model = keras.Model(x, out)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.normal(0, 1, c), rng.normal(0, 0.5, c), rng.normal(0, 0.5, c),
                               rng.uniform(0.2, 2.0, c)])
        elif layer.weights:
            layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    return model


def test_batchnorm_scale_shift_by_hand():
    bn = keras.layers.BatchNormalization(epsilon=0.0)
    bn.build((None, 2))
    bn.set_weights([np.array([2.0, -1.0]), np.array([1.0, 0.0]), np.array([3.0, 1.0]),
                    np.array([4.0, 0.25])])
    scale, shift = batchnorm_scale_shift(bn)
    # y = γ (x − μ)/σ + β: channel 0: 2(x − 3)/2 + 1 = x − 2; channel 1: −(x − 1)/0.5 = −2x + 2
    np.testing.assert_allclose(scale, [1.0, -2.0])
    np.testing.assert_allclose(shift, [-2.0, 2.0])
    x = np.array([[5.0, 7.0]])
    np.testing.assert_allclose(np.asarray(bn(x, training=False)), x * scale + shift, rtol=1e-6)


def test_fold_batchnorm_computes_the_same_function_without_batchnorm():
    model = residual_model()
    folded = fold_batchnorm(model)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    assert sum(layer.name.endswith("_folded") for layer in folded.layers) == 3
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(folded(x)), np.asarray(model(x)), rtol=1e-4, atol=1e-4)
    # the model itself is unchanged (still has its BN layers and its weights)
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 3


def test_fold_batchnorm_refuses_a_batchnorm_it_cannot_fold():
    x = keras.Input((4,))
    h = keras.layers.Dense(3, activation="relu")(x)
    h = keras.layers.BatchNormalization(name="after_relu")(h)
    with pytest.raises(ValueError, match="'after_relu'.*cannot be folded"):
        fold_batchnorm(keras.Model(x, keras.layers.Dense(2)(h)))


def test_contrastive_model_outputs_the_difference_of_two_logits():
    model = residual_model(3)
    contrast = contrastive_model(model, 4, 1)
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 4)).astype("float32")
    logits = np.asarray(model(x))
    assert contrast.output_shape == (None, 1)
    np.testing.assert_allclose(np.asarray(contrast(x))[:, 0], logits[:, 4] - logits[:, 1],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not a class"):
        contrastive_model(model, 5, 0)


def test_replace_logits_checks_shapes_and_computes_the_new_outputs():
    from lrp_teach.model_edits import replace_logits

    model = residual_model(4)
    kernel = np.random.default_rng(0).normal(size=(4, 2))
    head = replace_logits(model, kernel, [0.5, -1.0], name="two")
    x = np.random.default_rng(5).normal(size=(2, 8, 8, 4)).astype("float32")
    features = keras.Model(model.inputs[0], model.layers[-1].input)(x)
    np.testing.assert_allclose(np.asarray(head(x)), np.asarray(features) @ kernel + [0.5, -1.0],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"kernel must have shape \(4, K\)"):
        replace_logits(model, np.ones((3, 2)), [0.0, 0.0])


def test_cascade_in_place_matches_cascading_randomization_and_restores():
    from lrp_teach import metrics
    from lrp_teach.model_edits import cascade_in_place

    model = residual_model(6)
    trained = [np.array(w) for w in model.get_weights()]
    copies = {name: [np.array(w) for w in copy.get_weights()]
              for name, copy in metrics.cascading_randomization(model, seed=3)}
    names = [layer.name for layer in model.layers]
    checkpoints = [n for n in names[::-1] if n.startswith("dense")][:1] + \
                  [n for n in names if n.startswith("depthwise")][:1]
    seen = []
    for name in cascade_in_place(model, checkpoints, seed=3):
        seen.append(name)
        for got, expected in zip(model.get_weights(), copies[name]):
            np.testing.assert_array_equal(got, expected)
    assert seen == checkpoints
    for got, expected in zip(model.get_weights(), trained):   # restored
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="not layers with weights"):
        next(cascade_in_place(model, ["add"]))
