"""The one table of layer types the engine understands.

Each entry of :data:`HANDLERS` is one Keras layer class (matched with ``isinstance``, so
subclasses work) and says

* how to READ the layer: check its configuration and turn it into a :class:`Step` (or ``None``
  to leave it out, like a final softmax), raising a ``ValueError`` that names the layer;
* how the plain FORWARD pass goes through it (the same TensorFlow ops Keras uses);
* how RELEVANCE passes through it: ``"rule"`` (the composite's rule in the generic four-step
  step, :mod:`lrp_teach.propagate.step`), ``"proportional"`` (the same four steps with LRP-0,
  ε = 1e-6, ρ = identity: zennit's ``Norm`` for average pooling), ``"gradient"`` (max pooling:
  winner takes all), ``"reshape"`` or ``"unchanged"``.

Adding a layer type = adding one entry. Anything not in the table is an error before any
computation. A BatchNormalization directly after a Conv2D/Dense without activation is folded into
that layer's weights at explain time (:mod:`lrp_teach.canonizers`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Callable

from .. import canonizers

#: Stabiliser of the proportional (LRP-0) pass through average pooling (zennit's ``Norm``;
#: PASSING below says it in words).
NORM_EPSILON = 1e-6

_FINAL_ACTIVATIONS = ("softmax", "sigmoid", "linear")


@dataclass
class Step:
    """One layer of the chain as the engine sees it."""

    name: str
    kind: str  # the handler's kind: conv | dense | maxpool | avgpool | gap | flatten | ...
    layer_ref: object  # weakref to the Keras layer (the cache must not keep models alive)
    class_name: str
    handler: "Handler" = None
    relu: bool = False  # Dense/Conv2D with activation='relu'
    config: dict = field(default_factory=dict)
    fold: object = None  # a canonizers.BatchNormFold merged into this layer's weights

    @property
    def layer(self):
        layer = self.layer_ref()
        if layer is None:  # pragma: no cover - only if a model died while its function retraces
            raise RuntimeError(f"layer {self.name} no longer exists")
        return layer

    @property
    def weighted(self) -> bool:
        return self.handler.weighted


@dataclass(frozen=True)
class Handler:
    """How the engine reads one layer type and passes relevance through it."""

    kind: str
    layer_class: str  # name in keras.layers; matched with isinstance
    supported: str  # how the layer appears in the list of supported layers
    read: Callable  # (layer, last: bool, steps so far) -> Step | None
    forward: Callable  # (step, a, dtype) -> (pre-activation z or None, output)
    relevance: str  # rule | proportional | gradient | reshape | unchanged
    weighted: bool = False  # has a kernel and gets a rule from the composite


def describe(layer) -> str:
    return f"layer '{layer.name}' ({type(layer).__name__})"


def _activation_name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _step(layer, kind, **kwargs):
    return Step(layer.name, kind, weakref.ref(layer), type(layer).__name__, **kwargs)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def _read_linear(layer, last, steps, kind):
    if kind == "conv" and getattr(layer, "groups", 1) != 1:
        raise ValueError(f"{describe(layer)} has groups={layer.groups}; the LRP engine supports "
                         "ordinary convolutions (groups=1) only.")
    if getattr(layer, "lora_enabled", False):
        raise ValueError(f"{describe(layer)} has LoRA enabled; merge it first.")
    act = _activation_name(layer.activation)
    if act not in ("relu", "linear") and not (last and act in _FINAL_ACTIVATIONS):
        where = ("the last layer may end in softmax, sigmoid or nothing" if last else
                 "hidden layers must use activation='relu' or none")
        raise ValueError(
            f"{describe(layer)} has activation='{act}': LRP rules here are derived for "
            f"ReLU networks; {where}. Use activation='relu' (or a separate ReLU layer).")
    if last and act == "relu":
        raise ValueError(f"{describe(layer)} is the model's last layer and ends in a ReLU; LRP "
                         "explains a logit, so the last layer needs activation=None (or "
                         "'softmax').")
    return linear_step(layer, kind, relu=(act == "relu"))


def linear_step(layer, kind, relu=False):
    """The Step of a Dense ("dense") or Conv2D ("conv") layer, without the chain's checks."""
    config = {}
    if kind == "conv":
        config = dict(strides=tuple(layer.strides), padding=layer.padding.upper(),
                      dilations=tuple(layer.dilation_rate))
    step = _step(layer, kind, relu=relu, config=config)
    step.handler = _BY_KIND[kind]
    return step


