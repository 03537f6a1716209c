"""Measuring explanations: against a ground-truth mask, by pixel flipping, and by randomisation.

All functions take relevance maps for a batch, shape (N, H, W) or (N, H, W, C) (channels are
summed: a pixel's relevance is the sum over its colour channels), and return one number per image
unless said otherwise, so that a table can show the mean and a plot the spread.

Ground-truth metrics (Arras, Osman & Samek 2022, "CLEVR-XAI"), with GT the mask of the object
that decides the class:

- relevance mass accuracy  = sum of R_p over p in GT, R_p > 0  /  sum of R_p over all p, R_p > 0
- relevance rank accuracy  = |top-K pixels by R  ∩  GT| / K,   K = |GT|
- pointing game            = 1 if argmax_p R_p lies in GT, else 0   (Zhang et al. 2016)

Pixel flipping (Samek et al. 2017): replace the pixels in order of decreasing relevance (most
relevant first), a few at a time, and record the explained logit f(x^(k)) after each step. A good
explanation finds the evidence first, so the logit drops fast. Its summary is the area over the
perturbation curve

    AOPC = 1/(L+1) * sum_{k=0..L} ( f(x^(0)) - f(x^(k)) )     (higher = better).

Flipping the least relevant pixels first should, conversely, keep the logit up; the difference
AOPC(most first) - AOPC(least first) removes what any replacement does to a network (the new
pixels are out of distribution) and keeps what the ordering contributes.

Sanity check (Adebayo et al. 2018): re-initialise the layers from the top down
(:func:`cascading_randomization`) and compare each method's maps with the original ones
(:func:`spearman_rank_correlation` of |R|). A method whose maps hardly change when the weights
become random does not explain the model.

The answers of the exercises in notebooks 04 and 05 are here too (:func:`initial_relevance`,
:func:`negative_share`, :func:`layer_totals`, :func:`object_evidence`): the cells after an
exercise use them, so a notebook runs whether or not the exercise was solved, and the checkers
in ``lrp_teach.exercises`` use them as their reference.
"""

from __future__ import annotations

import numpy as np


def pixel_relevance(relevance) -> np.ndarray:
    """(N, H, W, C) -> (N, H, W) by summing channels; (N, H, W) is returned as float64."""
    relevance = np.asarray(relevance, dtype=np.float64)
    if relevance.ndim == 4:
        return relevance.sum(axis=-1)
    if relevance.ndim == 3:
        return relevance
    raise ValueError(f"relevance must have shape (N, H, W) or (N, H, W, C), got {relevance.shape}."
                     " For a single image add a batch axis: relevance[None].")


def _masks(masks, shape) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.dtype != bool:
        masks = masks > 0
    if masks.shape != shape:
        raise ValueError(f"masks have shape {masks.shape} but the relevance maps have {shape}; "
                         "pass one (H, W) boolean mask per image.")
    if not masks.reshape(len(masks), -1).any(axis=1).all():
        raise ValueError("every mask needs at least one True pixel (the ground-truth object).")
    return masks


def relevance_mass_accuracy(relevance, masks) -> np.ndarray:
    """Share of the *positive* relevance that falls inside the mask, per image, in [0, 1].

    An image without any positive relevance scores 0 (nothing points at the object).
    """
    pixels = pixel_relevance(relevance)
    masks = _masks(masks, pixels.shape)
    positive = np.clip(pixels, 0.0, None)
    total = positive.sum(axis=(1, 2))
    inside = (positive * masks).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def relevance_rank_accuracy(relevance, masks) -> np.ndarray:
    """Fraction of the K most relevant pixels that lie in the mask, K = mask size, per image.

    Ties are broken by pixel order (a stable sort), so a constant map scores like the first K
    pixels in reading order.
    """
    pixels = pixel_relevance(relevance)
    masks = _masks(masks, pixels.shape)
    flat = pixels.reshape(len(pixels), -1)
    flat_masks = masks.reshape(len(masks), -1)
    scores = np.empty(len(flat))
    for i, (values, mask) in enumerate(zip(flat, flat_masks)):
        k = int(mask.sum())
        top = np.argsort(-values, kind="stable")[:k]
        scores[i] = mask[top].mean()
    return scores


