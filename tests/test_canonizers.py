"""BatchNormalization after a Conv2D/Dense: folded at explain time (lrp_teach.canonizers),
checked against the same network with the BN folded into its weights by hand (numpy)."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import lrp_teach as lt
from lrp_teach import composites
from lrp_teach._tf import keras

L = keras.layers
F64 = "float64"


def bn_model(seed=0, conv_bias=True, center=True, scale=True):
    """Conv-BN-ReLU, pool, Conv-BN-ReLU, Flatten, Dense-BN-ReLU, Dense: random BN statistics."""
    rng = np.random.default_rng(seed)
    bn = dict(dtype=F64, center=center, scale=scale, epsilon=1e-3)
    model = keras.Sequential([
        keras.Input((8, 8, 2), dtype=F64),
        L.Conv2D(3, 3, padding="same", use_bias=conv_bias, dtype=F64, name="conv1"),
        L.BatchNormalization(name="bn1", **bn), L.ReLU(dtype=F64, name="relu1"),
        L.MaxPooling2D(2, dtype=F64, name="pool1"),
        L.Conv2D(4, 3, padding="same", dtype=F64, name="conv2"),
        L.BatchNormalization(name="bn2", **bn), L.Activation("relu", dtype=F64, name="relu2"),
        L.Flatten(dtype=F64, name="flatten"),
        L.Dense(6, dtype=F64, name="fc1"), L.BatchNormalization(name="bn3", **bn),
        L.ReLU(dtype=F64, name="relu3"),
        L.Dense(3, dtype=F64, name="logits"),
    ])
    for weight in model.weights:
        name = weight.path.split("/")[-1]
        if name == "moving_variance":
            weight.assign(rng.uniform(0.2, 2.0, size=weight.shape))
        elif name == "gamma":
            weight.assign(rng.uniform(0.5, 1.5, size=weight.shape) * rng.choice([-1, 1], weight.shape))
        else:
            weight.assign(rng.normal(0, 0.6, size=weight.shape))
    return model


def folded_by_hand(model):
    """The same network without BN layers: W' = W·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β."""
    layers, weights = [keras.Input((8, 8, 2), dtype=F64)], []
    pending = None
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            kernel, bias = pending
            scale = 1 / np.sqrt(np.asarray(layer.moving_variance) + layer.epsilon)
            if layer.scale:
                scale = scale * np.asarray(layer.gamma)
            bias = (bias - np.asarray(layer.moving_mean)) * scale
            if layer.center:
                bias = bias + np.asarray(layer.beta)
            weights[-1] = (kernel * scale, bias)
            continue
        config = layer.get_config()
        if isinstance(layer, (L.Conv2D, L.Dense)):
            config["use_bias"] = True
            kernel = np.asarray(layer.kernel)
            bias = np.asarray(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1])
            pending = (kernel, bias)
            weights.append(pending)
        layers.append(type(layer).from_config(config))
    folded = keras.Sequential(layers)
    for layer, (kernel, bias) in zip([l for l in folded.layers if hasattr(l, "kernel")], weights):
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
    return folded


def _images(seed, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, size=(3, 8, 8, 2))


def test_the_hand_folded_model_computes_the_same_logits():
    """(so that comparing relevances with it means something)"""
    model = bn_model()
    x = _images(1)
    np.testing.assert_allclose(np.asarray(folded_by_hand(model)(x)), np.asarray(model(x)),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("images", ["mixed", pytest.param("nonnegative", marks=pytest.mark.slow)])
def test_batch_norm_is_folded_for_every_composite(composite, images):
    model = bn_model(seed=2)
    folded = folded_by_hand(model)
    x = _images(3) if images == "mixed" else _images(3, low=0.0)
    weights_before = [np.array(w) for w in model.get_weights()]
    got, per_layer = lt.explain(model, x, [0, 2, 1], composite, return_layers=True)
    expected, expected_layers = lt.explain(folded, x, [0, 2, 1], composite, return_layers=True)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    relevance = dict(per_layer)
    for name, r in expected_layers:
        np.testing.assert_allclose(relevance[name], r, rtol=1e-9, atol=1e-12, err_msg=name)
    # a folded BN has the relevance of the layer it is folded into; the model is unchanged
    np.testing.assert_array_equal(relevance["bn2"], relevance["conv2"])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights_before))
    assert [layer.name for layer in model.layers].count("bn1") == 1


@pytest.mark.parametrize("options", [dict(conv_bias=False), dict(center=False),
                                     dict(scale=False)], ids=repr)
def test_batch_norm_without_bias_center_or_scale(options):
    model = bn_model(seed=4, **options)
    x = _images(5)
    composite = composites.EpsilonGammaBox(-1, 1)
    np.testing.assert_allclose(lt.explain(model, x, 1, composite),
                               lt.explain(folded_by_hand(model), x, 1, composite),
                               rtol=1e-9, atol=1e-12)


def test_changed_batch_norm_statistics_are_seen_by_the_cached_pass():
    model = bn_model(seed=6)
    x = _images(7)
    composite = composites.EpsilonPlusFlat()
    before = lt.explain(model, x, 0, composite)
    bn = model.get_layer("bn2")
    bn.moving_mean.assign(np.asarray(bn.moving_mean) + 0.5)
    after = lt.explain(model, x, 0, composite)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, lt.explain(folded_by_hand(model), x, 0, composite),
                               rtol=1e-9, atol=1e-12)


def test_rule_table_and_baselines_see_the_fold():
    model = bn_model(seed=8)
    table = dict((name, how) for name, _, how in
                 lt.propagate.rule_table(model, composites.EpsilonPlusFlat()))
    assert table["bn1"] == "folded into 'conv1'" and table["conv1"] == "Flat()"
    x = _images(9)
    np.testing.assert_allclose(lt.gradient(model, x, 1), lt.gradient(folded_by_hand(model), x, 1),
                               rtol=1e-9, atol=1e-12)


def test_the_readme_example_runs():
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Your own Keras model, BatchNormalization included", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 6
    namespace = {}
    exec(code, namespace)
    relevance = namespace["relevance"]
    assert relevance.shape == (2, 32, 32, 3) and np.all(np.isfinite(relevance))
    classes = [type(layer).__name__ for layer in namespace["model"].layers]
    assert {"BatchNormalization", "Add", "ReLU"} <= set(classes)
