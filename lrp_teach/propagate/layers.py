"""The one table of layer types the engine understands.

Each entry of :data:`HANDLERS` is one Keras layer class (matched with ``isinstance``, so
subclasses work) and says

* how to READ the layer: check its configuration and turn it into a :class:`Step` (or ``None``
  to leave it out, like a final softmax), raising a ``ValueError`` that names the layer;
* how the plain FORWARD pass goes through it (the same TensorFlow ops Keras uses);
* how RELEVANCE passes through it (:data:`PASSING`): ``"rule"`` (the composite's rule in the
  generic four-step step, :mod:`lrp_teach.propagate.step`), ``"proportional"`` (the same four
  steps with LRP-0, ε = 1e-6, ρ = identity: zennit's ``Norm`` for average pooling),
  ``"sum"`` (``Add``: each input gets its share ``x_i / Σx``, the same LRP-0 with ε = 1e-6),
  ``"gradient"`` (max pooling: winner takes all; GlobalMaxPooling2D's gradient shares it
  equally among tied maxima), ``"slice"`` (``Concatenate``: each input
  gets its part), ``"crop"`` (``ZeroPadding2D``: the padding gets nothing), ``"reshape"`` or
  ``"unchanged"``.

Adding a layer type = adding one entry. Anything not in the table is an error before any
computation. A BatchNormalization directly after a Conv2D/DepthwiseConv2D/Dense without
activation is folded into that layer's weights at explain time (:mod:`lrp_teach.canonizers`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Callable

from .. import canonizers

#: Stabiliser of the proportional (LRP-0) passes through average pooling and ``Add``
#: (zennit's ``Norm``; PASSING below says it in words).
NORM_EPSILON = 1e-6

_FINAL_ACTIVATIONS = ("softmax", "sigmoid", "linear")
#: Activations read as a ReLU: name -> its upper clip (None: no clip).
_RELUS = {"relu": None, "relu6": 6.0}


@dataclass
class Step:
    """One layer of the model as the engine sees it (a node of the graph)."""

    name: str
    kind: str  # the handler's kind: conv | depthwise | dense | maxpool | add | relu | ...
    layer_ref: object  # weakref to the Keras layer (the cache must not keep models alive)
    class_name: str
    handler: "Handler" = None
    relu: bool = False  # Conv2D/DepthwiseConv2D/Dense with activation='relu' or 'relu6'
    config: dict = field(default_factory=dict)
    fold: object = None  # a canonizers.BatchNormFold merged into this layer's weights
    inputs: tuple = ()  # the steps whose outputs this step reads (-1: the model's input)

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
    read: Callable  # (layer, context: Context) -> Step | None
    forward: Callable  # (step, a, weights) -> (pre-activation z or None, output)
    relevance: str  # a key of PASSING
    weighted: bool = False  # has a kernel and gets a rule from the composite
    inputs: int = 1  # how many tensors it reads (0: any number, at least 2)


@dataclass
class Context:
    """What a handler may know about where its layer sits in the graph."""

    last: bool  # its output is the model's output
    sources: list  # the Step behind each input (None: the model's input)
    shared: list  # per input: that tensor is read by another layer too


def describe(layer) -> str:
    return f"layer '{layer.name}' ({type(layer).__name__})"


def _activation_name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _step(layer, kind, **kwargs):
    return Step(layer.name, kind, weakref.ref(layer), type(layer).__name__, **kwargs)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def _read_linear(layer, context, kind):
    if kind == "conv" and getattr(layer, "groups", 1) != 1:
        raise ValueError(f"{describe(layer)} has groups={layer.groups}; the LRP engine supports "
                         "ordinary convolutions (groups=1) and DepthwiseConv2D only.")
    if getattr(layer, "lora_enabled", False):
        raise ValueError(f"{describe(layer)} has LoRA enabled; merge it first.")
    act = _activation_name(layer.activation)
    last = context.last
    if act not in ("linear", *_RELUS) and not (last and act in _FINAL_ACTIVATIONS):
        where = ("the last layer may end in softmax, sigmoid or nothing" if last else
                 "hidden layers must use activation='relu', 'relu6' or none")
        raise ValueError(
            f"{describe(layer)} has activation='{act}': LRP rules here are derived for "
            f"piecewise-linear ReLU networks; {where}. Use activation='relu' (or a separate "
            "ReLU layer).")
    if last and act in _RELUS:
        raise ValueError(f"{describe(layer)} is the model's last layer and ends in a ReLU; LRP "
                         "explains a logit, so the last layer needs activation=None (or "
                         "'softmax').")
    return linear_step(layer, kind, relu=act in _RELUS, max_value=_RELUS.get(act))


def linear_step(layer, kind, relu=False, max_value=None):
    """The Step of a Dense ("dense"), Conv2D ("conv") or DepthwiseConv2D ("depthwise") layer,
    without the graph's checks."""
    config = {}
    if kind in ("conv", "depthwise"):
        config = dict(strides=tuple(layer.strides), padding=layer.padding.upper(),
                      dilations=tuple(layer.dilation_rate))
    if relu:
        config["max_value"] = max_value
    step = _step(layer, kind, relu=relu, config=config)
    step.handler = _BY_KIND[kind]
    return step


