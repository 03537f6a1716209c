"""The engine against an independent float64 reference (tests/lrp_reference.py), with the rule
of every layer assigned HERE, from zennit's presets written out as a table -- not by
lrp_teach.composites. Random small models (seeded) with and without a ReLU after the linear
layers, negative inputs, folded BatchNormalization, compared at every layer.

The reference imports nothing from lrp_teach; this file uses lrp_teach only through its public
calls (``lrp_teach.explain``, ``composites.by_name``/``NAMES``) -- the things under test.
"""

from __future__ import annotations

import numpy as np
import pytest

import lrp_teach as lt
from lrp_teach import composites
from lrp_teach._tf import keras

from lrp_reference import Reference, apply_rule

L = keras.layers
DT = "float64"

#: z^B bounds used by the composites that need them (per channel; the test images lie inside)
LOW = np.array([-1.0, -1.5, -0.5])
HIGH = np.array([1.0, 0.5, 1.5])

# ----------------------------------------------------------------------------------------------
# The rule table, written out (zennit 0.5 ``zennit/composites.py`` presets; the course's
# composites.py docstrings for MontavonVGG16 and the single-rule names)
# ----------------------------------------------------------------------------------------------
#
# "first layer": the first convolution (Conv2D or DepthwiseConv2D) on the way from the input,
# or, in a model without convolutions, the first Dense layer. "conv": every other Conv2D or
# DepthwiseConv2D (zennit's ``Convolution`` type, depthwise = a grouped torch Conv2d).
# "dense": every other Dense layer, the logits included.
#
# composite              first               conv                    dense
# epsilon_plus           (none: conv rule)   z+                      ε = 1e-6
# epsilon_plus_flat      flat                z+                      ε = 1e-6
# epsilon_gamma_box      z^B(low, high)      γ = 0.25                ε = 1e-6
# epsilon_alpha2_beta1   (none: conv rule)   α = 2, β = 1            ε = 1e-6
# montavon_vgg16         z^B(low, high)      conv no. 1..n//2 (0-based, n convs): γ = 0.25,
#                                            the rest ε = 0.25·RMS(z)      LRP-0
# epsilon                ε = 0.25 on every linear layer
# z_plus                 z+ on every linear layer
# gamma                  γ = 0.25 on every linear layer
# z                      LRP-0 on every linear layer

EPS = ("epsilon", 1e-6)
PRESETS = {
    "epsilon_plus": (None, ("zplus",), EPS),
    "epsilon_plus_flat": (("flat",), ("zplus",), EPS),
    "epsilon_gamma_box": (("zbox", LOW, HIGH), ("gamma", 0.25), EPS),
    "epsilon_alpha2_beta1": (None, ("alphabeta", 2.0, 1.0), EPS),
}
SINGLE = {"epsilon": ("epsilon", 0.25), "z_plus": ("zplus",), "gamma": ("gamma", 0.25),
          "z": ("z",)}
#: single rules outside the registry, put on every linear layer (lrp_teach.rules' classes)
EXTRA = {"alpha_beta": ("alphabeta", 2.0, 1.0), "w_square": ("wsquare",), "flat": ("flat",),
         "alpha1_beta0": ("alphabeta", 1.0, 0.0)}
#: a composite of the test's own: the linear layers in topological order get these rules in
#: turn (rules that give zero inputs relevance -- flat, w² -- after layers with a ReLU, so the
#: engine's "zero relevance where the output is zero" proof must look at the next rule)
MIXED = (("gamma", 0.5), ("flat",), ("zplus",), ("wsquare",), ("alphabeta", 2.0, 1.0),
         ("epsilon", 0.1), ("z",), ("gamma", 0.25))
ALL = (*composites.NAMES, *EXTRA, "mixed")
CONVOLUTIONS = ("Conv2D", "DepthwiseConv2D")


