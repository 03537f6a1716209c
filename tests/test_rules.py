"""Every LRP rule against a slow numpy reference written straight from its formula.

The reference treats a layer as a matrix W (inputs j x outputs k): a Dense layer is its kernel;
a Conv2D layer is unrolled into such a matrix with explicit loops over output positions and
kernel taps (plus a mask of which input feeds which output, needed by the flat rule). Each rule is
then written as the sum over j of the contributions ``z_jk``, with plain numpy, and compared with
the engine's generic step (:func:`lrp_teach.propagate.lrp_step`) and, in test_engine.py, with the
compiled engine on whole models.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from lrp_teach import rules
from lrp_teach._tf import keras
from lrp_teach.propagate import lrp_step

EPS_DEFAULT = 1e-6


# --------------------------------------------------------------------------------------------
# The reference (numpy, from the formulas)
# --------------------------------------------------------------------------------------------

def stabilize(z, epsilon):
    """z + ε·sign(z), sign(0) = +1."""
    return z + epsilon * np.where(z >= 0, 1.0, -1.0)


def safe_divide(numerator, denominator):
    out = np.zeros(np.broadcast_shapes(np.shape(numerator), np.shape(denominator)))
    np.divide(numerator, denominator, out=out, where=np.broadcast_to(denominator != 0, out.shape))
    return out


def redistribute(contributions, denominator, relevance):
    """R_j = Σ_k contributions_jk / denominator_k · R_k (zero denominators pass nothing)."""
    return (contributions * safe_divide(relevance, denominator)[None, :]).sum(axis=1)


def reference_rule(rule, a, W, b, mask, R, low=None, high=None):
    """Relevance of the inputs a (D,) of one linear layer z = a @ W + b, for the output relevance
    R (K,), written from the rule's formula. mask (D, K): which input feeds which output."""
    pos_a, neg_a = np.maximum(a, 0), np.minimum(a, 0)
    pos_W, neg_W = np.maximum(W, 0), np.minimum(W, 0)
    pos_b, neg_b = np.maximum(b, 0), np.minimum(b, 0)
    name = type(rule).__name__
    if name in ("Z", "Epsilon"):
        contrib = a[:, None] * W
        z = contrib.sum(0) + b
        if getattr(rule, "relative", False):
            eps = rule.epsilon * np.sqrt(np.mean(z ** 2))
        else:
            eps = rule.epsilon
        return redistribute(contrib, stabilize(z, eps), R)
    if name == "ZPlus":
        contrib = pos_a[:, None] * pos_W + neg_a[:, None] * neg_W
        return redistribute(contrib, stabilize(contrib.sum(0) + pos_b, EPS_DEFAULT), R)
    if name == "Gamma":
        g = rule.gamma
        plain = a @ W + b
        up_W, down_W = W + g * pos_W, W + g * neg_W
        contrib_up = pos_a[:, None] * up_W + neg_a[:, None] * down_W
        contrib_down = pos_a[:, None] * down_W + neg_a[:, None] * up_W
        z_up = contrib_up.sum(0) + b + g * pos_b
        z_down = contrib_down.sum(0) + b + g * neg_b
        R_up = np.where(plain > 0, R, 0.0)
        R_down = np.where(plain < 0, R, 0.0)
        return (redistribute(contrib_up, stabilize(z_up, EPS_DEFAULT), R_up)
                + redistribute(contrib_down, stabilize(z_down, EPS_DEFAULT), R_down))
    if name == "AlphaBeta":
        contrib_pos = pos_a[:, None] * pos_W + neg_a[:, None] * neg_W
        contrib_neg = pos_a[:, None] * neg_W + neg_a[:, None] * pos_W
        R_pos = redistribute(contrib_pos, stabilize(contrib_pos.sum(0) + pos_b, EPS_DEFAULT), R)
        R_neg = redistribute(contrib_neg, stabilize(contrib_neg.sum(0) + neg_b, EPS_DEFAULT), R)
        return rule.alpha * R_pos - rule.beta * R_neg
    if name == "WSquare":
        contrib = W ** 2 * mask
        return redistribute(contrib, stabilize(contrib.sum(0), EPS_DEFAULT), R)
    if name == "Flat":
        contrib = mask.astype(float)
        return redistribute(contrib, stabilize(contrib.sum(0), EPS_DEFAULT), R)
    if name == "ZBox":
        contrib = a[:, None] * W - low[:, None] * pos_W - high[:, None] * neg_W
        return redistribute(contrib, stabilize(contrib.sum(0), EPS_DEFAULT), R)
    raise AssertionError(name)


def _same_padding(size, kernel, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2


def conv_as_matrix(kernel, bias, in_shape, strides, padding):
    """Unroll a Conv2D (kernel (kh, kw, C, K)) on inputs (H, W, C) into W (H·W·C, OH·OW·K), bias and
    mask, by explicit loops over output positions and kernel taps (TensorFlow's padding)."""
    H, Wd, C = in_shape
    kh, kw, _, K = kernel.shape
    sy, sx = strides
    if padding == "same":
        OH, top = _same_padding(H, kh, sy)
        OW, left = _same_padding(Wd, kw, sx)
    else:
        OH, OW, top, left = (H - kh) // sy + 1, (Wd - kw) // sx + 1, 0, 0
    matrix = np.zeros((H * Wd * C, OH * OW * K))
    mask = np.zeros_like(matrix, dtype=bool)
    for oy in range(OH):
        for ox in range(OW):
            for dy in range(kh):
                for dx in range(kw):
                    y, x = oy * sy + dy - top, ox * sx + dx - left
                    if not (0 <= y < H and 0 <= x < Wd):
                        continue  # zero padding: no input there
                    for c in range(C):
                        j = (y * Wd + x) * C + c
                        for k in range(K):
                            col = (oy * OW + ox) * K + k
                            matrix[j, col] = kernel[dy, dx, c, k]
                            mask[j, col] = True
    return matrix, np.tile(bias, OH * OW), mask, (OH, OW, K)


def layer_matrix(layer, in_shape):
    """(W, b, mask, out_shape) of a Dense or Conv2D Keras layer for one input of in_shape."""
    kernel = np.asarray(layer.kernel, dtype=np.float64)
    bias = np.asarray(layer.bias, dtype=np.float64) if layer.use_bias else np.zeros(kernel.shape[-1])
    if type(layer).__name__ == "Dense":
        return kernel, bias, np.ones(kernel.shape, dtype=bool), (kernel.shape[1],)
    return conv_as_matrix(kernel, bias, in_shape, layer.strides, layer.padding)


def reference_layer(rule, layer, a, R):
    """Reference relevance of a batch: a (N, *in_shape), R (N, *out_shape)."""
    W, b, mask, out_shape = layer_matrix(layer, a.shape[1:])
    result = []
    for n in range(a.shape[0]):
        low = high = None
        if isinstance(rule, rules.ZBox):
            low = np.broadcast_to(rule.low, a.shape[1:]).reshape(-1)
            high = np.broadcast_to(rule.high, a.shape[1:]).reshape(-1)
        result.append(reference_rule(rule, a[n].reshape(-1).astype(np.float64), W, b, mask,
                                     R[n].reshape(-1).astype(np.float64), low, high))
    return np.stack(result).reshape(a.shape)


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
