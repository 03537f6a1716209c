"""Small functional models with branches, for the engine's DAG tests: an EfficientNet-Lite0-
shaped network (stem conv → BN → ReLU6, MBConv blocks with depthwise convolutions and residual
adds, head conv → BN → ReLU6, global average pooling, Dense logits) with random weights and
random BatchNorm statistics."""

from __future__ import annotations

import numpy as np

from lrp_teach._tf import keras

L = keras.layers


def randomize(model, seed, scale=0.5):
    """Random kernels/biases (N(0, scale)) and BatchNorm statistics (variance in [0.5, 2], γ of
    either sign), so that folding and every rule see non-trivial numbers."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        name = weight.path.split("/")[-1]
        shape = tuple(weight.shape)
        if name == "moving_variance":
            value = rng.uniform(0.5, 2.0, size=shape)
        elif name == "gamma":
            value = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        elif name in ("moving_mean", "beta", "bias"):
            value = rng.normal(0, 0.2, size=shape)
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            if "depthwise" in weight.path or len(shape) == 4 and shape[-1] == 1:
                fan_in = int(np.prod(shape[:2]))
            value = rng.normal(0, scale * np.sqrt(2.0 / max(fan_in, 1)) * 1.5, size=shape)
        weight.assign(value.astype(weight.dtype))
    return model


def _conv_bn(x, filters, kernel, name, strides=1, relu6=True, dtype="float32", padding="same"):
    x = L.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, dtype=dtype,
                 name=f"{name}_conv")(x)
    x = L.BatchNormalization(epsilon=1e-3, dtype=dtype, name=f"{name}_bn")(x)
    if relu6:
        x = L.ReLU(6.0, dtype=dtype, name=f"{name}_relu")(x)
    return x


def _mbconv(x, name, expand, out, kernel, strides, dtype):
    inputs, channels = x, x.shape[-1]
    if expand != 1:
        x = _conv_bn(x, channels * expand, 1, f"{name}_expand", dtype=dtype)
    padding = "same"
    if strides == 2:  # TF "same" for stride 2 as an explicit ZeroPadding2D + "valid"
        x = L.ZeroPadding2D(((kernel // 2 - 1, kernel // 2), (kernel // 2 - 1, kernel // 2)),
                            dtype=dtype, name=f"{name}_pad")(x)
        padding = "valid"
    x = L.DepthwiseConv2D(kernel, strides=strides, padding=padding, use_bias=False, dtype=dtype,
                          name=f"{name}_dwconv")(x)
    x = L.BatchNormalization(epsilon=1e-3, dtype=dtype, name=f"{name}_dwbn")(x)
    x = L.ReLU(6.0, dtype=dtype, name=f"{name}_dwrelu")(x)
    x = _conv_bn(x, out, 1, f"{name}_project", relu6=False, dtype=dtype)
    if strides == 1 and channels == out:
        x = L.Add(dtype=dtype, name=f"{name}_add")([x, inputs])
    return x


def lite0_like(seed=0, dtype="float32", size=32, classes=10, width=8):
    """An EfficientNet-Lite0-shaped functional model, scaled down: 32×32×3 input, stem
    ZeroPadding2D + Conv2D(stride 2, use_bias=False) → BN → ReLU6, three MBConv blocks (one
    without expansion and with a residual Add, one with stride 2 and ZeroPadding2D, one with
    expansion and a residual Add), head 1×1 conv → BN → ReLU6, global average pooling,
    Dense logits."""
    inputs = keras.Input((size, size, 3), dtype=dtype, name="image")
    x = L.ZeroPadding2D(((0, 1), (0, 1)), dtype=dtype, name="stem_pad")(inputs)
    x = _conv_bn(x, width, 3, "stem", strides=2, dtype=dtype, padding="valid")
    x = _mbconv(x, "block1", 1, width, 3, 1, dtype)
    x = _mbconv(x, "block2", 3, width + 4, 3, 2, dtype)
    x = _mbconv(x, "block3", 3, width + 4, 5, 1, dtype)
    x = _conv_bn(x, 4 * width, 1, "head", dtype=dtype)
    x = L.GlobalAveragePooling2D(dtype=dtype, name="pool")(x)
    x = L.Dropout(0.2, dtype=dtype, name="dropout")(x)
    outputs = L.Dense(classes, dtype=dtype, name="logits")(x)
    return randomize(keras.Model(inputs, outputs, name="lite0_like"), seed)