def expected_rules(name, linear_layers):
    """{layer name: rule tuple} of composite ``name`` for the (name, class) list of linear
    layers in topological order."""
    convs = [n for n, cls in linear_layers if cls in CONVOLUTIONS]
    first = convs[0] if convs else linear_layers[0][0]
    if name == "mixed":
        return {n: MIXED[i % len(MIXED)] for i, (n, _) in enumerate(linear_layers)}
    if name in SINGLE or name in EXTRA:
        return {n: {**SINGLE, **EXTRA}[name] for n, _ in linear_layers}
    if name == "montavon_vgg16":
        rules = {}
        for n, cls in linear_layers:
            if n == first:
                rules[n] = ("zbox", LOW, HIGH)
            elif cls in CONVOLUTIONS:
                rules[n] = ("gamma", 0.25) if convs.index(n) <= len(convs) // 2 \
                    else ("epsilon_rms", 0.25)
            else:
                rules[n] = ("z",)
        return rules
    first_rule, conv_rule, dense_rule = PRESETS[name]
    return {n: first_rule if (n == first and first_rule is not None) else
            conv_rule if cls in CONVOLUTIONS else dense_rule for n, cls in linear_layers}


def test_the_table_covers_every_registered_composite():
    assert set(composites.NAMES) == set(PRESETS) | set(SINGLE) | {"montavon_vgg16"}


# ----------------------------------------------------------------------------------------------
# Random models
# ----------------------------------------------------------------------------------------------