def _read_pool(layer, last, steps, kind):
    return _step(layer, kind, config=dict(ksize=tuple(layer.pool_size),
                                          strides=tuple(layer.strides),
                                          padding=layer.padding.upper()))


def _read_gap(layer, last, steps):
    return _step(layer, "gap", config=dict(keepdims=bool(getattr(layer, "keepdims", False))))


def _read_relu(layer, last, steps):
    if (layer.max_value is not None or float(layer.negative_slope) != 0.0
            or float(layer.threshold) != 0.0):
        raise ValueError(f"{describe(layer)} is not a plain ReLU (max_value={layer.max_value}, "
                         f"negative_slope={layer.negative_slope}, threshold={layer.threshold}); "
                         "use keras.layers.ReLU().")
    return _step(layer, "relu")


def _read_activation(layer, last, steps):
    act = _activation_name(layer.activation)
    if act == "relu":
        return _step(layer, "relu")
    if act == "linear":
        return _step(layer, "identity")
    if last and act in _FINAL_ACTIVATIONS:
        return None  # explain the logit: drop the final softmax/sigmoid
    raise ValueError(f"{describe(layer)} applies '{act}': only 'relu' (hidden) and "
                     "'softmax'/'sigmoid' (last layer) are supported.")


def _read_softmax(layer, last, steps):
    if last:
        return None  # explain the logit
    raise unsupported(layer, " (a softmax is allowed only as the last layer)")


def _read_batch_norm(layer, last, steps):
    previous = steps[-1] if steps else None
    fold = canonizers.BatchNormFold.check(layer, previous)  # raises where it cannot fold
    previous.fold = fold
    return _step(layer, "folded", config={"into": previous.name})


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------

def layer_weights(step, dtype):
    """(kernel, bias or None) of a Dense/Conv2D step in ``dtype``, any BatchNorm folded in."""
    from .._tf import tf

    layer = step.layer
    kernel = tf.cast(tf.convert_to_tensor(layer.kernel), dtype)
    bias = tf.cast(tf.convert_to_tensor(layer.bias), dtype) if layer.use_bias else None
    if step.fold is not None:
        kernel, bias = step.fold.fold(kernel, bias, dtype)
    return kernel, bias


def linear(step, x, kernel, bias):
    """``x ⊛ kernel + bias`` for a Conv2D or Dense step (bias may be None)."""
    from .._tf import tf

    if step.kind == "conv":
        z = tf.nn.convolution(x, kernel, strides=step.config["strides"],
                              padding=step.config["padding"], dilations=step.config["dilations"])
    else:
        z = tf.matmul(x, kernel)
    if bias is not None:
        z = tf.nn.bias_add(z, bias) if len(z.shape) > 1 else z + bias
    return z


def _forward_linear(step, a, dtype):
    from .._tf import tf

    z = linear(step, a, *layer_weights(step, dtype))
    return z, (tf.nn.relu(z) if step.relu else z)


def _forward_op(name):
    def forward(step, a, dtype):
        from .._tf import tf

        if name == "max_pool2d":
            return None, tf.nn.max_pool2d(a, **step.config)
        if name == "avg_pool2d":
            return None, tf.nn.avg_pool2d(a, **step.config)
        if name == "gap":
            return None, tf.reduce_mean(a, axis=[1, 2], keepdims=step.config["keepdims"])
        if name == "flatten":
            return None, tf.reshape(a, [tf.shape(a)[0], -1])
        if name == "relu":
            return None, tf.nn.relu(a)
        return None, a  # identity
    return forward


