"""VGG16 for LRP: the ImageNet weights found (or downloaded) honestly, and a labelled fallback.

The model is built for LRP: it outputs **logits** (``classifier_activation=None``), because LRP
explains one class's score, not the softmax vector (the lecture's code explained the softmax).
Without ImageNet weights, :func:`seeded_random_vgg16` gives the same architecture with seeded random
weights -- clearly *not* a trained network.

This module builds the model; the rest lives by job, and every name stays importable from here:

- where the weights come from (path, environment variable, Keras cache, download; md5 checks):
  :mod:`lrp_teach.weights`;
- composites by name: :func:`make_composite` here, the registry in :mod:`lrp_teach.composites`;
- the lecture's TF1 code, ported: :mod:`lrp_teach.lecture`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np

from . import composites as _composites
from .lecture import lecture_lrp  # noqa: F401  (the old name)
from .weights import (  # noqa: F401  (the old names)
    DEFAULT_ORIGIN,
    DEFAULT_TIMEOUT,
    ENV_MD5,
    ENV_ORIGIN,
    ENV_WEIGHTS,
    WEIGHTS_FILENAME,
    WEIGHTS_MD5,
    WEIGHTS_SIZE_MB,
    WeightsCorrupt,
    WeightsError,
    WeightsNotFound,
    WeightsSource,
    _expected_md5,
    _lookup_host,
    download_weights,
    file_md5,
    how_to_provide,
    keras_cache_path,
    keras_home,
    load_weights_file,
    resolve_weights,
    save_weights_h5,
    weight_search_locations,
    weights_url,
)

#: The 16 layers with weights, from the input to the logits (13 Conv2D, 3 Dense).
WEIGHT_LAYERS = (
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3",
    "block4_conv1", "block4_conv2", "block4_conv3",
    "block5_conv1", "block5_conv2", "block5_conv3",
    "fc1", "fc2", "predictions",
)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

def vgg16_architecture(input_shape=(224, 224, 3)):
    """Keras' VGG16 with 1000 **logits** as output (no softmax), random (unloaded) weights."""
    from ._tf import keras

    return keras.applications.VGG16(weights=None, include_top=True, input_shape=input_shape,
                                    classifier_activation=None)


def randomize_weights(model, seed: int = 0) -> None:
    """Set every kernel to He-normal random values (std sqrt(2 / fan_in)) and every bias to 0.

    NumPy's seeded generator makes the weights identical on every machine. He scaling keeps the
    activations' size roughly constant through the 16 ReLU layers, so the numbers stay readable.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if not layer.weights:
            continue
        values = []
        for variable in layer.weights:
            shape = tuple(variable.shape)
            if len(shape) == 1:
                values.append(np.zeros(shape, np.float32))
            else:
                fan_in = int(np.prod(shape[:-1]))
                values.append((rng.standard_normal(shape, dtype=np.float32)
                               * np.float32(np.sqrt(2.0 / fan_in))))
        layer.set_weights(values)


def seeded_random_vgg16(seed: int = 0, architecture: Callable | None = None):
    """VGG16 (logits) with **seeded random weights** -- NOT a trained network.

    Its predictions mean nothing; its heatmaps show what LRP does on an untrained net. Used where
    the ImageNet weights are unavailable (CI, offline students), always labelled as such.
    """
    model = (architecture or vgg16_architecture)()
    randomize_weights(model, seed)
    return model


def build_vgg16(weights="imagenet", *, download: bool = True, origin: str | None = None,
                timeout: float = DEFAULT_TIMEOUT, md5: str | None = None, progress: bool = True,
                architecture: Callable | None = None):
    """VGG16 for LRP (logits, no softmax) and where its weights came from.

    weights : ``"imagenet"`` (resolve as in :func:`resolve_weights`), a path to a ``.h5`` file,
        or ``None`` (Keras' random initialisation; not seeded -- see :func:`seeded_random_vgg16`).
    architecture : a function returning the (unloaded) model; default :func:`vgg16_architecture`.

    Returns ``(model, WeightsSource or None)``.
    """
    if weights is None:
        return (architecture or vgg16_architecture)(), None
    path = None if (isinstance(weights, str) and weights == "imagenet") else weights
    # Find the file first: building the model takes seconds, a missing file should not.
    source = resolve_weights(path, download=download, origin=origin, timeout=timeout, md5=md5,
                             progress=progress)
    model = (architecture or vgg16_architecture)()
    load_weights_file(model, source.path)
    return model, source


@dataclasses.dataclass
class CourseModel:
    """The VGG16 a notebook or the CLI works with, and an honest label for it.

    kind : ``"imagenet"`` (the Keras ImageNet weights), ``"file"`` (a weights file of your own,
        md5 stated by you) or ``"random"`` (seeded random weights: NOT trained).
    """

    model: object
    kind: str
    label: str
    source: WeightsSource | None
    reason: str | None = None

    @property
    def trained(self) -> bool:
        return self.kind == "imagenet"


def course_vgg16(path=None, download: bool = False, seed: int = 0, fallback: bool = True,
                 origin: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 md5: str | None = None, architecture: Callable | None = None) -> CourseModel:
    """The course's VGG16: ImageNet weights if they can be found, else (``fallback``) seeded random.

    Downloads only if ``download`` is True (528 MB). Files you pointed to that are wrong raise
    :class:`WeightsCorrupt` instead of falling back: you asked for them.
    """
    try:
        model, source = build_vgg16(path or "imagenet", download=download, origin=origin,
                                    timeout=timeout, md5=md5, architecture=architecture)
    except WeightsNotFound as error:
        # A file you pointed to (path or environment variable) that is missing is an error, never
        # a silent switch to random weights.
        if not fallback or path or os.environ.get(ENV_WEIGHTS):
            raise
        model = seeded_random_vgg16(seed, architecture=architecture)
        label = (f"seeded random VGG16 (seed {seed}) -- NOT trained: its predictions and "
                 "heatmaps show what an untrained network outputs")
        return CourseModel(model, "random", label, None, reason=str(error))
    kind = "imagenet" if source.is_keras_imagenet else "file"
    return CourseModel(model, kind, source.describe(), source)


# --------------------------------------------------------------------------------------------
# Composites by name (the CLI and the explorer widget)
# --------------------------------------------------------------------------------------------

#: Names accepted by :func:`make_composite` (composites first, then single rules): the one
#: registry's :data:`lrp_teach.composites.NAMES`, under its old name.
COMPOSITE_NAMES = _composites.NAMES


def make_composite(name: str, epsilon: float | None = None, gamma: float | None = None):
    """A composite (or single rule) for VGG16 by name: :func:`lrp_teach.composites.by_name` with
    the caffe pixel box ``images.VGG16_LOW`` / ``VGG16_HIGH`` where the composite uses z^B.
    ``epsilon`` overrides the Dense layers' ε of the ε presets, the upper convolutions' relative
    ε of ``montavon_vgg16`` (its Dense layers use LRP-0) and the rule's ε of ``epsilon``;
    ``gamma`` overrides γ (the convolutions after the first; for ``montavon_vgg16`` the lower
    ones).
    """
    from . import composites, images

    return composites.by_name(name, low=images.VGG16_LOW, high=images.VGG16_HIGH,
                              epsilon=epsilon, gamma=gamma)