def randomise(model, seed):
    """Seeded weights: kernels ~ N(0, 1/fan_in·2), biases ~ N(0, 0.2), BatchNorm with
    non-trivial γ, β, moving mean and variance."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, L.BatchNormalization):
            new = []
            if layer.scale:
                new.append(rng.uniform(0.5, 1.5, size=weights[0].shape)
                           * rng.choice([-1.0, 1.0], size=weights[0].shape))  # γ of both signs
            if layer.center:
                new.append(rng.normal(0, 0.3, size=weights[len(new)].shape))
            new.append(rng.normal(0, 0.3, size=weights[-2].shape))      # moving mean
            new.append(rng.uniform(0.5, 2.0, size=weights[-1].shape))   # moving variance
        else:
            kernel = weights[0]
            fan_in = int(np.prod(kernel.shape[:-1])) if not isinstance(
                layer, L.DepthwiseConv2D) else int(np.prod(kernel.shape[:2]))
            new = [rng.normal(0, np.sqrt(2.0 / fan_in), size=kernel.shape)]
            new += [rng.normal(0, 0.2, size=w.shape) for w in weights[1:]]
        layer.set_weights(new)
    return model


def chain_without_relu(seed=0):
    """Linear layers NOT followed by a ReLU (the γ rule's z < 0 half and z+'s negative inputs
    matter there), strides, 'valid' and 'same' padding, both poolings."""
    return randomise(keras.Sequential([
        keras.Input((8, 8, 3), dtype=DT),
        L.Conv2D(4, 3, padding="same", dtype=DT, name="conv1"),               # no ReLU
        L.Conv2D(5, 3, strides=2, padding="same", activation="relu", dtype=DT, name="conv2"),
        L.Conv2D(4, 2, padding="valid", dtype=DT, name="conv3"),              # no ReLU
        L.AveragePooling2D(2, padding="same", dtype=DT, name="avg"),
        L.Flatten(dtype=DT, name="flat"),
        L.Dense(6, dtype=DT, name="fc1"),                                     # no ReLU
        L.Dense(4, dtype=DT, name="logits"),
    ]), seed)


def chain_with_batch_norm(seed=1):
    """conv -> BN -> ReLU, conv -> BN (no ReLU) -> conv, max pooling, GAP, Dense -> BN."""
    return randomise(keras.Sequential([
        keras.Input((8, 8, 3), dtype=DT),
        L.Conv2D(4, 3, padding="same", use_bias=False, dtype=DT, name="conv1"),
        L.BatchNormalization(dtype=DT, name="bn1"),
        L.ReLU(dtype=DT, name="relu1"),
        L.MaxPooling2D(2, dtype=DT, name="pool1"),
        L.Conv2D(5, 3, padding="same", dtype=DT, name="conv2"),
        L.BatchNormalization(dtype=DT, name="bn2"),                          # no ReLU after
        L.Conv2D(4, 3, padding="valid", activation="relu", dtype=DT, name="conv3"),
        L.GlobalAveragePooling2D(dtype=DT, name="gap"),
        L.Dense(6, dtype=DT, name="fc1"),
        L.BatchNormalization(dtype=DT, name="bn3"),
        L.Activation("relu", dtype=DT, name="relu3"),
        L.Dropout(0.5, dtype=DT, name="drop"),
        L.Dense(3, dtype=DT, name="logits"),
    ]), seed)


def dense_only(seed=2):
    """No convolution: the first Dense is the "first layer"; the middle one has no ReLU."""
    return randomise(keras.Sequential([
        keras.Input((3,), dtype=DT),
        L.Dense(7, activation="relu", dtype=DT, name="d1"),
        L.Dense(6, dtype=DT, name="d2"),
        L.Dense(5, activation="relu", dtype=DT, name="d3"),
        L.Dense(3, dtype=DT, name="logits"),
    ]), seed)


def relu_everywhere(seed=3):
    """Every linear layer followed by a ReLU: the engine's pruning applies (and must not change
    the result)."""
    return randomise(keras.Sequential([
        keras.Input((8, 8, 3), dtype=DT),
        L.Conv2D(4, 3, padding="same", activation="relu", dtype=DT, name="conv1"),
        L.Conv2D(4, 3, padding="same", activation="relu", dtype=DT, name="conv2"),
        L.MaxPooling2D(2, dtype=DT, name="pool"),
        L.Conv2D(6, 3, padding="same", dtype=DT, name="conv3"),
        L.ReLU(dtype=DT, name="relu3"),
        L.Flatten(dtype=DT, name="flat"),
        L.Dense(8, activation="relu", dtype=DT, name="fc1"),
        L.Dense(4, dtype=DT, name="logits"),
    ]), seed)


CHAIN_MODELS = {"chain_without_relu": chain_without_relu,
                "chain_with_batch_norm": chain_with_batch_norm,
                "dense_only": dense_only, "relu_everywhere": relu_everywhere}


def images_for(model, seed, nonnegative=False):
    """Images inside [LOW, HIGH] (per channel), of both signs unless ``nonnegative``."""
    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(100 + seed)
    low = np.broadcast_to(LOW if shape[-1] == 3 else LOW.min(), shape)
    high = np.broadcast_to(HIGH if shape[-1] == 3 else HIGH.max(), shape)
    if nonnegative:
        low = np.zeros(shape)
    return rng.uniform(low, high, size=(3, *shape))


# ----------------------------------------------------------------------------------------------
# The reference itself: its forward pass is Keras', and LRP-0 through it is gradient × input
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CHAIN_MODELS))
def test_reference_forward_equals_keras(name):
    model = CHAIN_MODELS[name]()
    x = images_for(model, 0)
    reference = Reference(model)
    logits = np.stack([reference.forward(xi)[0][reference.logits] for xi in x])
    np.testing.assert_allclose(logits, np.asarray(model(x, training=False)), rtol=1e-12,
                               atol=1e-12)


def test_reference_lrp0_is_gradient_times_input_without_pooling_stabiliser():
    """LRP-0 in a ReLU network with max pooling only is gradient × input (an autodiff check of
    the reference's bookkeeping, independent of the engine)."""
    from lrp_teach._tf import tf

    model = relu_everywhere(seed=7)
    x = images_for(model, 7)
    reference = Reference(model)
    rules = {n: ("z",) for n, _ in reference.linear_layers()}
    R, _, _ = reference.explain(x, 2, rules)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logit = model(xt)[:, 2]
    np.testing.assert_allclose(R, (tape.gradient(logit, xt) * xt).numpy(), rtol=1e-9,
                               atol=1e-12)


def test_reference_rules_on_one_neuron_by_hand():
    """Two inputs, one output: every rule's value computed by hand."""
    a = np.array([2.0, -1.0])
    M = np.array([[1.5], [0.5]])   # z = 3 - 0.5 + b
    b = np.array([-0.5])           # z = 2
    mask = np.ones_like(M, dtype=bool)
    R = np.array([1.0])

    def rule(*r):
        return apply_rule(r, a, M, b, mask, R, a.shape)
    np.testing.assert_allclose(rule("z"), [3 / 2, -0.5 / 2])
    # z+: a+ M+ = [3, 0], a- M- = [0, 0], b+ = 0 -> z = 3
    np.testing.assert_allclose(rule("zplus"), [1.0, 0.0], rtol=1e-6)
    # α2β1: z+ = 3 (input 1); z- = a+M- + a-M+ + b- = -0.5 - 0.5 = -1 -> R = 2·[1, 0] - [0, 0.5]
    np.testing.assert_allclose(rule("alphabeta", 2.0, 1.0), [2.0, -0.5], rtol=1e-5)
    # γ = 1, z = 2 > 0: up = M + M+ = [3, 1], down = M + M- = M; z = 2·3 + (-1)·0.5 + b + γb+ = 5
    np.testing.assert_allclose(rule("gamma", 1.0), [6 / 5, -0.5 / 5], rtol=1e-6)
    # w²: [2.25, 0.25] / 2.5; flat: 1/2 each
    np.testing.assert_allclose(rule("wsquare"), [0.9, 0.1], rtol=1e-6)
    np.testing.assert_allclose(rule("flat"), [0.5, 0.5], rtol=1e-6)
    # z^B on [-3, 3]: z = 2·1.5 - 1·0.5 - (-3)·(1.5 + 0.5) = 8.5 (bias not included)
    np.testing.assert_allclose(rule("zbox", -3.0, 3.0), [(3 + 4.5) / 8.5, (-0.5 + 1.5) / 8.5],
                               rtol=1e-6)
    # ε = 1: z = 2 -> 3
    np.testing.assert_allclose(rule("epsilon", 1.0), [1.0, -0.5 / 3])


# ----------------------------------------------------------------------------------------------
# The engine against the reference, every composite, every layer
# ----------------------------------------------------------------------------------------------

def engine_composite(name, linear_layers=()):
    """What the user passes to ``explain`` for ``name``."""
    from lrp_teach import rules

    if name == "mixed":
        make = {"gamma": rules.Gamma, "flat": rules.Flat, "zplus": rules.ZPlus,
                "wsquare": rules.WSquare, "alphabeta": rules.AlphaBeta,
                "epsilon": rules.Epsilon, "z": rules.Z}
        return composites.Composite(by_name={
            n: make[MIXED[i % len(MIXED)][0]](*MIXED[i % len(MIXED)][1:])
            for i, (n, _) in enumerate(linear_layers)})
    extra = {"alpha_beta": lambda: rules.AlphaBeta(2, 1), "w_square": rules.WSquare,
             "flat": rules.Flat, "alpha1_beta0": lambda: rules.AlphaBeta(1, 0)}
    if name in extra:
        return extra[name]()
    return composites.by_name(name, low=LOW, high=HIGH)


def compare(model, x, target, composite_name):
    reference = Reference(model)
    rules = expected_rules(composite_name, reference.linear_layers())
    expected_input, expected, _ = reference.explain(x, target, rules)
    composite = engine_composite(composite_name, reference.linear_layers())
    got_input, got_layers = lt.explain(model, x, target, composite, return_layers=True)
    assert got_input.shape == x.shape
    names = [name for name, _ in got_layers]
    assert set(names) == set(expected), (sorted(names), sorted(expected))
    for name, got in got_layers:
        want = expected[name]
        scale = max(np.abs(want).max(), 1e-300)
        err = np.abs(got - want).max() / scale
        assert err <= 1e-10, f"{composite_name}: layer {name}: relative error {err:.2e}"
    np.testing.assert_allclose(got_input, expected_input, rtol=0,
                               atol=1e-10 * np.abs(expected_input).max())


@pytest.mark.parametrize("model_name", sorted(CHAIN_MODELS))
def test_engine_matches_reference_on_chains(model_name):
    model = CHAIN_MODELS[model_name]()
    x = images_for(model, 1)
    for name in ALL:
        compare(model, x, [0, 2, 1], name)


def test_engine_matches_reference_with_nonnegative_images():
    """Images >= 0: the engine drops the negative-input terms of the first layer."""
    for make in (chain_without_relu, relu_everywhere):
        model = make()
        x = images_for(model, 2, nonnegative=True)
        for name in ("epsilon_plus", "epsilon_alpha2_beta1", "epsilon_gamma_box", "gamma",
                     "alpha1_beta0"):
            compare(model, x, None, name)


# ----------------------------------------------------------------------------------------------
# Directed acyclic graphs: residual adds, concatenation, depthwise convolutions, folded
# BatchNormalization with ReLU6 after it, zero padding, global pooling
# ----------------------------------------------------------------------------------------------

def inverted_residual(seed=10):
    """The EfficientNet/MobileNetV2 pattern: conv -> BN -> ReLU6, depthwise -> BN -> ReLU6,
    1x1 projection -> BN WITHOUT activation feeding an Add with the block's input (so the
    projection's z < 0 outputs carry relevance), a strided depthwise after the Add (its input
    has both signs), GAP, Dense."""
    x = keras.Input((8, 8, 3), dtype=DT, name="image")
    h = L.Conv2D(6, 3, padding="same", use_bias=False, dtype=DT, name="stem")(x)
    h = L.BatchNormalization(dtype=DT, name="stem_bn")(h)
    h = L.ReLU(6.0, dtype=DT, name="stem_relu6")(h)
    e = L.Conv2D(12, 1, use_bias=False, dtype=DT, name="expand")(h)
    e = L.BatchNormalization(dtype=DT, name="expand_bn")(e)
    e = L.ReLU(6.0, dtype=DT, name="expand_relu6")(e)
    d = L.DepthwiseConv2D(3, padding="same", use_bias=False, dtype=DT, name="dw")(e)
    d = L.BatchNormalization(dtype=DT, name="dw_bn")(d)
    d = L.Activation("relu6", dtype=DT, name="dw_relu6")(d)
    p = L.Conv2D(6, 1, use_bias=False, dtype=DT, name="project")(d)
    p = L.BatchNormalization(dtype=DT, name="project_bn")(p)
    s = L.Add(dtype=DT, name="add")([p, h])
    t = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, dtype=DT,
                          name="dw2")(s)
    t = L.BatchNormalization(dtype=DT, name="dw2_bn")(t)   # channel c·2 + m of a multiplier 2
    g = L.GlobalAveragePooling2D(dtype=DT, name="gap")(t)
    y = L.Dense(4, dtype=DT, name="logits")(g)
    return randomise(keras.Model(x, y), seed)


