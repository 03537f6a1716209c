"""The engine on functional models whose layers form a DAG: every new layer handler against a
formula written here, Add / Concatenate / a tensor read twice against a float64 numpy reference
of the whole graph (rules given per layer by name, so no composite code is involved), the
pruning conditions on graphs where they must NOT fire, BatchNorm folding (also before ReLU6,
into DepthwiseConv2D, with use_bias=False) against weights folded by hand, and an
EfficientNet-Lite0-shaped network with every composite."""

from __future__ import annotations

import numpy as np
import pytest

import lrp_teach as lt
from lrp_teach import composites, rules
from lrp_teach._tf import keras
from lrp_teach.reference import layer_matrix, reference_layer

from conftest import COMPOSITE_NAMES, make_composite
from dag_models import lite0_like, randomize

L = keras.layers
F64 = "float64"
EPS = 1e-6  # the stabiliser of Add and average pooling (zennit's Norm)


def stabilize(z, epsilon=EPS):
    return z + epsilon * np.where(z >= 0, 1.0, -1.0)


# --------------------------------------------------------------------------------------------
# A graph given as a list of nodes: built in Keras AND computed by a numpy reference
# --------------------------------------------------------------------------------------------

def build(spec, input_shape, seed, scale=0.6):
    """spec: [(name, op, [input names], options)], "image" is the input. Returns the model."""
    inputs = keras.Input(input_shape, dtype=F64, name="image")
    tensors = {"image": inputs}
    for name, op, sources, options in spec:
        args = [tensors[s] for s in sources]
        arg = args if op in ("add", "concat") else args[0]
        layer = {
            "conv": lambda: L.Conv2D(options["filters"], options["kernel"],
                                     strides=options.get("strides", 1),
                                     padding=options.get("padding", "same"),
                                     activation=options.get("activation"), dtype=F64, name=name),
            "dw": lambda: L.DepthwiseConv2D(options["kernel"], strides=options.get("strides", 1),
                                            padding=options.get("padding", "same"),
                                            depth_multiplier=options.get("multiplier", 1),
                                            dtype=F64, name=name),
            "dense": lambda: L.Dense(options["units"], dtype=F64, name=name),
            "relu": lambda: L.ReLU(dtype=F64, name=name),
            "relu6": lambda: L.ReLU(6.0, dtype=F64, name=name),
            "act_relu6": lambda: L.Activation("relu6", dtype=F64, name=name),
            "add": lambda: L.Add(dtype=F64, name=name),
            "concat": lambda: L.Concatenate(dtype=F64, name=name),
            "pad": lambda: L.ZeroPadding2D(options["padding"], dtype=F64, name=name),
            "maxpool": lambda: L.MaxPooling2D(2, dtype=F64, name=name),
            "gap": lambda: L.GlobalAveragePooling2D(keepdims=options.get("keepdims", False),
                                                    dtype=F64, name=name),
            "gmp": lambda: L.GlobalMaxPooling2D(keepdims=options.get("keepdims", False),
                                                dtype=F64, name=name),
            "flatten": lambda: L.Flatten(dtype=F64, name=name),
            "reshape": lambda: L.Reshape(options["shape"], dtype=F64, name=name),
            "dropout": lambda: L.Dropout(0.3, dtype=F64, name=name),
        }[op]()
        tensors[name] = layer(arg)
    model = keras.Model(inputs, tensors[spec[-1][0]])
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(0, scale if "kernel" in weight.path else 0.3, weight.shape))
    return model


def _weighted(op):
    return op in ("conv", "dw", "dense")


