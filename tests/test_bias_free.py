"""Rules with the bias left out of the denominator (lrp_teach.bias_free)."""

from __future__ import annotations

import numpy as np
import pytest

import lrp_teach as lt
from lrp_teach import composites, rules
from lrp_teach._tf import keras
from lrp_teach.bias_free import WithoutBias, without_biases
from lrp_teach.propagate import lrp_step
from lrp_teach.reference import reference_layer


def dense(rng, n_in=9, n_out=4, bias=True):
    layer = keras.layers.Dense(n_out, dtype="float64")
    layer.build((None, n_in))
    layer.kernel.assign(rng.normal(0, 0.5, size=(n_in, n_out)))
    layer.bias.assign(rng.normal(0, 0.5, size=n_out) if bias else np.zeros(n_out))
    return layer


def conv(rng):
    layer = keras.layers.Conv2D(3, 3, padding="same", dtype="float64")
    layer.build((None, 5, 4, 2))
    layer.kernel.assign(rng.normal(0, 0.5, size=layer.kernel.shape))
    layer.bias.assign(rng.normal(0, 0.5, size=3))
    return layer


INNER = [rules.Z(), rules.Epsilon(0.1), rules.ZPlus(), rules.AlphaBeta(2, 1), rules.Gamma(0.25),
         rules.Flat(), rules.ZBox(-1.0, 1.5)]


@pytest.mark.parametrize("rule", INNER, ids=repr)
@pytest.mark.parametrize("make", [dense, conv], ids=["dense", "conv"])
def test_without_bias_matches_its_reference(rule, make):
    rng = np.random.default_rng(7)
    layer = make(rng)
    shape = (9,) if isinstance(layer, keras.layers.Dense) else (5, 4, 2)
    a = rng.uniform(-1.0, 1.5, size=(3, *shape))
    R = rng.normal(size=(3, *layer.compute_output_shape((None, *shape))[1:]))
    got = np.asarray(lrp_step(layer, a, R, WithoutBias(rule)))
    np.testing.assert_allclose(got, reference_layer(WithoutBias(rule), layer, a, R),
                               rtol=1e-9, atol=1e-12)


def test_without_bias_is_the_rule_on_zero_bias_by_hand():
    """One input, one output: a = 1, w = 2, b = 1, R = 1. LRP-0 with the bias: R_in = 2/3;
    without it: 2/2 = 1 (everything reaches the input). γ = 0.25 without bias: (2+0.5)/(2+0.5) = 1,
    and where the real z = 2·1 + b < 0 (b = -3) the negative half applies: (2+0)/(2+0) = 1."""
    layer = keras.layers.Dense(1, dtype="float64")
    layer.build((None, 1))
    layer.kernel.assign([[2.0]])
    a, R = np.array([[1.0]]), np.array([[1.0]])
    layer.bias.assign([1.0])
    assert np.asarray(lrp_step(layer, a, R, rules.Z()))[0, 0] == pytest.approx(2 / 3)
    assert np.asarray(lrp_step(layer, a, R, WithoutBias(rules.Z())))[0, 0] == pytest.approx(1.0)
    # the with-bias γ for comparison: (2 + 0.5) / (2 + 0.5 + 1 + 0.25) = 2.5 / 3.75
    assert np.asarray(lrp_step(layer, a, R, rules.Gamma(0.25)))[0, 0] == pytest.approx(2.5 / 3.75)
    assert np.asarray(lrp_step(layer, a, R, WithoutBias(rules.Gamma(0.25))))[0, 0] == \
        pytest.approx(1.0)
    layer.bias.assign([-3.0])     # real z = -1 < 0: only the "negative" half passes relevance
    assert np.asarray(lrp_step(layer, a, R, WithoutBias(rules.Gamma(0.25))))[0, 0] == \
        pytest.approx(1.0)


@pytest.mark.parametrize("rule", [rules.Z(), rules.ZPlus(), rules.AlphaBeta(2, 1)], ids=repr)
def test_without_bias_conserves_where_the_rule_with_bias_does_not(rule):
    rng = np.random.default_rng(11)
    layer = dense(rng, n_in=40)
    a = rng.uniform(-1.0, 1.0, size=(4, 40))
    R = rng.normal(size=(4, 4))
    kept = np.asarray(lrp_step(layer, a, R, WithoutBias(rule))).sum(1)
    lost = np.asarray(lrp_step(layer, a, R, rule)).sum(1)
    np.testing.assert_allclose(kept, R.sum(1), rtol=1e-6)
    assert not np.allclose(lost, R.sum(1), rtol=1e-3)


def test_without_biases_composite_on_a_model_sums_to_the_logit():
    rng = np.random.default_rng(5)
    model = keras.Sequential([keras.Input((6, 6, 2)),
                              keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(),
                              keras.layers.Dense(5, activation="relu"),
                              keras.layers.Dense(3)])
    model.set_weights([rng.normal(0, 0.5, size=w.shape) for w in model.get_weights()])
    x = rng.uniform(-1, 1, size=(2, 6, 6, 2)).astype("float32")
    logits = np.asarray(model(x))
    target = np.argmax(logits, axis=1)
    composite = composites.EpsilonGammaBox(-1.0, 1.0)
    bare = without_biases(composite)
    assert repr(bare).startswith("without_biases(EpsilonGammaBox(")
    R_bare = lt.explain(model, x, target=target, composite=bare)
    R_with = lt.explain(model, x, target=target, composite=composite)
    explained = logits[np.arange(2), target]
    np.testing.assert_allclose(R_bare.reshape(2, -1).sum(1), explained, rtol=1e-4)
    assert not np.allclose(R_with.reshape(2, -1).sum(1), explained, rtol=1e-2)
    assert all(isinstance(r, WithoutBias) for r in bare.assign(model.layers).values())


def test_without_bias_needs_a_rule_and_does_not_nest():
    with pytest.raises(TypeError, match="needs a rule"):
        WithoutBias("epsilon")
    twice = WithoutBias(WithoutBias(rules.ZPlus()))
    assert twice == WithoutBias(rules.ZPlus()) and repr(twice) == "WithoutBias(ZPlus())"