def pointing_game(relevance, masks) -> np.ndarray:
    """1.0 where the single most relevant pixel lies in the mask, else 0.0 (first maximum wins)."""
    pixels = pixel_relevance(relevance)
    masks = _masks(masks, pixels.shape)
    flat = pixels.reshape(len(pixels), -1)
    hits = masks.reshape(len(masks), -1)[np.arange(len(flat)), flat.argmax(axis=1)]
    return hits.astype(np.float64)


def dilate(masks, pixels: int = 1) -> np.ndarray:
    """Grow boolean masks (N, H, W) by ``pixels`` in every direction (a (2p+1)² square).

    Useful because a network that decides from an object's *outline* puts relevance on both
    sides of the edge: half of it lands just outside the exact mask.
    """
    masks = np.asarray(masks, dtype=bool)
    if pixels < 0:
        raise ValueError(f"pixels must be >= 0, got {pixels}.")
    padded = np.pad(masks, ((0, 0), (pixels, pixels), (pixels, pixels)))
    height, width = masks.shape[1:]
    grown = np.zeros_like(masks)
    for dy in range(2 * pixels + 1):
        for dx in range(2 * pixels + 1):
            grown |= padded[:, dy:dy + height, dx:dx + width]
    return grown


def random_relevance(shape, seed: int = 0) -> np.ndarray:
    """The random baseline: i.i.d. uniform relevance in [-1, 1] of the given shape."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, shape)


def flipping_order(relevance) -> np.ndarray:
    """Pixel indices (flattened H*W) per image, most relevant first (stable for ties)."""
    flat = pixel_relevance(relevance).reshape(len(relevance), -1)
    return np.argsort(-flat, axis=1, kind="stable")


def pixel_flipping(model, images, relevance, target, steps: int = 16, pixels_per_step: int = 48,
                   replacement="uniform", seed: int = 0, batch_size: int = 512,
                   most_relevant_first: bool = True) -> np.ndarray:
    """The explained logit while pixels are replaced, most relevant first.

    Parameters
    ----------
    model : callable on a batch of images returning logits (N, classes).
    images : (N, H, W, C). relevance : (N, H, W[, C]) maps of the same images.
    target : (N,) the class whose logit is tracked (the one the maps explain).
    steps : number of flipping steps L; step k has replaced k * pixels_per_step pixels.
    replacement : "uniform" (fresh U[0, 1] values, the same draw for every method thanks to
        ``seed``), "mean" (the image's mean colour) or a number (a constant value).
    most_relevant_first : False flips the LEAST relevant pixels first ("LeRF"). The difference
        AOPC(most first) - AOPC(least first) cancels the part of the logit drop that comes from
        the replaced pixels merely looking unusual (noise the network never saw), which hits
        every ordering alike (cf. Blücher et al. 2024, "Decoupling pixel flipping and occlusion
        strategy").

    Returns the curve (N, steps + 1): column 0 is the unperturbed logit.
    """
    images = np.asarray(images, dtype=np.float32)
    n, height, width, channels = images.shape
    target = np.broadcast_to(np.asarray(target, dtype=np.int64), (n,))
    order = flipping_order(relevance if most_relevant_first
                           else -pixel_relevance(relevance))
    if order.shape[1] != height * width:
        raise ValueError(f"relevance maps have {order.shape[1]} pixels, images {height * width}.")
    if steps * pixels_per_step > height * width:
        raise ValueError(f"steps * pixels_per_step = {steps * pixels_per_step} exceeds the "
                         f"{height * width} pixels of an image; lower one of them.")
    if isinstance(replacement, str) and replacement == "uniform":
        fill = np.random.default_rng(seed).uniform(0.0, 1.0, images.shape).astype(np.float32)
    elif isinstance(replacement, str) and replacement == "mean":
        fill = np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape)
    elif isinstance(replacement, str):
        raise ValueError(f"replacement must be 'uniform', 'mean' or a number, got {replacement!r}.")
    else:
        fill = np.full(images.shape, float(replacement), dtype=np.float32)

    # All perturbed versions at once: (N, steps + 1, H*W, C), then the model in large batches.
    flat_images = images.reshape(n, height * width, channels)
    flat_fill = np.asarray(fill, dtype=np.float32).reshape(n, height * width, channels)
    # rank[i, p] = position of pixel p in image i's flipping order
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(height * width)[None, :]
    flipped = rank[:, None, :] < (np.arange(steps + 1) * pixels_per_step)[None, :, None]
    perturbed = np.where(flipped[..., None], flat_fill[:, None], flat_images[:, None])
    perturbed = perturbed.reshape(n * (steps + 1), height, width, channels)
    logits = np.concatenate([np.asarray(model(perturbed[i:i + batch_size], training=False))
                             for i in range(0, len(perturbed), batch_size)])
    logits = logits.reshape(n, steps + 1, -1)
    return logits[np.arange(n), :, target]


def area_over_curve(curve) -> np.ndarray:
    """AOPC per image: the mean over steps k = 0..L of f(x^(0)) - f(x^(k))."""
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 2 or curve.shape[1] < 2:
        raise ValueError(f"curve must have shape (N, steps + 1) with steps >= 1, "
                         f"got {curve.shape}.")
    return (curve[:, :1] - curve).mean(axis=1)


def spearman_rank_correlation(a, b) -> np.ndarray:
    """Spearman's rank correlation of two batches of maps, per image (ranks, then Pearson).

    Ties get the average rank, so a constant map has no defined correlation (returns 0).
    """
    a = pixel_relevance(a).reshape(len(a), -1)
    b = pixel_relevance(b).reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"the two batches differ in shape: {a.shape} vs {b.shape}.")
    ra = np.stack([_average_ranks(row) for row in a])
    rb = np.stack([_average_ranks(row) for row in b])
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denominator = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    numerator = (ra * rb).sum(axis=1)
    return np.divide(numerator, denominator, out=np.zeros(len(a)), where=denominator > 0)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    # average the ranks of tied values
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if len(unique) < len(values):
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    return ranks


def cascading_randomization(model, seed: int = 0):
    """Yield (layer_name, model copy), layers re-initialised from the top down, cumulatively.

    The first copy has only the last layer with weights randomised, the next one the last two,
    and so on down to the first layer (Adebayo et al. 2018, "cascading randomization"). Kernels
    are drawn afresh from the layer's own initializer (seeded), biases reset to its bias
    initializer. The original model is not modified.
    """
    from ._tf import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    weighted = [layer for layer in copy.layers if layer.weights]
    for depth, layer in enumerate(reversed(weighted)):
        kernel_init = keras.initializers.get(
            {"class_name": type(layer.kernel_initializer).__name__,
             "config": {**layer.kernel_initializer.get_config(), "seed": seed + depth}})
        new = [np.asarray(kernel_init(layer.kernel.shape))]
        if getattr(layer, "use_bias", False):
            new.append(np.zeros(layer.bias.shape, dtype=np.float32))
        layer.set_weights(new)
        yield layer.name, copy


# --------------------------------------------------------------------------------------------
# The exercise answers of notebooks 04 and 05, for the cells that come after the exercises (so a
# notebook runs whether or not the student solved them) and as the checkers' reference.
# --------------------------------------------------------------------------------------------

def initial_relevance(logits, target) -> np.ndarray:
    """The relevance LRP starts from: the target logit at the target class, 0 elsewhere.

        R_c^(start) = f_c(x)  if c = target,   0 otherwise         (per image)

    so that the heatmap adds up to the score it explains (not to the softmax vector).

    Parameters
    ----------
    logits : (N, C) the network's scores before the softmax.
    target : an int (the same class for every image) or N ints, one per image.

    Returns (N, C) float64.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, classes), got {logits.shape}. "
                         "For a single image add a batch axis: logits[None].")
    n, classes = logits.shape
    target = np.asarray(target)
    if target.ndim > 1 or (target.ndim == 1 and len(target) != n):
        raise ValueError(f"target must be one int or one int per image ({n}), got shape "
                         f"{target.shape}.")
    if not np.issubdtype(target.dtype, np.integer):
        raise ValueError(f"target must hold class indices (ints), got dtype {target.dtype}.")
    target = np.broadcast_to(target, (n,))
    if np.any((target < 0) | (target >= classes)):
        raise ValueError(f"target classes must lie in 0..{classes - 1}, got {target.tolist()}.")
    start = np.zeros_like(logits)
    rows = np.arange(n)
    start[rows, target] = logits[rows, target]
    return start