def _read_pool(layer, context, kind):
    return _step(layer, kind, config=dict(ksize=tuple(layer.pool_size),
                                          strides=tuple(layer.strides),
                                          padding=layer.padding.upper()))


def _read_global_pool(layer, context, kind):
    return _step(layer, kind, config=dict(keepdims=bool(getattr(layer, "keepdims", False))))


def _read_relu(layer, context):
    max_value = layer.max_value
    if (float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0
            or (max_value is not None and not float(max_value) > 0)):
        raise ValueError(f"{describe(layer)} is not a plain ReLU (max_value={layer.max_value}, "
                         f"negative_slope={layer.negative_slope}, threshold={layer.threshold}); "
                         "use keras.layers.ReLU() or ReLU(max_value=6.0).")
    return _step(layer, "relu",
                 config={"max_value": None if max_value is None else float(max_value)})


def _read_activation(layer, context):
    act = _activation_name(layer.activation)
    if act in _RELUS:
        return _step(layer, "relu", config={"max_value": _RELUS[act]})
    if act == "linear":
        return _step(layer, "identity")
    if context.last and act in _FINAL_ACTIVATIONS:
        return None  # explain the logit: drop the final softmax/sigmoid
    why = ("smooth activations (swish/silu, gelu, tanh, ...) are outside the piecewise-linear "
           "networks LRP's rules are derived for" if act not in _FINAL_ACTIVATIONS else
           "a softmax/sigmoid is allowed only as the last layer")
    raise ValueError(f"{describe(layer)} applies '{act}': {why}; only 'relu', 'relu6', "
                     "'linear' (hidden) and 'softmax'/'sigmoid' (last layer) are supported.")


def _read_softmax(layer, context):
    if context.last:
        return None  # explain the logit
    raise unsupported(layer, " (a softmax is allowed only as the last layer)")


def _read_batch_norm(layer, context):
    previous = context.sources[0]
    try:
        fold = canonizers.BatchNormFold.check(layer, previous, context.shared[0])
    except canonizers.CannotFold as error:
        raise unsupported(layer, f" here: {error}. {canonizers.WHERE_SUPPORTED}; "
                                 f"{describe(layer)} must follow one") from None
    previous.fold = fold
    return _step(layer, "folded", config={"into": previous.name})


def _read_zero_padding(layer, context):
    (top, bottom), (left, right) = (tuple(int(p) for p in pair) for pair in layer.padding)
    return _step(layer, "zeropad", config={"paddings": ((0, 0), (top, bottom), (left, right),
                                                        (0, 0))})


def _read_reshape(layer, context):
    return _step(layer, "reshape", config={"shape": tuple(int(d) for d in layer.target_shape)})


def _read_add(layer, context):
    return _step(layer, "add")


def _read_concatenate(layer, context):
    try:
        sizes = [int(tensor.shape[layer.axis]) for tensor in layer.input]
        rank = len(layer.input[0].shape)
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - an odd Keras object
        raise ValueError(f"{describe(layer)}: cannot read the sizes of its inputs along axis "
                         f"{layer.axis}.") from None
    axis = layer.axis % rank
    if axis == 0:
        raise ValueError(f"{describe(layer)} concatenates along the batch axis; the LRP engine "
                         "supports concatenation of feature axes only.")
    return _step(layer, "concat", config={"axis": axis, "sizes": tuple(sizes)})


# --------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------

def layer_weights(step, dtype):
    """(kernel, bias or None) of a weighted step in ``dtype``, any BatchNorm folded in."""
    from .._tf import tf

    layer = step.layer
    kernel = tf.cast(tf.convert_to_tensor(layer.kernel), dtype)
    bias = tf.cast(tf.convert_to_tensor(layer.bias), dtype) if layer.use_bias else None
    if step.fold is not None:
        kernel, bias = step.fold.fold(kernel, bias, dtype, depthwise=step.kind == "depthwise")
    return kernel, bias


