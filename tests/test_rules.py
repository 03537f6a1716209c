"""Every LRP rule against the slow numpy reference registered beside it (``@replicates``).

The reference treats a layer as a matrix W (inputs j x outputs k): a Dense layer is its kernel;
a Conv2D layer is unrolled into such a matrix with explicit loops over output positions and
kernel taps (plus a mask of which input feeds which output, needed by the flat rule),
:mod:`lrp_teach.reference`. Each rule's reference (in :mod:`lrp_teach.rules`, next to the rule)
is the sum over j of the contributions ``z_jk`` in plain numpy; it is compared with the engine's
generic step (:func:`lrp_teach.propagate.lrp_step`) and, in test_engine.py, with the compiled
engine on whole models.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from lrp_teach import rules
from lrp_teach._tf import keras
from lrp_teach.propagate import lrp_step
from lrp_teach.reference import reference_layer

# --------------------------------------------------------------------------------------------
# Small random layers
# --------------------------------------------------------------------------------------------

ALL_RULES = [
    rules.Z(), rules.Epsilon(), rules.Epsilon(0.3), rules.Epsilon(0.25, relative=True),
    rules.ZPlus(), rules.Gamma(), rules.Gamma(1.5), rules.AlphaBeta(2, 1), rules.AlphaBeta(1, 0),
    rules.WSquare(), rules.Flat(), rules.ZBox(-1.0, 1.5),
]
RULE_IDS = [repr(r) for r in ALL_RULES]


def _random_bias(layer, rng):
    if layer.use_bias:
        layer.bias.assign(rng.normal(0, 0.3, size=layer.bias.shape))


def make_dense(rng, n_in=7, n_out=5, dtype="float64"):
    layer = keras.layers.Dense(n_out, dtype=dtype)
    layer.build((None, n_in))
    layer.kernel.assign(rng.normal(0, 0.5, size=(n_in, n_out)))
    _random_bias(layer, rng)
    return layer, (n_in,)


def make_conv(rng, kernel=3, strides=1, padding="same", size=(6, 5), channels=2, filters=3,
              dtype="float64"):
    layer = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, dtype=dtype)
    layer.build((None, *size, channels))
    layer.kernel.assign(rng.normal(0, 0.5, size=layer.kernel.shape))
    _random_bias(layer, rng)
    return layer, (*size, channels)


def _inputs(rng, shape, rule, n=3):
    a = rng.uniform(-1.0, 1.5, size=(n, *shape))
    return a


LAYERS = {
    "dense": lambda rng: make_dense(rng),
    "conv3x3_same": lambda rng: make_conv(rng),
    "conv3x3_valid_stride2": lambda rng: make_conv(rng, strides=2, padding="valid", size=(7, 6)),
    "conv2x4_same_stride2": lambda rng: make_conv(rng, kernel=(2, 4), strides=(2, 1)),
    "conv1x1": lambda rng: make_conv(rng, kernel=1, size=(3, 3)),
}


@pytest.mark.parametrize("layer_kind", list(LAYERS))
@pytest.mark.parametrize("rule", ALL_RULES, ids=RULE_IDS)
def test_generic_step_matches_the_formula(rule, layer_kind):
    # crc32, not hash(): str hashes are salted per process (PYTHONHASHSEED), crc32 is stable
    rng = np.random.default_rng(zlib.crc32(f"{rule!r}/{layer_kind}".encode()))
    layer, in_shape = LAYERS[layer_kind](rng)
    a = _inputs(rng, in_shape, rule)
    out_shape = layer.compute_output_shape((None, *in_shape))[1:]
    R = rng.normal(size=(a.shape[0], *out_shape))
    expected = reference_layer(rule, layer, a, R)
    got = np.asarray(lrp_step(layer, a, R, rule))
    assert got.shape == a.shape
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("rule", [rules.Epsilon(), rules.ZPlus(), rules.Gamma(), rules.Flat()],
                         ids=repr)
def test_generic_step_in_float32_is_close_to_the_float64_formula(rule):
    rng = np.random.default_rng(3)
    layer, in_shape = make_conv(rng, dtype="float32")
    a = rng.uniform(0, 1, size=(2, *in_shape)).astype(np.float32)
    R = rng.normal(size=(2, *layer.compute_output_shape((None, *in_shape))[1:]))
    got = np.asarray(lrp_step(layer, a, R.astype(np.float32), rule))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference_layer(rule, layer, a, R), rtol=1e-4, atol=1e-5)


def test_reference_would_catch_a_wrong_rule():
    """The comparison can fail: z⁺ is not LRP-0, γ = 0.25 is not γ = 1."""
    rng = np.random.default_rng(0)
    layer, in_shape = make_conv(rng)
    a = _inputs(rng, in_shape, None)
    R = rng.normal(size=(3, *layer.compute_output_shape((None, *in_shape))[1:]))
    zplus = np.asarray(lrp_step(layer, a, R, rules.ZPlus()))
    assert not np.allclose(zplus, reference_layer(rules.Z(), layer, a, R), atol=1e-3)
    gamma = np.asarray(lrp_step(layer, a, R, rules.Gamma(0.25)))
    assert not np.allclose(gamma, reference_layer(rules.Gamma(1.0), layer, a, R), atol=1e-3)


def test_zbox_with_per_channel_bounds():
    rng = np.random.default_rng(1)
    layer, in_shape = make_conv(rng, channels=3)
    low, high = np.array([-1.0, -0.5, -2.0]), np.array([1.0, 2.0, 0.5])
    a = rng.uniform(low, high, size=(2, *in_shape))
    R = rng.normal(size=(2, *layer.compute_output_shape((None, *in_shape))[1:]))
    rule = rules.ZBox(low, high)
    np.testing.assert_allclose(np.asarray(lrp_step(layer, a, R, rule)),
                               reference_layer(rule, layer, a, R), rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------------------------
# Conventions spelled out
# --------------------------------------------------------------------------------------------

def test_stabilizer_is_sign_aware_and_sign_of_zero_is_plus_one():
    from lrp_teach._tf import tf

    z = tf.constant([-2.0, 0.0, 3.0], dtype=tf.float64)
    np.testing.assert_allclose(rules.stabilize(z, 0.5).numpy(), [-2.5, 0.5, 3.5])
    np.testing.assert_allclose(rules.Epsilon(0.5).stabilizer(z).numpy(), [-2.5, 0.5, 3.5])
    np.testing.assert_allclose(rules.Z().stabilizer(z).numpy(), [-2.0, 0.0, 3.0])


def test_zero_denominators_give_zero_not_nan():
    rng = np.random.default_rng(2)
    layer, in_shape = make_dense(rng)
    layer.kernel.assign(np.zeros(layer.kernel.shape))
    layer.bias.assign(np.zeros(layer.bias.shape))
    a = np.zeros((2, *in_shape))
    R = rng.normal(size=(2, 5))
    for rule in ALL_RULES:
        got = np.asarray(lrp_step(layer, a, R, rule))
        assert np.all(np.isfinite(got)), rule


def test_zplus_and_gamma_use_only_the_positive_bias_and_flat_ignores_it():
    """One input, one output: the bias enters the denominator exactly as documented."""
    layer = keras.layers.Dense(1, dtype="float64")
    layer.build((None, 1))
    layer.kernel.assign([[2.0]])
    a, R = np.array([[1.0]]), np.array([[1.0]])
    for bias, zplus, gamma in ((1.0, 2 / 3, 2.5 / 3.75), (-1.0, 1.0, 2.5 / 1.5)):
        layer.bias.assign([bias])
        np.testing.assert_allclose(np.asarray(lrp_step(layer, a, R, rules.ZPlus())), [[zplus]],
                                   rtol=1e-5)
        np.testing.assert_allclose(np.asarray(lrp_step(layer, a, R, rules.Gamma(0.25))),
                                   [[gamma]], rtol=1e-5)
        np.testing.assert_allclose(np.asarray(lrp_step(layer, a, R, rules.Flat())), [[1.0]],
                                   rtol=1e-5)
        np.testing.assert_allclose(np.asarray(lrp_step(layer, a, R, rules.WSquare())), [[1.0]],
                                   rtol=1e-5)


def test_alpha_beta_conserves_when_there_is_no_bias():
    rng = np.random.default_rng(4)
    # many inputs: every output has positive AND negative contributions (else a part is 0 / ε)
    layer, in_shape = make_dense(rng, n_in=40)
    layer.bias.assign(np.zeros(layer.bias.shape))
    a = rng.uniform(-1, 1, size=(4, *in_shape))
    R = rng.normal(size=(4, 5))
    got = np.asarray(lrp_step(layer, a, R, rules.AlphaBeta(2, 1)))
    np.testing.assert_allclose(got.sum(1), R.sum(1), rtol=1e-4)


# --------------------------------------------------------------------------------------------
# Bad parameters
# --------------------------------------------------------------------------------------------

def test_alpha_minus_beta_must_be_one():
    with pytest.raises(ValueError, match=r"alpha - beta must equal 1 \(got 0.5\)"):
        rules.AlphaBeta(alpha=1.5, beta=1.0)
    with pytest.raises(ValueError, match="alpha and beta must both be >= 0"):
        rules.AlphaBeta(alpha=-1.0, beta=-2.0)


def test_bad_rule_parameters():
    with pytest.raises(ValueError, match="epsilon must be a finite number >= 0"):
        rules.Epsilon(-0.1)
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        rules.Gamma(float("nan"))
    with pytest.raises(ValueError, match="low must be <= high"):
        rules.ZBox(1.0, 0.0)
    with pytest.raises(ValueError, match="they must broadcast"):
        rules.ZBox(np.zeros(3), np.ones(2))


def test_rules_are_values_with_readable_reprs():
    assert rules.Gamma(0.25) == rules.Gamma(0.25) and rules.Gamma(0.25) != rules.Gamma(0.5)
    assert repr(rules.Epsilon(0.25)) == "Epsilon(epsilon=0.25)"
    assert repr(rules.Z()) == "Z()"
    assert repr(rules.AlphaBeta()) == "AlphaBeta(alpha=2.0, beta=1.0)"
    assert rules.ZBox([0, 1], [1, 2]) == rules.ZBox(np.array([0, 1]), [1, 2])


# --------------------------------------------------------------------------------------------
# Every rule has its reference; rules state the textbook form, the engine prunes
# --------------------------------------------------------------------------------------------

def _rule_classes():
    """Every concrete rule class defined in lrp_teach.rules (found by subclass walk, so a rule
    missing from __all__ is found too)."""
    found, todo = [], [rules.Rule]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls is not rules.Rule and cls.__module__ == "lrp_teach.rules":
            found.append(cls)
    return found


def test_every_rule_has_a_registered_numpy_reference():
    classes = _rule_classes()
    assert {cls.__name__ for cls in classes} >= {"Z", "Epsilon", "ZPlus", "Gamma", "AlphaBeta",
                                                  "WSquare", "Flat", "ZBox"}
    missing = [cls.__name__ for cls in classes if cls not in rules.registered_references()]
    assert not missing, f"rules without a @replicates reference: {missing}"
    # every rule of the parametrised tests above is covered by one
    assert {type(rule) for rule in ALL_RULES} == set(classes)


def test_a_rule_without_reference_is_refused_by_name():
    class Halved(rules.Epsilon):
        pass

    with pytest.raises(LookupError, match=r"Halved has no numpy reference; register one with "
                                          r"@rules.replicates\(Halved\)"):
        rules.reference_of(Halved())


def test_rules_state_the_textbook_form_and_the_engine_prunes():
    from lrp_teach.propagate import prune

    textbook = rules.ZPlus().groups()
    assert [b.input for b in textbook[0].branches] == ["positive", "negative"]
    assert [b.input for b in prune(textbook, input_nonnegative=True)[0].branches] == ["x"]
    gamma = rules.Gamma().groups()
    assert [g.where for g in gamma] == ["positive", "negative"]
    assert [g.where for g in prune(gamma, nonpositive_outputs_irrelevant=True)] == [None]
    assert prune(gamma) == gamma  # nothing proved, nothing dropped


def test_a_rule_written_from_the_paper_gets_the_same_numbers_as_the_builtin():
    """A user rule with the textbook z⁺ (no engine knowledge) equals rules.ZPlus in the engine,
    for inputs of both signs and for non-negative inputs (where the engine prunes it)."""
    import lrp_teach as lt

    relu = keras.ops.relu

    class PaperZPlus(rules.Rule):
        def groups(self):
            return [rules.Group((rules.Branch("positive", weight=relu, bias=relu),
                                 rules.Branch("negative", weight=lambda w: -relu(-w), bias=False)))]

    rng = np.random.default_rng(5)
    model = keras.Sequential([keras.Input((6,), dtype="float64"),
                              keras.layers.Dense(5, activation="relu", dtype="float64"),
                              keras.layers.Dense(3, dtype="float64")])
    for weight in model.weights:
        weight.assign(rng.normal(size=weight.shape))
    for x in (rng.uniform(-1, 1, size=(4, 6)), rng.uniform(0, 1, size=(4, 6))):
        np.testing.assert_allclose(lt.explain(model, x, 1, PaperZPlus()),
                                   lt.explain(model, x, 1, rules.ZPlus()), rtol=1e-12)


def test_a_branch_input_the_rule_does_not_declare_is_an_error():
    class Bounded(rules.Rule):
        def groups(self):
            return [rules.Group((rules.Branch("x"), rules.Branch("lowest", None, False)))]

    layer, in_shape = make_dense(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"has a Branch with input 'lowest'; use one of "
                                         r"\['x', 'positive', 'negative', 'ones'\] or a name its "
                                         r"named_inputs\(\) returns \(\[\]\)"):
        lrp_step(layer, np.ones((1, *in_shape)), np.ones((1, 5)), Bounded())


def test_the_stabiliser_counts_zero_as_positive():
    """``z + ε·sign(z)`` with sign(0) = +1 (zennit's convention), checked where it matters: a
    pre-activation that is exactly 0 while relevance still arrives (a Flat layer above hands on
    relevance whatever its input's value). x = (1, 1), w = (1, −1): z = 0, the Flat output layer
    (bias 1) hands the logit 1 down, so s = 1 / (0 + 0.1) = 10 and R = x ⊙ (w s) = (10, −10).
    With sign(0) = −1 it would be (−10, 10); without the sign of z, the same as here, so a second
    example has z = −0.05: s = 1 / (−0.05 − 0.1)."""
    from lrp_teach import composites, explain
    from lrp_teach._tf import keras
    from lrp_teach.rulebase import stabilize
    from lrp_teach._tf import tf

    z = tf.constant([0.0, -0.0, 2.0, -2.0], dtype=tf.float64)
    assert np.array_equal(np.asarray(stabilize(z, 0.1)), [0.1, 0.1, 2.1, -2.1])

    inputs = keras.Input((2,), dtype="float64")
    hidden = keras.layers.Dense(1, use_bias=False, dtype="float64", name="cancel")(inputs)
    logits = keras.layers.Dense(1, dtype="float64", name="out")(hidden)
    model = keras.Model(inputs, logits)
    model.get_layer("cancel").set_weights([np.array([[1.0], [-1.0]])])
    model.get_layer("out").set_weights([np.array([[1.0]]), np.array([1.0])])
    composite = composites.Composite(by_name={"cancel": rules.Epsilon(0.1), "out": rules.Flat()})
    relevance = explain(model, np.array([[1.0, 1.0], [1.0, 1.05]]), target=0, composite=composite)
    flat = 1.0 / (1.0 + 1e-6)        # Flat's own ε = 1e-6 on its one input
    assert np.allclose(relevance[0], [10.0 * flat, -10.0 * flat], rtol=1e-12)
    s = 0.95 * flat / (-0.05 - 0.1)  # logit 0.95; z = 1 - 1.05 < 0: ε takes the sign of z
    assert np.allclose(relevance[1], [1.0 * s, -1.05 * s], rtol=1e-9)


def test_which_denominators_are_proven_non_negative():
    """The engine stabilises a denominator as z + ε without taking its sign only where z ≥ 0
    holds for every input and weight. Expected values written from the formulas: z⁺'s
    a⁺W⁺ + b⁺ + a⁻W⁻ (each product of two factors of one sign), flat's Σ1, w²'s ΣW² are ≥ 0;
    LRP-ε's aW + b, γ's a(W + γW⁺), α/β's negative half a⁺W⁻ + b⁻ + a⁻W⁺ and z^B's
    aW − lW⁺ − hW⁻ can have either sign (or are ≤ 0)."""
    from lrp_teach.propagate.step import nonnegative_denominator, proven_shifts, prune
    from lrp_teach.rulebase import _negative, _positive

    def proven(rule, input_nonnegative=False):
        groups = prune(rule.groups(), input_nonnegative)
        return [nonnegative_denominator(group, input_nonnegative) for group in groups]

    for nonnegative in (False, True):
        assert proven(rules.ZPlus(), nonnegative) == [True]
        assert proven(rules.Flat(), nonnegative) == [True]
        assert proven(rules.WSquare(), nonnegative) == [True]
        assert proven(rules.Epsilon(), nonnegative) == [False]
        assert proven(rules.Z(), nonnegative) == [False]
        assert proven(rules.Gamma(0.25), nonnegative) == [False, False]
        assert proven(rules.AlphaBeta(2, 1), nonnegative) == [True, False]
        assert proven(rules.ZBox(0.0, 1.0), nonnegative) == [False]
    # a term x·W⁺ is ≥ 0 only for inputs ≥ 0; a bias term needs its own sign
    plus_on_x = rules.Group((rules.Branch("x", _positive, False),))
    assert nonnegative_denominator(plus_on_x, input_nonnegative=True)
    assert not nonnegative_denominator(plus_on_x, input_nonnegative=False)
    negative_bias = rules.Group((rules.Branch("positive", _positive, _negative),))
    assert not nonnegative_denominator(negative_bias, input_nonnegative=True)
    unmodified_bias = rules.Group((rules.Branch("positive", _positive, None),))
    assert not nonnegative_denominator(unmodified_bias, input_nonnegative=True)
    subtracted = rules.Group((rules.Branch("positive", _positive, False, sign=-1.0),))
    assert not nonnegative_denominator(subtracted, input_nonnegative=True)
    both_negative = rules.Group((rules.Branch("negative", _negative, False),))
    assert nonnegative_denominator(both_negative)
    own_modifier = rules.Group((rules.Branch("positive", lambda w: w * w, False),))
    assert not nonnegative_denominator(own_modifier, input_nonnegative=True)

    # the shortcut applies to the plain stabiliser with ε > 0 only
    assert proven_shifts(rules.ZPlus(), rules.ZPlus().groups()) == (1e-6,)
    zero = rules.ZPlus()
    zero.epsilon = 0.0  # z = 0 is possible: LRP-0's guard (s = 0, never NaN) must stay
    assert proven_shifts(zero, zero.groups()) == (None,)

    class OwnStabiliser(rules.ZPlus):
        def stabilizer(self, z):
            return z + 1.0

    assert proven_shifts(OwnStabiliser(), OwnStabiliser().groups()) == (None,)
