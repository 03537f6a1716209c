"""The compiled engine on whole models: against the rules' numpy references applied
layer by layer, against the lecture's per-layer formulas, and its properties (LRP-0 = gradient ×
input, conservation, z⁺ ≥ 0, batch = one by one)."""

from __future__ import annotations

import numpy as np
import pytest

import lrp_teach as lt
from lrp_teach import composites, images, rules
from lrp_teach._tf import keras, tf
from lrp_teach.propagate import lrp_step, model_chain
from lrp_teach.reference import reference_layer

L = keras.layers


def stabilize(z, epsilon):
    """numpy: z + ε·sign(z), sign(0) = +1."""
    return z + epsilon * np.where(z >= 0, 1.0, -1.0)


# --------------------------------------------------------------------------------------------
# A small VGG-style model and its numpy reference
# --------------------------------------------------------------------------------------------

def small_vgg(seed=0, dtype="float64", final="linear", biases=True, input_shape=(8, 8, 2)):
    rng = np.random.default_rng(seed)
    model = keras.Sequential([
        keras.Input(input_shape, dtype=dtype),
        L.Conv2D(3, 3, padding="same", activation="relu", dtype=dtype, name="conv1"),
        L.MaxPooling2D(2, dtype=dtype, name="pool1"),
        L.Conv2D(4, 3, padding="same", dtype=dtype, name="conv2"),
        L.ReLU(dtype=dtype, name="relu2"),
        L.AveragePooling2D(2, dtype=dtype, name="pool2"),
        L.Flatten(dtype=dtype, name="flatten"),
        L.Dense(6, activation="relu", dtype=dtype, name="fc1"),
        L.Dropout(0.5, dtype=dtype, name="drop"),
        L.Dense(3, activation=final, dtype=dtype, name="logits"),
    ])
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            layer.kernel.assign(rng.normal(0, 0.6, size=layer.kernel.shape))
            layer.bias.assign(rng.normal(0, 0.2, size=layer.bias.shape) if biases
                              else np.zeros(layer.bias.shape))
    return model