def linear(step, x, kernel, bias):
    """``x ⊛ kernel + bias`` for a Conv2D, DepthwiseConv2D or Dense step (bias may be None)."""
    from .._tf import tf

    if step.kind == "conv":
        z = tf.nn.convolution(x, kernel, strides=step.config["strides"],
                              padding=step.config["padding"], dilations=step.config["dilations"])
    elif step.kind == "depthwise":
        strides = step.config["strides"]
        z = tf.nn.depthwise_conv2d(x, kernel, strides=(1, *strides, 1),
                                   padding=step.config["padding"],
                                   dilations=step.config["dilations"])
    else:
        z = tf.matmul(x, kernel)
    if bias is not None:
        z = tf.nn.bias_add(z, bias) if len(z.shape) > 1 else z + bias
    return z


def relu(a, max_value=None):
    """``max(a, 0)``, clipped at ``max_value`` (ReLU6: 6) when given."""
    from .._tf import tf

    if max_value is None:
        return tf.nn.relu(a)
    if max_value == 6.0 and not _onednn_on():
        return tf.nn.relu6(a)
    # with oneDNN also for 6 (the same values as tf.nn.relu6): TensorFlow fuses a Relu6 into the
    # convolution before it, and oneDNN's fused conv + bias + Relu6 kernel was 2-3x slower than
    # conv + bias + Relu and a separate Minimum (EfficientNet-Lite0's 1x1 convolutions, batch 1,
    # 2 threads, TF 2.21); without oneDNN the fused Relu6 is the faster one (by 4-8 % on the
    # whole LRP pass). LRP passes relevance through a ReLU unchanged, so only the gradient
    # baselines can see the difference, at an input of exactly 6: Minimum's gradient passes it,
    # Relu6's blocks it.
    return tf.minimum(tf.nn.relu(a), tf.constant(max_value, a.dtype))