def two_linear_branches(seed=11):
    """Two linear layers without activation feed an Add followed by a ReLU; one of them ALSO
    feeds a ReLU branch (a layer followed by a ReLU on one path only: nothing may be pruned);
    a second Add of two ReLU outputs (non-negative: pruning allowed) before max pooling."""
    x = keras.Input((8, 8, 3), dtype=DT, name="image")
    a = L.Conv2D(4, 3, padding="same", dtype=DT, name="conv_a")(x)
    b = L.Conv2D(4, 3, padding="same", dtype=DT, name="conv_b")(x)
    s = L.Add(dtype=DT, name="add1")([a, b])
    r = L.ReLU(dtype=DT, name="relu1")(s)
    ra = L.ReLU(dtype=DT, name="relu_a")(a)
    c = L.Conv2D(4, 3, padding="same", activation="relu", dtype=DT, name="conv_c")(r)
    s2 = L.Add(dtype=DT, name="add2")([c, ra])
    m = L.MaxPooling2D(2, dtype=DT, name="pool")(s2)
    d = L.Conv2D(5, 3, padding="valid", dtype=DT, name="conv_d")(m)
    f = L.Flatten(dtype=DT, name="flat")(d)
    y = L.Dense(3, dtype=DT, name="logits")(f)
    return randomise(keras.Model(x, y), seed)