def reference_forward(model, spec, x):
    values = {"image": x}
    for name, op, sources, options in spec:
        a = [values[s] for s in sources]
        if _weighted(op):
            layer = model.get_layer(name)
            W, b, _, out_shape = layer_matrix(layer, a[0].shape[1:])
            z = (a[0].reshape(len(x), -1) @ W + b).reshape(len(x), *out_shape)
            values[name] = np.maximum(z, 0) if options.get("activation") == "relu" else z
        elif op == "relu":
            values[name] = np.maximum(a[0], 0)
        elif op in ("relu6", "act_relu6"):
            values[name] = np.clip(a[0], 0, 6)
        elif op == "add":
            values[name] = sum(a)
        elif op == "concat":
            values[name] = np.concatenate(a, axis=-1)
        elif op == "pad":
            (t, b_), (l_, r) = options["padding"]
            values[name] = np.pad(a[0], ((0, 0), (t, b_), (l_, r), (0, 0)))
        elif op == "maxpool":
            n, h, w, c = a[0].shape
            values[name] = a[0].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
        elif op in ("gap", "gmp"):
            reduce = np.mean if op == "gap" else np.max
            values[name] = reduce(a[0], axis=(1, 2), keepdims=options.get("keepdims", False))
        elif op in ("flatten", "reshape"):
            values[name] = a[0].reshape(len(x), -1) if op == "flatten" else a[0].reshape(
                len(x), *options["shape"])
        else:  # dropout
            values[name] = a[0]
    return values


