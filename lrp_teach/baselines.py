"""Explanations to compare LRP with, in the same call style as :func:`lrp_teach.explain`:

* :func:`gradient` -- saliency, ``∂ logit_t / ∂ x`` (Simonyan et al. 2014, without the absolute
  value: the sign is kept);
* :func:`gradient_x_input` -- ``x ⊙ ∂ logit_t / ∂ x`` (equals LRP-0 on a ReLU network);
* :func:`grad_cam` -- Grad-CAM (Selvaraju et al. 2017) on a convolution layer's output
  (default: the last Conv2D): channel weights ``α_k = mean_{h,w} ∂ logit_t / ∂ A_k`` and map
  ``relu(Σ_k α_k A_k)``, bilinearly upsampled to the input's height and width.

All explain the LOGIT (a final softmax is ignored), accept the same ``target`` (None = top
class, an int, or N ints) and run as cached ``tf.function`` s.
"""

from __future__ import annotations

from . import propagate as _p
from .propagate.engine import chain_key, compiled

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

    @tf.function(reduce_retracing=False)
    def run(x, target):
        with tf.GradientTape() as tape:
            tape.watch(x)
            _, _, outputs = _p.forward(steps, x, dtype)
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

    @tf.function(reduce_retracing=False)
    def run(x, target):
        with tf.GradientTape() as tape:
            _, _, outputs = _p.forward(steps, x, dtype, tape)
            logit = _target_logit(outputs[-1], target)
        feature_maps = outputs[index]
        grads = tape.gradient(logit, feature_maps)
        weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)  # α_k per image
        cam = tf.nn.relu(tf.reduce_sum(weights * feature_maps, axis=-1))  # (N, h, w)
        size = tf.shape(x)[1:3]
        return tf.image.resize(cam[..., None], size, method="bilinear")[..., 0]

    return run


def grad_cam(model, images, target=None, layer=None):
    """Grad-CAM map (N, H, W) for the target logit, upsampled to the input's H and W.

    layer : name (or the Keras layer object) of a Conv2D/pooling layer whose output has shape
        (N, h, w, C); default the last Conv2D (for VGG-16: ``block5_conv3``). The map is not
        normalised (divide by its maximum for display).
    """
    from ._tf import tf

    steps, dtype, array, chosen = _prepare(model, images, target)
    if array.ndim != 4:
        raise ValueError(f"grad_cam needs images of shape (N, H, W, C), got {array.shape}.")
    if layer is None:
        convs = [i for i, s in enumerate(steps) if s.kind == "conv"]
        if not convs:
            raise ValueError("grad_cam needs a Conv2D layer, and the model has none.")
        index = convs[-1]
    else:
        name = layer if isinstance(layer, str) else getattr(layer, "name", None)
        matches = [i for i, s in enumerate(steps) if s.name == name]
        if not matches:
            raise ValueError(f"grad_cam: no layer named {name!r}; the model's layers are "
                             f"{[s.name for s in steps]}.")
        index = matches[0]
        if steps[index].kind not in ("conv", "maxpool", "avgpool", "relu", "identity"):
            raise ValueError(f"grad_cam: layer {name!r} ({steps[index].class_name}) has no "
                             "spatial feature maps; pick a Conv2D or pooling layer.")
    run = compiled(model, ("grad_cam", index, str(dtype), chain_key(steps)),
                   lambda: _grad_cam_function(steps, dtype, index))
    return run(tf.constant(array), tf.constant(chosen)).numpy()