def concat_and_padding(seed=12):
    """Concatenate of a zero-padded valid convolution (no ReLU) and a depthwise branch with
    ReLU; a 1x1 convolution on the concatenation (inputs of both signs); global max pooling;
    Dense -> ReLU -> Dense."""
    x = keras.Input((7, 7, 3), dtype=DT, name="image")
    h = L.Conv2D(4, 3, padding="same", activation="relu", dtype=DT, name="conv1")(x)
    p = L.ZeroPadding2D(((1, 1), (1, 1)), dtype=DT, name="pad")(h)
    v = L.Conv2D(3, 3, padding="valid", dtype=DT, name="conv_valid")(p)
    w = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu", dtype=DT,
                          name="dw")(h)
    c = L.Concatenate(dtype=DT, name="concat")([v, w])
    k = L.Conv2D(5, 1, dtype=DT, name="conv_mix")(c)
    g = L.GlobalMaxPooling2D(dtype=DT, name="gmp")(k)
    d = L.Dense(6, activation="relu", dtype=DT, name="fc1")(g)
    y = L.Dense(3, dtype=DT, name="logits")(d)
    return randomise(keras.Model(x, y), seed)


def residual_from_the_input(seed=13):
    """The image itself feeds the first convolution AND an Add (its relevance is the sum of
    both); the first convolution is a depthwise one; asymmetric zero padding; GAP with
    keepdims, Reshape, Dropout."""
    x = keras.Input((6, 6, 3), dtype=DT, name="image")
    a = L.DepthwiseConv2D(3, padding="same", dtype=DT, name="dw_first")(x)
    s = L.Add(dtype=DT, name="add")([x, a])
    r = L.ReLU(dtype=DT, name="relu")(s)
    p = L.ZeroPadding2D(((1, 0), (0, 2)), dtype=DT, name="pad")(r)
    c = L.Conv2D(4, 3, strides=2, padding="valid", dtype=DT, name="conv")(p)
    g = L.GlobalAveragePooling2D(keepdims=True, dtype=DT, name="gap")(c)
    f = L.Reshape((4,), dtype=DT, name="reshape")(g)
    o = L.Dropout(0.3, dtype=DT, name="drop")(f)
    y = L.Dense(3, dtype=DT, name="logits")(o)
    return randomise(keras.Model(x, y), seed)