def _maxpool(a):
    N, H, W, C = a.shape
    out = np.zeros((N, H // 2, W // 2, C))
    for n in range(N):
        for y in range(H // 2):
            for x in range(W // 2):
                for c in range(C):
                    out[n, y, x, c] = a[n, 2 * y:2 * y + 2, 2 * x:2 * x + 2, c].max()
    return out


def _maxpool_relevance(a, R):
    """Winner takes all (first maximum in row-major order within the window)."""
    out = np.zeros_like(a)
    N, H, W, C = a.shape
    for n in range(N):
        for y in range(H // 2):
            for x in range(W // 2):
                for c in range(C):
                    window = a[n, 2 * y:2 * y + 2, 2 * x:2 * x + 2, c]
                    dy, dx = np.unravel_index(np.argmax(window), window.shape)
                    out[n, 2 * y + dy, 2 * x + dx, c] += R[n, y, x, c]
    return out


def _avgpool(a):
    N, H, W, C = a.shape
    return a.reshape(N, H // 2, 2, W // 2, 2, C).mean(axis=(2, 4))


def _avgpool_relevance(a, R):
    """R_i = a_i · (1/4) · R_j / (z_j + ε sign z_j), z_j = mean of the window."""
    z = _avgpool(a)
    s = R / stabilize(z, 1e-6)
    return a * np.repeat(np.repeat(s, 2, axis=1), 2, axis=2) / 4.0


def reference_explain(model, x, target, composite):
    """Layer by layer with the rules' numpy references. Returns (R_input, per-layer list)."""
    layers = [layer for layer in model.layers]
    assignment = composites.as_composite(composite).assign(layers)
    activations = [x.astype(np.float64)]
    for layer in layers:
        a = activations[-1]
        name = type(layer).__name__
        if name in ("Dense", "Conv2D"):
            pre = _pre_activation(layer, a)
            relu = layer.activation.__name__ == "relu"
            activations.append(np.maximum(pre, 0) if relu else pre)
        elif name == "MaxPooling2D":
            activations.append(_maxpool(a))
        elif name == "AveragePooling2D":
            activations.append(_avgpool(a))
        elif name == "Flatten":
            activations.append(a.reshape(a.shape[0], -1))
        elif name == "ReLU":
            activations.append(np.maximum(a, 0))
        else:
            activations.append(a)
    logits = activations[-1]
    R = np.zeros_like(logits)
    R[np.arange(len(x)), target] = logits[np.arange(len(x)), target]
    per_layer = [R]
    for index in range(len(layers) - 1, -1, -1):
        layer, a = layers[index], activations[index]
        name = type(layer).__name__
        if name in ("Dense", "Conv2D"):
            R = reference_layer(assignment[index], layer, a, R)
        elif name == "MaxPooling2D":
            R = _maxpool_relevance(a, R)
        elif name == "AveragePooling2D":
            R = _avgpool_relevance(a, R)
        elif name == "Flatten":
            R = R.reshape(a.shape)
        per_layer.append(R)
    return R, per_layer[::-1], logits


def _pre_activation(layer, a):
    kernel = np.asarray(layer.kernel, dtype=np.float64)
    bias = np.asarray(layer.bias, dtype=np.float64)
    if type(layer).__name__ == "Dense":
        return a @ kernel + bias
    return np.asarray(tf.nn.convolution(a, kernel, strides=layer.strides,
                                        padding=layer.padding.upper())) + bias


def _images(n=3, seed=1, low=-1.0, high=1.0, shape=(8, 8, 2)):
    return np.random.default_rng(seed).uniform(low, high, size=(n, *shape))


def test_engine_matches_the_layer_by_layer_reference(composite):
    model = small_vgg()
    x = _images()
    target = [0, 2, 1]
    expected, expected_layers, _ = reference_explain(model, x, np.array(target), composite)
    got, got_layers = lt.explain(model, x, target, composite, return_layers=True)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    assert [n for n, _ in got_layers] == ["input"] + [layer.name for layer in model.layers]
    for (layer_name, r), ref in zip(got_layers, expected_layers):
        np.testing.assert_allclose(r, ref, rtol=1e-6, atol=1e-9, err_msg=layer_name)


@pytest.mark.slow
def test_engine_with_non_negative_images_takes_the_same_values():
    """Non-negative images switch on the shortcut that drops x⁻ terms in the first layer."""
    model = small_vgg(seed=3)
    x = _images(low=0.0, high=1.0, seed=4)
    for composite in (rules.ZPlus(), rules.AlphaBeta(2, 1), rules.Gamma(0.5)):
        expected, _, _ = reference_explain(model, x, np.array([1, 1, 1]), composite)
        np.testing.assert_allclose(lt.explain(model, x, 1, composite), expected,
                                   rtol=1e-6, atol=1e-9)


def test_float32_engine_is_close_to_float64_reference():
    model32 = small_vgg(dtype="float32")
    x = _images()
    composite = composites.EpsilonGammaBox(-1, 1)
    got = lt.explain(model32, x.astype(np.float32), [0, 1, 2], composite)
    assert got.dtype == np.float32
    # the reference: numpy in float64, layer by layer, on the same (float32) weights
    expected, _, _ = reference_explain(model32, x.astype(np.float32), np.array([0, 1, 2]),
                                       composite)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------------------------------------
# The lecture's per-layer formulas against the generic step
# --------------------------------------------------------------------------------------------

def test_dense_by_matrix_product():
    rng = np.random.default_rng(0)
    layer = L.Dense(4, dtype="float64")
    layer.build((None, 6))
    layer.kernel.assign(rng.normal(size=(6, 4)))
    layer.bias.assign(rng.normal(size=4) * 0.1)
    a = rng.uniform(0, 1, size=(2, 6))
    R = rng.uniform(0, 1, size=(2, 4))
    W, b = np.asarray(layer.kernel), np.asarray(layer.bias)
    # LRP-ε: R_in = a * ((R / z) Wᵀ)
    z = a @ W + b
    np.testing.assert_allclose(np.asarray(lrp_step(layer, a, R, rules.Epsilon(0.1))),
                               a * ((R / stabilize(z, 0.1)) @ W.T), rtol=1e-10)
    # z⁺ (inputs >= 0): R_in = a * ((R / (a W⁺ + b⁺)) W⁺ᵀ)
    Wp = np.maximum(W, 0)
    zp = a @ Wp + np.maximum(b, 0)
    np.testing.assert_allclose(np.asarray(lrp_step(layer, a, R, rules.ZPlus())),
                               a * ((R / stabilize(zp, 1e-6)) @ Wp.T), rtol=1e-10)


@pytest.mark.parametrize("strides,padding", [(1, "same"), (2, "same"), (1, "valid"), (2, "valid")])
def test_conv2d_by_transposed_convolution(strides, padding):
    rng = np.random.default_rng(1)
    layer = L.Conv2D(4, 3, strides=strides, padding=padding, dtype="float64")
    layer.build((None, 7, 7, 3))
    layer.kernel.assign(rng.normal(size=layer.kernel.shape))
    layer.bias.assign(rng.normal(size=4) * 0.1)
    a = rng.uniform(0, 1, size=(2, 7, 7, 3))
    W, b = tf.constant(np.asarray(layer.kernel)), np.asarray(layer.bias)
    z = tf.nn.conv2d(a, W, strides, padding.upper()).numpy() + b
    R = rng.uniform(0, 1, size=z.shape)
    for rule, weights, denominator in (
            (rules.Epsilon(0.1), W, stabilize(z, 0.1)),
            (rules.ZPlus(), tf.nn.relu(W),
             stabilize(tf.nn.conv2d(a, tf.nn.relu(W), strides, padding.upper()).numpy()
                       + np.maximum(b, 0), 1e-6))):
        s = R / denominator
        c = tf.nn.conv2d_transpose(s, weights, a.shape, strides, padding.upper()).numpy()
        np.testing.assert_allclose(np.asarray(lrp_step(layer, a, R, rule)), a * c, rtol=1e-9,
                                   err_msg=repr(rule))


def test_max_pooling_by_its_gradient():
    model = small_vgg(seed=5)
    x = _images(seed=6)
    _, per_layer = lt.explain(model, x, 0, composites.EpsilonPlus(), return_layers=True)
    relevance = dict(per_layer)
    conv1 = model.get_layer("conv1")
    a = tf.constant(np.asarray(conv1(x)))
    with tf.GradientTape() as tape:
        tape.watch(a)
        pooled = tf.nn.max_pool2d(a, 2, 2, "VALID")
    gradient = tape.gradient(pooled, a, output_gradients=tf.constant(relevance["pool1"])).numpy()
    np.testing.assert_allclose(relevance["conv1"], gradient, rtol=1e-12)
    np.testing.assert_allclose(relevance["conv1"], _maxpool_relevance(a.numpy(), relevance["pool1"]),
                               rtol=1e-12)
    # max pooling conserves exactly
    np.testing.assert_allclose(relevance["conv1"].sum(), relevance["pool1"].sum(), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

def test_lrp0_equals_gradient_times_input():
    model = small_vgg(seed=7, dtype="float32")
    x = _images(seed=8).astype(np.float32)
    R = lt.explain(model, x, [2, 0, 1], rules.Z())
    gxi = lt.gradient_x_input(model, x, [2, 0, 1])
    np.testing.assert_allclose(R, gxi, rtol=1e-4, atol=1e-6)
    # ... and would notice a different rule
    assert not np.allclose(lt.explain(model, x, [2, 0, 1], rules.ZPlus()), gxi, atol=1e-3)


def test_lrp0_without_biases_conserves_the_target_logit_in_every_layer():
    model = small_vgg(seed=9, biases=False)
    x = _images(seed=10)
    R, per_layer = lt.explain(model, x, None, rules.Z(), return_layers=True)
    logits = np.asarray(model(x))
    top = logits.max(axis=1)
    # (not to 1e-12: average pooling's stabiliser ε = 1e-6 absorbs a little)
    np.testing.assert_allclose(R.reshape(3, -1).sum(1), top, rtol=1e-5)
    for name, r in per_layer:
        np.testing.assert_allclose(r.reshape(3, -1).sum(1), top, rtol=1e-5, err_msg=name)


def test_zplus_relevance_is_non_negative_for_non_negative_inputs():
    model = small_vgg(seed=11)
    x = _images(seed=12, low=0.0, high=1.0)
    logits = np.asarray(model(x))
    target = logits.argmax(1)
    assert np.all(logits.max(1) > 0)
    R, per_layer = lt.explain(model, x, target, rules.ZPlus(), return_layers=True)
    for name, r in per_layer:
        assert r.min() >= 0, name
    assert R.max() > 0


def test_zbox_conserves_the_relevance_of_the_first_layer():
    model = small_vgg(seed=13, biases=False)
    x = _images(seed=14)
    _, per_layer = lt.explain(model, x, 1, composites.EpsilonGammaBox(-1.0, 1.0),
                              return_layers=True)
    relevance = dict(per_layer)
    np.testing.assert_allclose(relevance["input"].reshape(3, -1).sum(1),
                               relevance["conv1"].reshape(3, -1).sum(1), rtol=1e-6)


@pytest.mark.slow
def test_batch_equals_one_by_one():
    model = small_vgg(seed=15, dtype="float32")
    x = _images(n=4, seed=16).astype(np.float32)
    target = [2, 1, 0, 2]
    for composite in (composites.EpsilonGammaBox(-1, 1), composites.EpsilonPlusFlat(),
                      composites.MontavonVGG16(-1, 1)):
        batch = lt.explain(model, x, target, composite)
        single = np.concatenate([lt.explain(model, x[i:i + 1], target[i], composite)
                                 for i in range(4)])
        np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------------------------
# Contract details
# --------------------------------------------------------------------------------------------

def test_return_layers_contract():
    model = small_vgg(seed=17)
    x = _images(seed=18)
    R, per_layer = lt.explain(model, x, [0, 1, 2], composites.EpsilonPlusFlat(),
                              return_layers=True)
    names = [n for n, _ in per_layer]
    assert names == ["input", "conv1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1",
                     "drop", "logits"]
    assert per_layer[0][1].shape == x.shape and np.array_equal(per_layer[0][1], R)
    logits = np.asarray(model(x))
    top = per_layer[-1][1]
    expected = np.zeros_like(logits)
    expected[[0, 1, 2], [0, 1, 2]] = logits[[0, 1, 2], [0, 1, 2]]
    np.testing.assert_allclose(top, expected, rtol=1e-12)
    assert all(isinstance(r, np.ndarray) for _, r in per_layer)


def test_target_none_int_and_sequence():
    model = small_vgg(seed=19)
    x = _images(seed=20)
    logits = np.asarray(model(x))
    top = logits.argmax(1)
    np.testing.assert_array_equal(lt.explain(model, x, None, rules.Z()),
                                  lt.explain(model, x, list(top), rules.Z()))
    as_int, per_layer = lt.explain(model, x, 2, rules.Z(), return_layers=True)
    np.testing.assert_array_equal(as_int, lt.explain(model, x, np.array([2, 2, 2]), rules.Z()))
    # an int target starts every image at class 2's logit (computed here by model(x))
    start = np.zeros_like(logits)
    start[:, 2] = logits[:, 2]
    np.testing.assert_allclose(per_layer[-1][1], start, rtol=1e-12)
    assert not np.array_equal(as_int, lt.explain(model, x, 0, rules.Z()))


def test_softmax_is_ignored_and_the_model_is_not_modified():
    linear = small_vgg(seed=21)
    softmax = small_vgg(seed=21, final="softmax")
    x = _images(seed=22)
    np.testing.assert_allclose(lt.explain(softmax, x, 1), lt.explain(linear, x, 1), rtol=1e-12)
    assert softmax.get_layer("logits").activation.__name__ == "softmax"
    np.testing.assert_allclose(np.asarray(softmax(x)).sum(1), 1.0)
    # a separate Softmax / Activation("softmax") layer at the end is dropped as well
    for last in (L.Softmax(dtype="float64"), L.Activation("softmax", dtype="float64")):
        chained = keras.Sequential([*linear.layers, last])
        chained.build((None, 8, 8, 2))
        np.testing.assert_allclose(lt.explain(chained, x, 1), lt.explain(linear, x, 1),
                                   rtol=1e-12)


def test_functional_chain_and_nested_sequential():
    model = small_vgg(seed=23)
    x = _images(seed=24)
    inputs = keras.Input((8, 8, 2), dtype="float64")
    functional = keras.Model(inputs, model(inputs))  # a Sequential nested in a functional model
    h = inputs
    for layer in model.layers:
        h = layer(h)
    flat = keras.Model(inputs, h)
    expected = lt.explain(model, x, 0, composites.EpsilonGammaBox(-1, 1))
    for other in (functional, flat):
        np.testing.assert_allclose(lt.explain(other, x, 0, composites.EpsilonGammaBox(-1, 1)),
                                   expected, rtol=1e-12)


def test_activation_layers_and_global_average_pooling():
    rng = np.random.default_rng(25)
    model = keras.Sequential([
        keras.Input((6, 6, 2)), L.Conv2D(3, 3), L.Activation("relu"),
        L.Conv2D(4, 3, padding="same", activation="relu"), L.GlobalAveragePooling2D(),
        L.Dense(3), L.Activation("linear")])
    x = rng.uniform(-1, 1, size=(2, 6, 6, 2)).astype(np.float32)
    R = lt.explain(model, x, 0, rules.Z())
    np.testing.assert_allclose(R, lt.gradient_x_input(model, x, 0), rtol=1e-4, atol=1e-6)


def test_compiled_function_is_cached_and_not_retraced():
    from lrp_teach.propagate import engine

    model = small_vgg(seed=26, dtype="float32")
    x = _images(seed=27).astype(np.float32)
    lt.explain(model, x, 0, composites.EpsilonPlusFlat())
    lt.explain(model, x + 0.5, [1, 2, 0], composites.EpsilonPlusFlat())  # new composite object
    lt.gradient(model, x, 0)  # the baselines share the one cache
    cached = engine._CACHE[model]
    assert sorted(key[0] for key in cached) == ["gradient", "lrp"]
    explainers = [value for key, value in cached.items() if key[0] == "lrp"]
    assert len(explainers) == 1
    assert explainers[0].function.experimental_get_tracing_count() == 1
    # weights changed after the first call are used (variables are read, not baked in)
    before = lt.explain(model, x, 0, composites.EpsilonPlusFlat())
    layer = model.get_layer("logits")
    layer.kernel.assign(2 * np.asarray(layer.kernel))
    layer.bias.assign(2 * np.asarray(layer.bias))
    np.testing.assert_allclose(lt.explain(model, x, 0, composites.EpsilonPlusFlat()), 2 * before,
                               rtol=1e-4, atol=1e-7)
    assert explainers[0].function.experimental_get_tracing_count() == 1


def _op_types(model, x, composite):
    from lrp_teach.propagate import engine

    lt.explain(model, x, 0, composite)
    (explainer,) = [value for key, value in engine._CACHE[model].items() if key[0] == "lrp"]
    graph = explainer.function.get_concrete_function(
        tf.constant(x), tf.constant(np.zeros(len(x), np.int32))).graph
    engine._CACHE.pop(model)
    return [op.type for op in graph.get_operations()]


def test_denominators_proven_non_negative_skip_the_sign():
    """z⁺ on inputs ≥ 0 has z = a·W⁺ + b⁺ ≥ 0, so z + ε·sign(z) = z + ε: the compiled step 2
    takes no sign (no ``z >= 0`` comparison). Layers whose z has either sign (LRP-ε, the
    proportional pass of average pooling) take it. small_vgg has 5 layers that divide by a z:
    3 z⁺ layers (conv1, conv2, fc1), the logits and one average pooling; every one keeps the
    zero guard (DivNoNan)."""
    model = small_vgg(seed=28, dtype="float32")
    x = np.abs(_images(seed=29)).astype(np.float32)
    plus = composites.Composite(by_name={"logits": rules.Epsilon()}, default=rules.ZPlus())
    ops = _op_types(model, x, plus)
    everywhere = _op_types(model, x, rules.Epsilon(0.1))
    assert ops.count("DivNoNan") == everywhere.count("DivNoNan") == 5
    assert everywhere.count("GreaterEqual") - ops.count("GreaterEqual") == 3
    assert everywhere.count("SelectV2") - ops.count("SelectV2") == 3


def test_composite_assignment_of_the_presets():
    model = small_vgg()
    layers = model.layers
    names = {layers[i].name: r for i, r in composites.EpsilonGammaBox(-1, 1).assign(layers).items()}
    assert names == {"conv1": rules.ZBox(-1, 1), "conv2": rules.Gamma(0.25),
                     "fc1": rules.Epsilon(1e-6), "logits": rules.Epsilon(1e-6)}
    names = {layers[i].name: r for i, r in composites.EpsilonPlusFlat().assign(layers).items()}
    assert names["conv1"] == rules.Flat() and names["conv2"] == rules.ZPlus()
    custom = composites.Composite(by_name={"fc1": rules.Z()}, by_class={L.Conv2D: rules.ZPlus()},
                                  default=rules.Epsilon(0.5), first=rules.WSquare())
    names = {layers[i].name: r for i, r in custom.assign(layers).items()}
    assert names == {"conv1": rules.WSquare(), "conv2": rules.ZPlus(), "fc1": rules.Z(),
                     "logits": rules.Epsilon(0.5)}


def test_montavon_vgg16_layer_ranges_on_vgg16_names():
    class Fake:
        def __init__(self, name, cls):
            self.name = name
            self.__class__ = type(cls, (Fake,), {})

    blocks = [2, 2, 3, 3, 3]
    layers = []
    for b, n in enumerate(blocks, 1):
        layers += [Fake(f"block{b}_conv{i}", "Conv2D") for i in range(1, n + 1)]
        layers.append(Fake(f"block{b}_pool", "MaxPooling2D"))
    layers += [Fake("flatten", "Flatten"), Fake("fc1", "Dense"), Fake("fc2", "Dense"),
               Fake("predictions", "Dense")]
    got = {layers[i].name: type(r).__name__ for i, r in
           composites.MontavonVGG16(-1, 1).assign(layers).items()}
    assert got["block1_conv1"] == "ZBox"
    assert {got[n] for n in ["block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
                             "block3_conv2", "block3_conv3"]} == {"Gamma"}
    assert {got[f"block{b}_conv{i}"] for b in (4, 5) for i in (1, 2, 3)} == {"Epsilon"}
    assert {got["fc1"], got["fc2"], got["predictions"]} == {"Z"}


def test_model_chain_lists_the_steps():
    steps = model_chain(small_vgg())
    assert [s.kind for s in steps] == ["conv", "maxpool", "conv", "relu", "avgpool", "flatten",
                                       "dense", "identity", "dense"]


@pytest.mark.slow
def test_vgg16_smoke():
    keras.utils.set_random_seed(0)
    model = keras.applications.VGG16(weights=None)
    x = np.random.default_rng(0).normal(0, 40, size=(1, 224, 224, 3)).astype(np.float32)
    low, high = images.VGG16_LOW, images.VGG16_HIGH
    R, per_layer = lt.explain(model, x, 281, composites.EpsilonGammaBox(low, high),
                              return_layers=True)
    assert R.shape == x.shape and np.all(np.isfinite(R))
    assert per_layer[-1][0] == "predictions"
    logit = per_layer[-1][1][0, 281]
    assert R.sum() == pytest.approx(logit, rel=0.05)
    assert lt.grad_cam(model, x, 281).shape == (1, 224, 224)


def test_rule_table_shows_the_rule_of_every_layer():
    from lrp_teach.propagate import rule_table

    table = rule_table(small_vgg(), composites.EpsilonGammaBox(-1, 1))
    assert table[0] == ("conv1", "Conv2D", "ZBox(low=-1.0, high=1.0)")
    assert table[1] == ("pool1", "MaxPooling2D", "gradient (winner takes all)")
    assert table[2] == ("conv2", "Conv2D", "Gamma(gamma=0.25)")
    assert table[-1] == ("logits", "Dense", "Epsilon(epsilon=1e-06)")


def test_first_layer_is_the_first_dense_when_there_is_no_convolution():
    rng = np.random.default_rng(30)
    model = keras.Sequential([keras.Input((5,)), L.Dense(4, activation="relu", name="d1"),
                              L.Dense(4, activation="relu", name="d2"), L.Dense(2, name="d3")])
    layers = model.layers
    flat = {layers[i].name: r for i, r in composites.EpsilonPlusFlat().assign(layers).items()}
    assert flat == {"d1": rules.Flat(), "d2": rules.Epsilon(1e-6), "d3": rules.Epsilon(1e-6)}
    montavon = {layers[i].name: r for i, r in composites.MontavonVGG16(-1, 1).assign(layers).items()}
    assert montavon == {"d1": rules.ZBox(-1, 1), "d2": rules.Z(), "d3": rules.Z()}
    x = rng.uniform(-1, 1, size=(2, 5)).astype(np.float32)
    R = lt.explain(model, x, 1, composites.EpsilonPlusFlat())
    assert R.shape == (2, 5) and np.all(np.isfinite(R))


def test_subclasses_of_supported_layers_are_read_by_isinstance():
    class MyConv(L.Conv2D):
        pass

    class MyDense(L.Dense):
        pass

    plain = small_vgg(seed=31)
    layers = []
    for layer in plain.layers:
        config = layer.get_config()
        if type(layer) is L.Conv2D:
            layer = MyConv.from_config(config)
        elif type(layer) is L.Dense:
            layer = MyDense.from_config(config)
        else:
            layer = type(layer).from_config(config)
        layers.append(layer)
    mine = keras.Sequential([keras.Input((8, 8, 2), dtype="float64"), *layers])
    mine.set_weights(plain.get_weights())
    x = _images(seed=32)
    assert [s.kind for s in model_chain(mine)] == [s.kind for s in model_chain(plain)]
    for composite in (composites.EpsilonGammaBox(-1, 1), composites.MontavonVGG16(-1, 1)):
        np.testing.assert_allclose(lt.explain(mine, x, 1, composite),
                                   lt.explain(plain, x, 1, composite), rtol=1e-12)


def test_by_name_is_the_one_registry_and_vgg16_delegates_to_it():
    from lrp_teach import images, vgg16

    assert vgg16.COMPOSITE_NAMES == composites.NAMES
    assert composites.by_name("epsilon") == rules.Epsilon(0.25)
    assert composites.by_name("Gamma", gamma=0.5) == rules.Gamma(0.5)
    with pytest.raises(ValueError, match=r"unknown composite 'nope'; choose one of: "
                                         r"epsilon_gamma_box, epsilon_plus_flat"):
        composites.by_name("nope")
    with pytest.raises(ValueError, match=r"'montavon_vgg16' puts z\^B on the first layer and "
                                         r"needs the input bounds"):
        composites.by_name("montavon_vgg16")
    # montavon_vgg16's epsilon is the upper convolutions' RELATIVE ε; its Dense layers stay LRP-0
    montavon = vgg16.make_composite("montavon-vgg16", epsilon=0.1, gamma=0.5)
    assert isinstance(montavon, composites.MontavonVGG16)
    assert montavon.epsilon == rules.Epsilon(0.1, relative=True)
    assert montavon.gamma == rules.Gamma(0.5) and montavon.zero == rules.Z()
    assert montavon.box == rules.ZBox(images.VGG16_LOW, images.VGG16_HIGH)
    box = vgg16.make_composite("epsilon_gamma_box", epsilon=0.01)
    assert box.by_class["Dense"] == rules.Epsilon(0.01) and box.first == montavon.box
