"""Checks of what the user passes (images, target, rule bounds), shared with the baselines.
Each turns bad input into an error that names the problem and the fix."""

from __future__ import annotations

import numpy as np


def model_dtype(steps):
    layer = next(step for step in steps if step.weighted).layer
    return np.dtype(layer.kernel.dtype)


def check_images(model, images, dtype):
    """Return ``images`` as an array of the model's dtype, or raise a clear error."""
    try:
        array = np.asarray(images)
    except Exception as error:  # ragged lists etc.
        raise TypeError(f"images must be a numeric array of shape (N, ...): {error}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        raise TypeError(f"images must be a numeric array of shape (N, ...), got dtype "
                        f"{array.dtype}.")
    expected = tuple(model.inputs[0].shape) if model.inputs else None
    if expected is not None:
        shape_text = "(N, " + ", ".join("?" if d is None else str(d) for d in expected[1:]) + ")"
        wrong = array.ndim != len(expected) or any(
            d is not None and d != got for d, got in zip(expected[1:], array.shape[1:]))
        if wrong:
            hint = ""
            if array.ndim == len(expected) - 1:
                hint = " For a single image add the batch axis: images[None] (or [image])."
            raise ValueError(f"images has shape {array.shape}, but the model expects "
                             f"{shape_text}.{hint}")
    if array.shape[0] == 0:
        raise ValueError("images is empty (N = 0): pass at least one image.")
    array = array.astype(dtype, copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"images contains {bad} NaN or infinite value(s); LRP needs finite "
                         "inputs (check the preprocessing, e.g. a division by zero).")
    return array


def num_classes(steps, model):
    shape = tuple(model.outputs[0].shape) if model.outputs else None
    if shape is None or len(shape) != 2 or shape[-1] is None:
        raise ValueError(f"The model's output has shape {shape}; the LRP engine explains models "
                         "whose output is (N, classes) -- add Flatten/GlobalAveragePooling2D and "
                         "a Dense layer at the end.")
    return int(shape[-1])


def check_target(target, n_images, n_classes):
    """Return an int32 array (N,), -1 meaning "argmax logit"."""
    if target is None:
        return np.full(n_images, -1, dtype=np.int32)
    array = np.asarray(target)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
            array = array.astype(np.int64)
        else:
            raise TypeError(f"target must be None (the top class), an int class index or a "
                            f"sequence of N ints, got {target!r}.")
    if array.ndim == 0:
        array = np.full(n_images, int(array), dtype=np.int64)
    elif array.ndim != 1 or array.shape[0] != n_images:
        raise ValueError(f"target has shape {array.shape}, but there are {n_images} image(s): "
                         f"give one class index, or a sequence of {n_images} indices.")
    bad = array[(array < 0) | (array >= n_classes)]
    if bad.size:
        raise ValueError(f"target {int(bad[0])} is out of range: the model has {n_classes} "
                         f"classes (valid indices 0 .. {n_classes - 1}).")
    return array.astype(np.int32)


def _fits(value, shape):
    try:
        return np.broadcast_shapes(value.shape, tuple(shape)) == tuple(shape)
    except ValueError:
        return False


def _input_shape(steps, i):
    """The shape of the input of step ``i`` (without the batch axis), from the Keras tensor
    of the layer before it (public API), or None where it cannot be read."""
    try:
        (source,) = steps[i].inputs
        shape = tuple(steps[source].layer.output.shape)
    except (AttributeError, ValueError, TypeError):
        return None
    return None if any(d is None for d in shape[1:]) else tuple(shape[1:])


def check_named_inputs(steps, assignment, paths, image_shape):
    """Every rule's named inputs (z^B's bounds) must fit the layer they are used on: bounds of
    the images (broadcasting to one image) where the layer reads the images -- possibly
    zero-padded, then the bounds are padded with zeros likewise -- and bounds of the layer's own
    input everywhere else."""
    for index, rule in assignment.items():
        for name, value in rule.named_inputs().items():
            value = np.asarray(value)
            step = steps[index]
            if paths[index] is not None:
                if not _fits(value, image_shape):
                    raise ValueError(
                        f"{type(rule).__name__} {name} has shape {value.shape}, which does not "
                        f"broadcast to one image of shape {tuple(image_shape)}; give a scalar, "
                        f"one value per channel ({image_shape[-1]},), or a full image.")
                continue
            shape = _input_shape(steps, index)
            if shape is not None and not _fits(value, shape):
                raise ValueError(
                    f"{type(rule).__name__} {name} has shape {value.shape}, but it is used on "
                    f"layer '{step.name}' ({step.class_name}), whose input of shape {shape} is "
                    f"not the images: bounds there must broadcast to {shape}. z^B belongs on "
                    "the first layer, the one that reads the images.")