def padded_stem(seed=14):
    """MobileNet's stem: ZeroPadding2D on the images, then a strided 'valid' convolution (z^B's
    bounds must be padded like the images), conv -> BN -> ReLU6, depthwise -> BN -> ReLU6,
    1x1 conv, GAP, Dense."""
    x = keras.Input((7, 7, 3), dtype=DT, name="image")
    p = L.ZeroPadding2D(((0, 1), (0, 1)), dtype=DT, name="stem_pad")(x)
    h = L.Conv2D(4, 3, strides=2, padding="valid", use_bias=False, dtype=DT, name="stem")(p)
    h = L.BatchNormalization(dtype=DT, name="stem_bn")(h)
    h = L.ReLU(6.0, dtype=DT, name="stem_relu6")(h)
    d = L.DepthwiseConv2D(3, padding="same", dtype=DT, name="dw")(h)
    d = L.BatchNormalization(dtype=DT, name="dw_bn")(d)
    d = L.ReLU(6.0, dtype=DT, name="dw_relu6")(d)
    c = L.Conv2D(5, 1, dtype=DT, name="pw")(d)
    g = L.GlobalAveragePooling2D(dtype=DT, name="gap")(c)
    y = L.Dense(3, dtype=DT, name="logits")(g)
    return randomise(keras.Model(x, y), seed)


DAG_MODELS = {"padded_stem": padded_stem, "inverted_residual": inverted_residual, "two_linear_branches": two_linear_branches,
              "concat_and_padding": concat_and_padding,
              "residual_from_the_input": residual_from_the_input}


@pytest.mark.parametrize("name", sorted(DAG_MODELS))
def test_reference_forward_equals_keras_on_graphs(name):
    model = DAG_MODELS[name]()
    x = images_for(model, 0)
    reference = Reference(model)
    logits = np.stack([reference.forward(xi)[0][reference.logits] for xi in x])
    np.testing.assert_allclose(logits, np.asarray(model(x, training=False)), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("model_name", sorted(DAG_MODELS))
def test_engine_matches_reference_on_graphs(model_name):
    model = DAG_MODELS[model_name]()
    x = images_for(model, 3)
    for name in ALL:
        compare(model, x, [1, 0, 2], name)


def test_engine_matches_reference_on_graphs_with_nonnegative_images():
    for make in (two_linear_branches, residual_from_the_input):
        model = make()
        x = images_for(model, 4, nonnegative=True)
        for name in ("epsilon_plus", "epsilon_alpha2_beta1", "epsilon_gamma_box", "gamma"):
            compare(model, x, None, name)