def negative_share(relevance) -> np.ndarray:
    """Share of a heatmap's |relevance| that is evidence *against* the class, per image, in [0, 1].

    With R_p the relevance of pixel p summed over its colour channels:

        share = Σ_p |min(R_p, 0)|  /  Σ_p |R_p|        (0 for an all-zero map)

    relevance : (N, H, W, C) or (N, H, W). Returns (N,) float64.
    """
    pixels = pixel_relevance(relevance).reshape(len(relevance), -1)
    total = np.abs(pixels).sum(axis=1)
    negative = np.abs(np.minimum(pixels, 0.0)).sum(axis=1)
    return np.divide(negative, total, out=np.zeros_like(total), where=total > 0)


def layer_totals(per_layer) -> np.ndarray:
    """Relevance summed per layer and per image: (layers, N), for checking conservation.

        total[l, n] = Σ_i R_i^(l)  over all neurons i of layer l, image n

    per_layer : list of (layer name, relevance of shape (N, ...)), e.g. what
        ``lrp_teach.explain(..., return_layers=True)`` returns. Conservation holds image by image
        (signed sums: negative relevance cancels positive relevance).
    """
    per_layer = list(per_layer)
    if not per_layer:
        raise ValueError("per_layer is empty; pass the list of (layer name, relevance) that "
                         "lrp_teach.explain(..., return_layers=True) returns.")
    arrays = [np.asarray(relevance, dtype=np.float64) for _, relevance in per_layer]
    sizes = {len(a) if a.ndim else None for a in arrays}
    if None in sizes or len(sizes) != 1:
        raise ValueError("every layer's relevance needs the same leading image axis (N, ...); "
                         f"got shapes {[a.shape for a in arrays]}.")
    return np.stack([a.reshape(len(a), -1).sum(axis=1) for a in arrays])


def object_evidence(relevance, masks) -> np.ndarray:
    """Net (signed) relevance inside each image's mask, per image.

        evidence_n = Σ_{p in mask_n} R_p,    R_p summed over the colour channels

    Positive: the object is evidence FOR the explained class; negative: evidence AGAINST it.
    relevance : (N, H, W, C) or (N, H, W); masks : (N, H, W) booleans. Returns (N,) float64.
    """
    pixels = pixel_relevance(relevance)
    masks = np.asarray(masks)
    if masks.dtype != bool:
        masks = masks > 0
    if masks.shape != pixels.shape:
        raise ValueError(f"masks have shape {masks.shape} but the relevance maps have "
                         f"{pixels.shape}; pass one (H, W) boolean mask per image.")
    return (pixels * masks).sum(axis=(1, 2))


def summarize(scores: dict) -> dict:
    """{name: per-image array} -> {name: mean} (float, rounded to 4 digits for printing)."""
    return {name: round(float(np.mean(values)), 4) for name, values in scores.items()}
