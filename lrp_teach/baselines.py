"""Explanations to compare LRP with, in the same call style as :func:`lrp_teach.explain`:

* :func:`gradient` -- saliency, ``∂ logit_t / ∂ x`` (Simonyan et al. 2014, without the absolute
  value: the sign is kept);
* :func:`gradient_x_input` -- ``x ⊙ ∂ logit_t / ∂ x`` (equals LRP-0 on a ReLU network);
* :func:`grad_cam` -- Grad-CAM (Selvaraju et al. 2017) on a layer's feature maps (default: the
  last convolution before the first global pooling/flatten layer, followed through its folded
  BatchNorm, ReLU and residual ``Add``; the last Conv2D of a chain): channel weights ``α_k = mean_{h,w} ∂ logit_t / ∂ A_k`` and map
  ``relu(Σ_k α_k A_k)``, bilinearly upsampled to the input's height and width.

All explain the LOGIT (a final softmax is ignored), accept the same ``target`` (None = top
class, an int, or N ints) and run as cached ``tf.function`` s.
"""

from __future__ import annotations

from . import propagate as _p
from .propagate.engine import chain_key, compiled
from .propagate.graph import consumers

__all__ = ["gradient", "gradient_x_input", "grad_cam"]


def _prepare(model, images, target):
    steps = _p.model_chain(model)
    dtype = _p.model_dtype(steps)
    array = _p.check_images(model, images, dtype)
    chosen = _p.check_target(target, array.shape[0], _p.num_classes(steps, model))
    return steps, dtype, array, chosen


def _target_logit(logits, target):
    from ._tf import tf

    chosen = tf.where(target < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), target)
    return tf.reduce_sum(logits * tf.one_hot(chosen, tf.shape(logits)[-1], dtype=logits.dtype))


def _gradient_function(steps, dtype):
    from ._tf import tf

    @tf.function(reduce_retracing=False, autograph=False)  # plain Python loops: nothing to convert
    def run(x, target):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = _p.forward(steps, x, dtype).outputs
            # images are independent, so the gradient of the sum is each image's own gradient
            logit = _target_logit(outputs[-1], target)
        return tape.gradient(logit, x)

    return run


def gradient(model, images, target=None):
    """``∂ logit_target / ∂ images`` -- an array with the shape of ``images``."""
    steps, dtype, array, chosen = _prepare(model, images, target)
    return _run_gradient(model, steps, dtype, array, chosen)


def _run_gradient(model, steps, dtype, array, chosen):
    from ._tf import tf

    run = compiled(model, ("gradient", str(dtype), chain_key(steps)),
                   lambda: _gradient_function(steps, dtype))
    return run(tf.constant(array), tf.constant(chosen)).numpy()


def gradient_x_input(model, images, target=None):
    """``images ⊙ ∂ logit_target / ∂ images`` (LRP-0's result on ReLU networks)."""
    steps, dtype, array, chosen = _prepare(model, images, target)
    return array * _run_gradient(model, steps, dtype, array, chosen)


def _grad_cam_function(steps, dtype, index):
    from ._tf import tf

    @tf.function(reduce_retracing=False, autograph=False)  # plain Python loops: nothing to convert
    def run(x, target):
        with tf.GradientTape() as tape:
            outputs = _p.forward(steps, x, dtype, tape).outputs
            logit = _target_logit(outputs[-1], target)
        feature_maps = outputs[index]
        grads = tape.gradient(logit, feature_maps)
        weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)  # α_k per image
        cam = tf.nn.relu(tf.reduce_sum(weights * feature_maps, axis=-1))  # (N, h, w)
        size = tf.shape(x)[1:3]
        return tf.image.resize(cam[..., None], size, method="bilinear")[..., 0]

    return run


#: Steps whose output has the feature maps of the step before them, position by position.
_SAME_MAPS = ("folded", "relu", "identity", "add")
#: Steps whose output Grad-CAM may use (spatial feature maps).
_SPATIAL = ("conv", "depthwise", "maxpool", "avgpool", "relu", "identity", "folded", "add",
            "concat", "zeropad")


def default_feature_maps(steps):
    """Index of the step whose output Grad-CAM uses by default: the last convolution before the
    first global pooling / flatten / reshape step, then on through the steps that only pass its
    maps on (a folded BatchNorm, a ReLU, dropout, a residual ``Add``) while it is their only
    reader. VGG-16: block5_conv3; ResNet50: the last block's output after its ReLU."""
    convs = [i for i, s in enumerate(steps) if s.kind in ("conv", "depthwise")]
    if not convs:
        raise ValueError("grad_cam needs a Conv2D or DepthwiseConv2D layer, and the model has "
                         "none.")
    flat = [i for i, s in enumerate(steps) if s.kind in ("gap", "gmp", "flatten", "reshape")]
    before = [i for i in convs if not flat or i < flat[0]]
    index = before[-1] if before else convs[-1]
    readers = consumers(steps)
    while len(readers[index]) == 1 and steps[readers[index][0]].kind in _SAME_MAPS:
        index = readers[index][0]
    return index


def grad_cam(model, images, target=None, layer=None):
    """Grad-CAM map (N, H, W) for the target logit, upsampled to the input's H and W.

    layer : name (or the Keras layer object) of a layer whose output has shape (N, h, w, C)
        (a convolution, pooling, ReLU, Add, ... layer); default :func:`default_feature_maps`
        (for VGG-16: ``block5_conv3``). The map is not normalised (divide by its maximum for
        display).
    """
    from ._tf import tf

    steps, dtype, array, chosen = _prepare(model, images, target)
    if array.ndim != 4:
        raise ValueError(f"grad_cam needs images of shape (N, H, W, C), got {array.shape}.")
    if layer is None:
        index = default_feature_maps(steps)
    else:
        name = layer if isinstance(layer, str) else getattr(layer, "name", None)
        matches = [i for i, s in enumerate(steps) if s.name == name]
        if not matches:
            raise ValueError(f"grad_cam: no layer named {name!r}; the model's layers are "
                             f"{[s.name for s in steps]}.")
        index = matches[0]
        if steps[index].kind not in _SPATIAL:
            raise ValueError(f"grad_cam: layer {name!r} ({steps[index].class_name}) has no "
                             "spatial feature maps; pick a convolution or pooling layer.")
    run = compiled(model, ("grad_cam", index, str(dtype), chain_key(steps)),
                   lambda: _grad_cam_function(steps, dtype, index))
    return run(tf.constant(array), tf.constant(chosen)).numpy()