def reference_explain(model, spec, x, target, rule_of):
    """Relevance arriving at every node (and "image"), from the formulas: weighted layers by the
    rules' numpy references, Add x_i/(Σx + ε sign Σx)·R, Concatenate by slicing, padding
    cropped, max pooling to the window's (unique) maximum, global average pooling x_i/(N·z)·R,
    everything else unchanged."""
    values = reference_forward(model, spec, x)
    logits = values[spec[-1][0]]
    start = np.zeros_like(logits)
    start[np.arange(len(x)), target] = logits[np.arange(len(x)), target]
    arriving = {spec[-1][0]: start}
    for name, op, sources, options in reversed(spec):
        R = arriving[name]
        a = [values[s] for s in sources]
        if _weighted(op):
            parts = [reference_layer(rule_of[name], model.get_layer(name), a[0], R)]
        elif op == "add":
            s = R / stabilize(values[name])
            parts = [branch * s for branch in a]
        elif op == "concat":
            edges = np.cumsum([branch.shape[-1] for branch in a])[:-1]
            parts = np.split(R, edges, axis=-1)
        elif op == "pad":
            (t, _), (l_, _) = options["padding"]
            h, w = a[0].shape[1:3]
            parts = [R[:, t:t + h, l_:l_ + w, :]]
        elif op in ("maxpool", "gmp"):
            src, out = a[0], np.zeros_like(a[0])
            n, h, w, c = src.shape
            size = 2 if op == "maxpool" else h
            Rr = R.reshape(n, h // size, w // size, c)
            for i in range(n):
                for y in range(h // size):
                    for xx in range(w // size):
                        for k in range(c):
                            window = src[i, y * size:(y + 1) * size, xx * size:(xx + 1) * size, k]
                            dy, dx = np.unravel_index(np.argmax(window), window.shape)
                            out[i, y * size + dy, xx * size + dx, k] += Rr[i, y, xx, k]
            parts = [out]
        elif op == "gap":
            n, h, w, c = a[0].shape
            z = a[0].mean(axis=(1, 2))
            s = R.reshape(n, c) / stabilize(z)
            parts = [a[0] * s[:, None, None, :] / (h * w)]
        else:  # relu, dropout, flatten, reshape
            parts = [R.reshape(a[0].shape)]
        for source, part in zip(sources, parts):
            arriving[source] = arriving.get(source, 0) + part
    return arriving


def _check_against_reference(spec, input_shape, seed, rule_of, low=-1.0, high=1.0, n=2,
                             rtol=1e-7, atol=1e-10, reference_rules=None):
    model = build(spec, input_shape, seed)
    x = np.random.default_rng(seed + 1).uniform(low, high, size=(n, *input_shape))
    target = np.arange(n) % model.output.shape[-1]
    expected = reference_explain(model, spec, x, target, {**rule_of, **(reference_rules or {})})
    composite = composites.Composite(by_name=rule_of, default=rules.Epsilon(0.01))
    R, per_layer = lt.explain(model, x, target, composite, return_layers=True)
    got = dict(per_layer)
    assert sorted(got) == sorted(["input"] + [node[0] for node in spec])
    for name, _, _, _ in spec:
        np.testing.assert_allclose(got[name], expected[name], rtol=rtol, atol=atol, err_msg=name)
    np.testing.assert_allclose(R, expected["image"], rtol=rtol, atol=atol)
    return model, x, got


# Linear layers feeding an Add (not followed by a ReLU), a padding of a linear tensor before a
# depthwise convolution (its input has both signs), ReLU6, global average pooling.
LINEAR_INTO_ADD = [
    ("c1", "conv", ["image"], dict(filters=3, kernel=3)),
    ("c2", "conv", ["image"], dict(filters=3, kernel=1)),
    ("add", "add", ["c1", "c2"], {}),
    ("r", "relu", ["add"], {}),
    ("c3", "conv", ["r"], dict(filters=4, kernel=3)),
    ("pad", "pad", ["c3"], dict(padding=((1, 0), (0, 1)))),
    ("dw", "dw", ["pad"], dict(kernel=3, padding="valid", multiplier=2)),
    ("r6", "relu6", ["dw"], {}),
    ("gap", "gap", ["r6"], {}),
    ("logits", "dense", ["gap"], dict(units=3)),
]

# A ReLU read by two layers, one of which gives zero inputs relevance (Flat); a Concatenate of a
# linear and a ReLU tensor (both signs) read by α/β; dropout between a conv and its ReLU.
SHARED_RELU = [
    ("c1", "conv", ["image"], dict(filters=4, kernel=3)),
    ("r1", "relu", ["c1"], {}),
    ("c2", "conv", ["r1"], dict(filters=3, kernel=3)),
    ("c3", "conv", ["r1"], dict(filters=3, kernel=1)),
    ("drop", "dropout", ["c3"], {}),
    ("r3", "act_relu6", ["drop"], {}),
    ("cat", "concat", ["c2", "r3"], {}),
    ("pool", "maxpool", ["cat"], {}),
    ("flat", "flatten", ["pool"], {}),
    ("logits", "dense", ["flat"], dict(units=3)),
]

# A conv read by a ReLU AND an Add (not "followed by a ReLU"), the Add of a ReLU and a linear
# tensor read by z+ (inputs of both signs), global max pooling with keepdims, reshape.
RELU_AND_ADD = [
    ("c1", "conv", ["image"], dict(filters=3, kernel=3)),
    ("r1", "relu", ["c1"], {}),
    ("add", "add", ["r1", "c1"], {}),
    ("c2", "conv", ["add"], dict(filters=4, kernel=3, activation="relu")),
    ("c3", "conv", ["c2"], dict(filters=4, kernel=1)),
    ("gmp", "gmp", ["c3"], dict(keepdims=True)),
    ("shape", "reshape", ["gmp"], dict(shape=(4,))),
    ("logits", "dense", ["shape"], dict(units=3)),
]


def test_linear_layers_into_an_add_and_padding_match_the_reference():
    gamma = rules.Gamma(0.5)
    _check_against_reference(LINEAR_INTO_ADD, (6, 6, 2), seed=1, rule_of={
        "c1": gamma, "c2": rules.AlphaBeta(2, 1), "c3": gamma, "dw": gamma,
        "logits": rules.Epsilon(0.01)})


def test_linear_layers_into_an_add_with_non_negative_images():
    _check_against_reference(LINEAR_INTO_ADD, (6, 6, 2), seed=2, low=0.0, rule_of={
        "c1": rules.ZPlus(), "c2": rules.Gamma(0.5), "c3": rules.AlphaBeta(2, 1),
        "dw": rules.ZPlus(), "logits": rules.Epsilon(0.01)})


def test_a_relu_read_by_two_layers_and_a_concatenation_match_the_reference():
    _check_against_reference(SHARED_RELU, (6, 6, 2), seed=3, rule_of={
        "c1": rules.Gamma(0.5), "c2": rules.Flat(), "c3": rules.Gamma(0.5),
        "logits": rules.AlphaBeta(2, 1)})


def test_a_relu_read_by_a_flat_layer_only():
    spec = [("c1", "conv", ["image"], dict(filters=3, kernel=3)),
            ("r1", "relu", ["c1"], {}),
            ("c2", "conv", ["r1"], dict(filters=3, kernel=3)),
            ("flat", "flatten", ["c2"], {}),
            ("logits", "dense", ["flat"], dict(units=2))]
    _check_against_reference(spec, (5, 5, 1), seed=4, rule_of={
        "c1": rules.Gamma(0.5), "c2": rules.WSquare(), "logits": rules.Epsilon()})


def test_a_conv_read_by_a_relu_and_an_add_matches_the_reference():
    _check_against_reference(RELU_AND_ADD, (6, 6, 2), seed=5, low=0.0, rule_of={
        "c1": rules.Gamma(0.5), "c2": rules.ZPlus(), "c3": rules.Gamma(0.5),
        "logits": rules.Epsilon(0.01)})


@pytest.mark.parametrize("bounds", ["scalar", "image"])
def test_zbox_bounds_behind_zero_padding_are_padded_with_zeros(bounds):
    """z^B's bounds describe the images; where a ZeroPadding2D sits before the first layer they
    are padded with zeros like the images (the padding is a constant 0, as a convolution's own
    zero padding in zennit)."""
    spec = [("pad", "pad", ["image"], dict(padding=((1, 1), (0, 2)))),
            ("c1", "conv", ["pad"], dict(filters=3, kernel=3, padding="valid",
                                         activation="relu")),
            ("gap", "gap", ["c1"], {}),
            ("logits", "dense", ["gap"], dict(units=2))]
    rng = np.random.default_rng(6)
    if bounds == "scalar":
        low, high = -1.0, 1.0
    else:
        low = rng.uniform(-1.5, -1.0, (5, 5, 1))
        high = rng.uniform(1.0, 1.5, (5, 5, 1))
    padding = ((1, 1), (0, 2), (0, 0))
    padded = rules.ZBox(np.pad(np.broadcast_to(low, (5, 5, 1)), padding),
                        np.pad(np.broadcast_to(high, (5, 5, 1)), padding))
    _check_against_reference(spec, (5, 5, 1), seed=6, rule_of={
        "c1": rules.ZBox(low, high), "logits": rules.Epsilon()},
        reference_rules={"c1": padded})


# --------------------------------------------------------------------------------------------
# Each handler against its formula, on small models
# --------------------------------------------------------------------------------------------

def _outputs(model, names, x):
    """The outputs of the named layers (a Keras sub-model: public API)."""
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    values = probe(x)
    return [np.asarray(v) for v in (values if len(names) > 1 else [values])]


def test_add_splits_in_proportion_and_conserves_at_the_join():
    inputs = keras.Input((4, 4, 2), dtype=F64)
    a = L.Conv2D(3, 3, padding="same", dtype=F64, name="a")(inputs)
    b = L.Conv2D(3, 1, dtype=F64, name="b")(inputs)
    c = L.Conv2D(3, 3, padding="same", dtype=F64, name="c")(inputs)
    s = L.Add(dtype=F64, name="sum")([a, b, c])
    model = keras.Model(inputs, L.Dense(2, dtype=F64, name="out")(L.Flatten(dtype=F64)(s)))
    randomize(model, 7)
    x = np.random.default_rng(8).uniform(-1, 1, (3, 4, 4, 2))
    _, per_layer = lt.explain(model, x, 1, rules.Z(), return_layers=True)
    got = dict(per_layer)
    xa, xb, xc, total = _outputs(model, ["a", "b", "c", "sum"], x)
    share = got["sum"] / (total + EPS * np.where(total >= 0, 1, -1))
    for name, value in (("a", xa), ("b", xb), ("c", xc)):
        np.testing.assert_allclose(got[name], value * share, rtol=1e-10, atol=1e-14)
    # conservation at the join, up to the stabiliser: Σ_i R_i = Σx / (Σx + ε·sign Σx) · R
    np.testing.assert_allclose(got["a"] + got["b"] + got["c"], got["sum"] * total /
                               stabilize(total), rtol=1e-10, atol=1e-14)
    assert np.all(np.abs(got["a"] + got["b"] + got["c"] - got["sum"])
                  <= EPS * np.abs(got["sum"] / total) * (1 + 1e-9))


def test_add_stabiliser_when_the_inputs_cancel():
    """x + (−x) = 0 exactly: R_i = x_i · R / (0 + ε) with sign(0) = +1, finite, summing to 0."""
    inputs = keras.Input((3, 3, 1), dtype=F64)
    a = L.Conv2D(2, 1, use_bias=False, dtype=F64, name="a")(inputs)
    b = L.Conv2D(2, 1, use_bias=False, dtype=F64, name="b")(inputs)
    s = L.Add(dtype=F64, name="sum")([a, b])
    flat = L.Flatten(dtype=F64, name="flat")(s)
    model = keras.Model(inputs, L.Dense(2, dtype=F64, name="out")(flat))
    randomize(model, 9)
    model.get_layer("b").kernel.assign(-np.asarray(model.get_layer("a").kernel))
    x = np.random.default_rng(10).uniform(-1, 1, (2, 3, 3, 1))
    # Flat on the Dense gives the zero inputs of the Dense relevance (R at the sum ≠ 0)
    composite = composites.Composite(by_name={"out": rules.Flat()}, default=rules.Z())
    _, per_layer = lt.explain(model, x, 0, composite, return_layers=True)
    got = dict(per_layer)
    xa, total = _outputs(model, ["a", "sum"], x)
    assert np.all(total == 0) and np.any(got["sum"] != 0)
    np.testing.assert_allclose(got["a"], xa * got["sum"] / EPS, rtol=1e-10)
    np.testing.assert_allclose(got["b"], -xa * got["sum"] / EPS, rtol=1e-10)
    assert np.all(np.isfinite(got["input"]))


def test_concatenate_splits_by_slicing_along_its_axis():
    inputs = keras.Input((4, 4, 2), dtype=F64)
    a = L.Conv2D(3, 3, padding="same", activation="relu", dtype=F64, name="a")(inputs)
    b = L.Conv2D(3, 1, activation="relu", dtype=F64, name="b")(inputs)
    cat = L.Concatenate(axis=1, dtype=F64, name="cat")([a, b])  # along the height
    model = keras.Model(inputs, L.Dense(2, dtype=F64)(L.Flatten(dtype=F64)(cat)))
    randomize(model, 11)
    x = np.random.default_rng(12).uniform(-1, 1, (2, 4, 4, 2))
    _, per_layer = lt.explain(model, x, 0, rules.Epsilon(0.01), return_layers=True)
    got = dict(per_layer)
    np.testing.assert_array_equal(got["a"], got["cat"][:, :4])
    np.testing.assert_array_equal(got["b"], got["cat"][:, 4:])


def test_relu6_padding_pooling_reshape_dropout_and_softmax_pass_as_stated():
    inputs = keras.Input((5, 5, 2), dtype=F64)
    z = L.Conv2D(4, 3, padding="same", dtype=F64, name="conv")(inputs)
    r = L.ReLU(6.0, dtype=F64, name="relu6")(z)
    p = L.ZeroPadding2D(((1, 0), (2, 1)), dtype=F64, name="pad")(r)
    g = L.GlobalMaxPooling2D(keepdims=True, dtype=F64, name="gmp")(p)
    d = L.Dropout(0.5, dtype=F64, name="drop")(g)
    flat = L.Reshape((4,), dtype=F64, name="shape")(d)
    logits = L.Dense(3, dtype=F64, name="logits")(flat)
    model = keras.Model(inputs, L.Softmax(dtype=F64, name="softmax")(logits))
    randomize(model, 13, scale=4.0)  # large weights: some pre-activations exceed 6
    x = np.random.default_rng(14).uniform(-1, 1, (2, 5, 5, 2))
    R, per_layer = lt.explain(model, x, 2, rules.Epsilon(0.01), return_layers=True)
    got = dict(per_layer)
    assert "softmax" not in got  # the logit before the softmax is explained
    zs, rs, ps = _outputs(model, ["conv", "relu6", "pad"], x)
    assert zs.max() > 6 and np.allclose(rs, np.clip(zs, 0, 6))
    logit = _outputs(model, ["logits"], x)[0]
    np.testing.assert_allclose(got["logits"][:, 2], logit[:, 2], rtol=1e-12)
    np.testing.assert_array_equal(got["drop"], got["shape"].reshape(2, 1, 1, 4))
    np.testing.assert_array_equal(got["gmp"], got["drop"])
    # global max pooling: each channel's relevance to the positions holding its maximum, in
    # equal shares where several do (several hold 6 after ReLU6: the gradient of the maximum)
    ties = 0
    for n in range(2):
        for c in range(4):
            winners = ps[n, :, :, c] == ps[n, :, :, c].max()
            ties += winners.sum() > 1
            expected = np.where(winners, got["gmp"][n, 0, 0, c] / winners.sum(), 0.0)
            np.testing.assert_allclose(got["pad"][n, :, :, c], expected, rtol=1e-12)
    assert ties > 0
    np.testing.assert_array_equal(got["relu6"], got["pad"][:, 1:6, 2:7, :])  # cropped
    np.testing.assert_array_equal(got["conv"], got["relu6"])  # ReLU6 passes it unchanged


def test_global_average_pooling_with_keepdims_is_proportional():
    inputs = keras.Input((4, 4, 3), dtype=F64)
    z = L.Conv2D(3, 3, padding="same", activation="relu", dtype=F64, name="conv")(inputs)
    g = L.GlobalAveragePooling2D(keepdims=True, dtype=F64, name="gap")(z)
    out = L.Conv2D(2, 1, dtype=F64, name="classifier")(g)
    model = keras.Model(inputs, L.Reshape((2,), dtype=F64, name="shape")(out))
    randomize(model, 15)
    x = np.random.default_rng(16).uniform(-1, 1, (2, 4, 4, 3))
    _, per_layer = lt.explain(model, x, 1, rules.Epsilon(0.01), return_layers=True)
    got = dict(per_layer)
    a = _outputs(model, ["conv"], x)[0]
    mean = a.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(got["conv"], a / 16 * got["gap"] / stabilize(mean), rtol=1e-10)


@pytest.mark.parametrize("rule", [rules.Z(), rules.Epsilon(0.1), rules.ZPlus(), rules.Gamma(0.5),
                                  rules.AlphaBeta(2, 1), rules.WSquare(), rules.Flat(),
                                  rules.ZBox(-1.0, 2.0)], ids=repr)
def test_depthwise_conv_step_matches_the_numpy_reference(rule):
    layer = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, dtype=F64)
    layer.build((None, 5, 5, 3))
    rng = np.random.default_rng(17)
    layer.kernel.assign(rng.normal(0, 0.7, layer.kernel.shape))
    layer.bias.assign(rng.normal(0, 0.3, layer.bias.shape))
    a = rng.uniform(-1, 1, (2, 5, 5, 3))
    R = rng.normal(0, 1, (2, 3, 3, 6))
    got = np.asarray(lt.propagate.lrp_step(layer, a, R, rule))
    np.testing.assert_allclose(got, reference_layer(rule, layer, a, R), rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------
# BatchNorm folded into Conv2D / DepthwiseConv2D (use_bias=False, ReLU6 after) by hand
# --------------------------------------------------------------------------------------------

def folded_by_hand(model):
    """The same network without BatchNormalization, weights folded with explicit loops:
    W'[..., k] = W[..., k]·γ_k/√(σ²_k+ε), b'_k = (b_k − μ_k)·γ_k/√(σ²_k+ε) + β_k, where a
    depthwise kernel's output channel k = c·M + m sits at [..., c, m]."""
    plain = lite0_like(dtype=F64, batch_norm=False)
    for layer in plain.layers:
        if not hasattr(layer, "kernel"):
            continue
        source = model.get_layer(layer.name)
        kernel = np.array(source.kernel, dtype=np.float64)
        bias = (np.array(source.bias) if source.use_bias else
                np.zeros(np.asarray(layer.bias).shape))
        bn_name = layer.name[:-len("conv")] + "bn" if layer.name.endswith("conv") else None
        if bn_name is not None:
            bn = model.get_layer(bn_name)
            gamma, beta = np.asarray(bn.gamma), np.asarray(bn.beta)
            mean, var = np.asarray(bn.moving_mean), np.asarray(bn.moving_variance)
            for k in range(len(bias)):
                scale = gamma[k] / np.sqrt(var[k] + bn.epsilon)
                if isinstance(source, L.DepthwiseConv2D):
                    c, m = divmod(k, kernel.shape[-1])
                    kernel[..., c, m] *= scale
                else:
                    kernel[..., k] *= scale
                bias[k] = (bias[k] - mean[k]) * scale + beta[k]
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
    return plain


def test_batch_norm_folds_into_depthwise_and_use_bias_false_convs_before_relu6(composite):
    model = lite0_like(seed=18, dtype=F64)
    plain = folded_by_hand(model)
    x = np.random.default_rng(19).uniform(-1, 1, (2, 32, 32, 3))
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(plain(x)), rtol=1e-9)
    got = lt.explain(model, x, 3, composite)
    np.testing.assert_allclose(got, lt.explain(plain, x, 3, composite), rtol=1e-8, atol=1e-12)


def test_lite0_like_float32_with_every_composite_is_finite_and_conserving_without_biases():
    model = lite0_like(seed=20)
    x = np.random.default_rng(21).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    for name in COMPOSITE_NAMES:
        R = lt.explain(model, x, 4, make_composite(name))
        assert R.shape == x.shape and R.dtype == np.float32 and np.all(np.isfinite(R)), name
    table = dict((row[0], row[2]) for row in lt.propagate.rule_table(
        model, composites.EpsilonGammaBox(-1, 1)))
    assert table["stem_conv"] == "ZBox(low=-1.0, high=1.0)"
    assert table["block1_dwconv"] == "Gamma(gamma=0.25)"  # a depthwise conv is a convolution
    assert table["block1_add"] == "proportional to each input (LRP-0, eps=1e-6)"
    assert table["logits"] == "Epsilon(epsilon=1e-06)"
    # without biases (BN shifts and means zero too), LRP-0 conserves the logit at every layer
    for weight in model.weights:
        if weight.path.split("/")[-1] in ("bias", "beta", "moving_mean"):
            weight.assign(np.zeros(weight.shape))
    logit = np.asarray(model(x))[:, 4]
    R, per_layer = lt.explain(model, x, 4, rules.Z(), return_layers=True)
    np.testing.assert_allclose(R.sum(axis=(1, 2, 3)), logit, rtol=1e-3)
    got = dict(per_layer)
    # ... at every layer whose output all the relevance passes (not inside a residual branch)
    for name in ("block3_add", "block2_project_bn", "block2_dwconv", "block1_add", "stem_relu"):
        np.testing.assert_allclose(got[name].sum(axis=(1, 2, 3)), logit, rtol=1e-3,
                                   err_msg=name)
    # LRP-0 on a bias-free ReLU network is gradient × input (up to the Add's and pooling's
    # stabiliser ε = 1e-6, which moves a few values where a sum is small)
    np.testing.assert_allclose(R, lt.gradient_x_input(model, x, 4), rtol=1e-3,
                               atol=5e-3 * np.abs(R).max())


def test_baselines_on_a_dag():
    from lrp_teach._tf import tf

    model = lite0_like(seed=22, dtype=F64)
    x = np.random.default_rng(23).uniform(-1, 1, (2, 32, 32, 3))
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logit = tf.reduce_sum(model(xt)[:, 5])
    np.testing.assert_allclose(lt.gradient(model, x, 5), tape.gradient(logit, xt).numpy(),
                               rtol=1e-9, atol=1e-12)
    # Grad-CAM by default on the feature maps before the global pooling (head_relu's output)
    features = keras.Model(model.input, [model.get_layer("head_relu").output, model.output])
    with tf.GradientTape() as tape:
        maps, logits = features(xt)
        logit = tf.reduce_sum(logits[:, 5])
    weights = tf.reduce_mean(tape.gradient(logit, maps), axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))[..., None]
    expected = tf.image.resize(cam, (32, 32), method="bilinear")[..., 0].numpy()
    np.testing.assert_allclose(lt.grad_cam(model, x, 5), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lt.grad_cam(model, x, 5, layer="head_relu"), expected,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("onednn", [False, True])
def test_relu6_is_clipped_at_6_with_either_kernel_library(monkeypatch, onednn):
    """ReLU6 is tf.nn.relu6 without oneDNN and ReLU + minimum with it (oneDNN's fused
    conv + Relu6 is slow); both give min(max(a, 0), 6), checked against numpy."""
    from lrp_teach._tf import tf
    from lrp_teach.propagate import layers

    monkeypatch.setattr(layers, "_onednn_on", lambda: onednn)
    a = np.array([-7.0, -0.5, 0.0, 0.5, 5.99, 6.0, 6.01, 100.0], dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(layers.relu(tf.constant(a), 6.0)),
                                  np.minimum(np.maximum(a, 0.0), 6.0))
    graph = tf.function(lambda t: layers.relu(t, 6.0)).get_concrete_function(
        tf.TensorSpec([8], tf.float32)).graph
    types = {op.type for op in graph.get_operations()}
    assert ("Minimum" in types) == onednn and ("Relu6" in types) == (not onednn)