def _skip(layer, last, steps):
    return None


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------

HANDLERS = (
    Handler("input", "InputLayer", "InputLayer", _skip, _forward_op("identity"), "unchanged"),
    Handler("conv", "Conv2D", "Conv2D", lambda l, last, s: _read_linear(l, last, s, "conv"),
            _forward_linear, "rule", weighted=True),
    Handler("dense", "Dense", "Dense", lambda l, last, s: _read_linear(l, last, s, "dense"),
            _forward_linear, "rule", weighted=True),
    Handler("maxpool", "MaxPooling2D", "MaxPooling2D",
            lambda l, last, s: _read_pool(l, last, s, "maxpool"), _forward_op("max_pool2d"),
            "gradient"),
    Handler("avgpool", "AveragePooling2D", "AveragePooling2D",
            lambda l, last, s: _read_pool(l, last, s, "avgpool"), _forward_op("avg_pool2d"),
            "proportional"),
    Handler("gap", "GlobalAveragePooling2D", "GlobalAveragePooling2D", _read_gap,
            _forward_op("gap"), "proportional"),
    Handler("flatten", "Flatten", "Flatten", lambda l, last, s: _step(l, "flatten"),
            _forward_op("flatten"), "reshape"),
    Handler("identity", "Dropout", "Dropout", lambda l, last, s: _step(l, "identity"),
            _forward_op("identity"), "unchanged"),
    Handler("relu", "ReLU", "ReLU", _read_relu, _forward_op("relu"), "unchanged"),
    Handler("activation", "Activation",
            "Activation ('relu' or 'linear'; 'softmax'/'sigmoid' only at the end)",
            _read_activation, None, "unchanged"),
    Handler("softmax", "Softmax", "Softmax (only at the end)", _read_softmax, None, "unchanged"),
    Handler("folded", "BatchNormalization",
            "BatchNormalization (directly after a Conv2D/Dense without activation: folded "
            "into it)", _read_batch_norm, _forward_op("identity"), "unchanged"),
)
# Activation layers read as a "relu" or "identity" step; every step's kind names its handler.
_BY_KIND = {h.kind: h for h in HANDLERS}

#: Layer classes the engine understands (everything else is an error before any computation).
SUPPORTED_LAYERS = tuple(h.supported for h in HANDLERS)
SUPPORTED_TEXT = ", ".join(SUPPORTED_LAYERS)

#: How relevance passes, in words (for :func:`lrp_teach.propagate.rule_table`).
PASSING = {"gradient": "gradient (winner takes all)",
           "proportional": "proportional (LRP-0, eps=1e-6)",
           "reshape": "reshape", "unchanged": "unchanged"}


def unsupported(layer, hint=""):
    return ValueError(f"Unsupported {describe(layer)}{hint}. The LRP engine supports: "
                      f"{SUPPORTED_TEXT}.")


def handler_of(layer):
    """The table entry for ``layer`` (first isinstance match), or ``None``."""
    from .._tf import keras

    for handler in HANDLERS:
        if isinstance(layer, getattr(keras.layers, handler.layer_class)):
            return handler
    return None


def read_layer(layer, last, steps):
    """Check one layer and return its :class:`Step` (or None). Raises a ValueError naming it."""
    handler = handler_of(layer)
    if handler is None:
        hint = ""
        if type(layer).__name__ in ("Add", "Concatenate", "Multiply", "Average", "Subtract"):
            hint = " (residual/branching models are not chains)"
        elif hasattr(layer, "cell"):
            hint = " (recurrent layers are not supported)"
        raise unsupported(layer, hint)
    data_format = getattr(layer, "data_format", "channels_last")
    if data_format != "channels_last":
        raise ValueError(f"{describe(layer)} uses data_format='{data_format}'; the LRP engine "
                         "supports channels_last only (Keras' default).")
    step = handler.read(layer, last, steps)
    if step is not None:
        step.handler = _BY_KIND[step.kind]
    return step