def _onednn_on() -> bool:
    """TensorFlow's oneDNN kernels are on (its own answer; True if it cannot be asked)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):  # pragma: no cover - a TensorFlow without it
        return True


def _forward_linear(step, a, weights):
    z = linear(step, a, *weights)
    return z, (relu(z, step.config["max_value"]) if step.relu else z)


def _forward_op(name):
    def forward(step, a, weights):
        from .._tf import tf

        if name == "max_pool2d":
            return None, tf.nn.max_pool2d(a, **step.config)
        if name == "avg_pool2d":
            return None, tf.nn.avg_pool2d(a, **step.config)
        if name == "gap":
            return None, tf.reduce_mean(a, axis=[1, 2], keepdims=step.config["keepdims"])
        if name == "gmp":
            return None, tf.reduce_max(a, axis=[1, 2], keepdims=step.config["keepdims"])
        if name == "flatten":
            return None, tf.reshape(a, [tf.shape(a)[0], -1])
        if name == "reshape":
            return None, tf.reshape(a, [tf.shape(a)[0], *step.config["shape"]])
        if name == "zeropad":
            return None, tf.pad(a, step.config["paddings"])
        if name == "relu":
            return None, relu(a, step.config.get("max_value"))
        if name == "add":
            return None, tf.add_n(list(a))
        if name == "concat":
            return None, tf.concat(list(a), axis=step.config["axis"])
        return None, a  # identity
    return forward


def _skip(layer, context):
    return None


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------

HANDLERS = (
    Handler("input", "InputLayer", "InputLayer", _skip, _forward_op("identity"), "unchanged"),
    Handler("conv", "Conv2D", "Conv2D", lambda l, c: _read_linear(l, c, "conv"),
            _forward_linear, "rule", weighted=True),
    Handler("depthwise", "DepthwiseConv2D", "DepthwiseConv2D",
            lambda l, c: _read_linear(l, c, "depthwise"), _forward_linear, "rule",
            weighted=True),
    Handler("dense", "Dense", "Dense", lambda l, c: _read_linear(l, c, "dense"),
            _forward_linear, "rule", weighted=True),
    Handler("maxpool", "MaxPooling2D", "MaxPooling2D",
            lambda l, c: _read_pool(l, c, "maxpool"), _forward_op("max_pool2d"), "gradient"),
    Handler("avgpool", "AveragePooling2D", "AveragePooling2D",
            lambda l, c: _read_pool(l, c, "avgpool"), _forward_op("avg_pool2d"),
            "proportional"),
    Handler("gap", "GlobalAveragePooling2D", "GlobalAveragePooling2D",
            lambda l, c: _read_global_pool(l, c, "gap"), _forward_op("gap"), "proportional"),
    Handler("gmp", "GlobalMaxPooling2D", "GlobalMaxPooling2D",
            lambda l, c: _read_global_pool(l, c, "gmp"), _forward_op("gmp"), "gradient"),
    Handler("flatten", "Flatten", "Flatten", lambda l, c: _step(l, "flatten"),
            _forward_op("flatten"), "reshape"),
    Handler("reshape", "Reshape", "Reshape", _read_reshape, _forward_op("reshape"), "reshape"),
    Handler("zeropad", "ZeroPadding2D", "ZeroPadding2D", _read_zero_padding,
            _forward_op("zeropad"), "crop"),
    Handler("identity", "Dropout", "Dropout", lambda l, c: _step(l, "identity"),
            _forward_op("identity"), "unchanged"),
    Handler("relu", "ReLU", "ReLU (also max_value=6)", _read_relu, _forward_op("relu"),
            "unchanged"),
    Handler("activation", "Activation",
            "Activation ('relu', 'relu6' or 'linear'; 'softmax'/'sigmoid' only at the end)",
            _read_activation, None, "unchanged"),
    Handler("softmax", "Softmax", "Softmax (only at the end)", _read_softmax, None, "unchanged"),
    Handler("folded", "BatchNormalization",
            "BatchNormalization (directly after a Conv2D/DepthwiseConv2D/Dense without "
            "activation: folded into it)", _read_batch_norm, _forward_op("identity"),
            "unchanged"),
    Handler("add", "Add", "Add", _read_add, _forward_op("add"), "sum", inputs=0),
    Handler("concat", "Concatenate", "Concatenate", _read_concatenate, _forward_op("concat"),
            "slice", inputs=0),
)
# Activation layers read as a "relu" or "identity" step; every step's kind names its handler.
_BY_KIND = {h.kind: h for h in HANDLERS}

#: Layer classes the engine understands (everything else is an error before any computation).
SUPPORTED_LAYERS = tuple(h.supported for h in HANDLERS)
SUPPORTED_TEXT = ", ".join(SUPPORTED_LAYERS)

#: How relevance passes, in words (for :func:`lrp_teach.propagate.rule_table`).
PASSING = {"gradient": "gradient (winner takes all)",
           "proportional": "proportional (LRP-0, eps=1e-6)",
           "sum": "proportional to each input (LRP-0, eps=1e-6)",
           "slice": "split by slicing",
           "crop": "cropped (the padding gets nothing)",
           "reshape": "reshape", "unchanged": "unchanged"}

#: Why common layers outside the table are refused (appended to the error).
_WHY_NOT = {
    "Multiply": " (a product of two signals, e.g. squeeze-and-excitation, is not a linear "
                "layer followed by a ReLU: LRP's rules are not defined for it here)",
    "Subtract": " (only Add joins branches)", "Average": " (only Add joins branches)",
    "Maximum": " (only Add joins branches)", "Minimum": " (only Add joins branches)",
    "LayerNormalization": " (a normalisation by the input's own statistics is not linear)",
    "Rescaling": " (preprocess the images before the model instead)",
    "Normalization": " (preprocess the images before the model instead)",
}


def unsupported(layer, hint=""):
    return ValueError(f"Unsupported {describe(layer)}{hint}. The LRP engine supports: "
                      f"{SUPPORTED_TEXT}.")


def handler_of(layer):
    """The table entry for ``layer`` (first isinstance match), or ``None``."""
    cls = type(layer)
    if cls not in _HANDLER_OF_CLASS:  # once per class: explain() asks for every layer each call
        _HANDLER_OF_CLASS[cls] = _find_handler(layer)
    return _HANDLER_OF_CLASS[cls]


#: class -> its table entry (or None); weak keys, so classes defined in a notebook can go
_HANDLER_OF_CLASS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _find_handler(layer):
    from .._tf import keras

    for handler in HANDLERS:
        if isinstance(layer, getattr(keras.layers, handler.layer_class)):
            return handler
    return None


def read_layer(layer, context):
    """Check one layer and return its :class:`Step` (or None). Raises a ValueError naming it."""
    handler = handler_of(layer)
    if handler is None:
        hint = _WHY_NOT.get(type(layer).__name__, "")
        if hasattr(layer, "cell"):
            hint = " (recurrent layers are not supported)"
        raise unsupported(layer, hint)
    data_format = getattr(layer, "data_format", "channels_last")
    if data_format != "channels_last":
        raise ValueError(f"{describe(layer)} uses data_format='{data_format}'; the LRP engine "
                         "supports channels_last only (Keras' default).")
    count = len(context.sources)
    if handler.inputs == 1 and count != 1:
        raise ValueError(f"{describe(layer)} is called on {count} tensors; the engine reads it "
                         "on one.")
    if handler.inputs == 0 and count < 2:
        raise ValueError(f"{describe(layer)} joins {count} tensor(s); it needs at least two.")
    step = handler.read(layer, context)
    if step is not None:
        step.handler = _BY_KIND[step.kind]
    return step
