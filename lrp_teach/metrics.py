"""Measuring explanations: against a ground-truth mask, by pixel flipping, and by randomisation.

All functions take relevance maps for a batch, shape (N, H, W) or (N, H, W, C) (channels are
summed: a pixel's relevance is the sum over its colour channels), and return one number per image
unless said otherwise, so that a table can show the mean and a plot the spread.

Ground-truth metrics (Arras, Osman & Samek 2022, "CLEVR-XAI"), with GT the mask of the object
that decides the class:

- relevance mass accuracy  = sum of R_p over p in GT, R_p > 0  /  sum of R_p over all p, R_p > 0
- relevance rank accuracy  = |top-K pixels by R  ∩  GT| / K,   K = |GT|
- pointing game            = 1 if argmax_p R_p lies in GT, else 0   (Zhang et al. 2016)

(ties in the ranking broken at random, seeded, in both and in pixel flipping)

Pixel flipping (Samek et al. 2017): replace the pixels in order of decreasing relevance (most
relevant first), a few at a time, and record the explained logit f(x^(k)) after each step. A good
explanation finds the evidence first, so the logit drops fast. Its summary is the area over the
perturbation curve

    AOPC = 1/(L+1) * sum_{k=0..L} ( f(x^(0)) - f(x^(k)) )     (higher = better).

The ordering must be the same for every method compared: by signed relevance (evidence for the
class first; for maps >= 0 the same as by |R|) or by |R|; ties are broken at random
(:func:`flipping_order`). What any replacement does to the network (new pixels can be out of
distribution) is measured by flipping in *random* orders (several seeds): a method's score is its
AOPC minus the random orderings' AOPC on the same images, with a bootstrap interval over the
images (:func:`bootstrap_interval`). :func:`replacement_values` offers uniform noise, the mean
colour, a local blur and the image's own pixels shuffled. :func:`edge_map` is a control that
ignores the network (the image's Sobel edges).

Sanity check (Adebayo et al. 2018): re-initialise the layers from the top down
(:func:`cascading_randomization`) and compare each method's maps with the original ones with
several similarity measures (:func:`spearman_rank_correlation` and :func:`pearson_correlation`,
of the signed maps or of |R|, :func:`top_fraction_overlap`, :func:`structural_similarity`). A
method whose maps hardly change when the weights become random does not explain the model.

The reference answers of the exercises of notebooks 04 and 05 live with their checkers
(``lrp_teach.exercises.nb04`` / ``nb05``); ``metrics.initial_relevance``,
``metrics.negative_share`` and ``metrics.object_evidence`` still work (they are those answers).
"""

from __future__ import annotations

import numpy as np


def pixel_relevance(relevance) -> np.ndarray:
    """(N, H, W, C) -> (N, H, W) by summing channels; (N, H, W) is returned as float64.

    The course's one helper for "a pixel's relevance is the sum over its colour channels"
    (``viz.to_map`` and the exercise checkers use it too).
    """
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


def relevance_rank_accuracy(relevance, masks, seed: int | None = 0) -> np.ndarray:
    """Fraction of the K most relevant pixels that lie in the mask, K = mask size, per image.

    "Most relevant" = highest signed pixel relevance. Ties (e.g. the zeros of a Grad-CAM or z⁺
    map) are broken in a random order drawn from ``seed``, as in :func:`flipping_order`, so no
    method profits from the pixels' reading order; ``seed=None`` keeps reading order.
    """
    pixels = pixel_relevance(relevance)
    masks = _masks(masks, pixels.shape)
    order = flipping_order(pixels, by="signed", seed=seed)
    flat_masks = masks.reshape(len(masks), -1)
    scores = np.empty(len(order))
    for i, (ranked, mask) in enumerate(zip(order, flat_masks)):
        k = int(mask.sum())
        scores[i] = mask[ranked[:k]].mean()
    return scores


def pointing_game(relevance, masks, seed: int | None = 0) -> np.ndarray:
    """1.0 where the single most relevant pixel lies in the mask, else 0.0.

    When several pixels share the maximum, one of them is drawn at random (``seed``), the same
    tie-breaking as :func:`relevance_rank_accuracy` and :func:`flipping_order`; ``seed=None``
    takes the first in reading order.
    """
    pixels = pixel_relevance(relevance)
    masks = _masks(masks, pixels.shape)
    top = flipping_order(pixels, by="signed", seed=seed)[:, 0]
    hits = masks.reshape(len(masks), -1)[np.arange(len(pixels)), top]
    return hits.astype(np.float64)


def edge_map(images) -> np.ndarray:
    """An explanation that ignores the network: the Sobel gradient magnitude of the image.

    (N, H, W, C) -> (N, H, W): per colour channel sqrt(Gx² + Gy²) with the 3×3 Sobel kernels
    (edges replicated at the border), summed over the channels. A control for any evaluation: a
    method must beat what the image's edges alone score.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C), got {images.shape}.")
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = images.shape[1:3]

    def shifted(dy, dx):
        return padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    gx = (shifted(-1, 1) + 2 * shifted(0, 1) + shifted(1, 1)
          - shifted(-1, -1) - 2 * shifted(0, -1) - shifted(1, -1))
    gy = (shifted(1, -1) + 2 * shifted(1, 0) + shifted(1, 1)
          - shifted(-1, -1) - 2 * shifted(-1, 0) - shifted(-1, 1))
    return np.sqrt(gx * gx + gy * gy).sum(axis=-1)


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


def flipping_order(relevance, by: str = "signed", seed: int | None = 0) -> np.ndarray:
    """Pixel indices (flattened H*W) per image, most relevant first.

    by : "signed" orders by the pixel's relevance R_p (evidence FOR the class first, evidence
        AGAINST it last); "absolute" by |R_p| (any strong evidence first, whatever its sign). For
        maps that are >= 0 (|gradient|, Grad-CAM) the two are the same.
    seed : ties (equal relevance, e.g. the zeros of a z⁺ or Grad-CAM map) are broken in a random
        order drawn from this seed, so that no method profits from the pixels' reading order;
        ``None`` keeps reading order for ties (a stable sort).
    """
    pixels = pixel_relevance(relevance).reshape(len(relevance), -1)
    if by == "absolute":
        pixels = np.abs(pixels)
    elif by != "signed":
        raise ValueError(f"by must be 'signed' or 'absolute', got {by!r}.")
    if seed is None:
        return np.argsort(-pixels, axis=1, kind="stable")
    tie_break = np.random.default_rng(seed).random(pixels.shape)
    # lexsort sorts by the last key first: by -relevance, then by the random tie-breaker
    return np.stack([np.lexsort((t, -p)) for p, t in zip(pixels, tie_break)])


def replacement_values(images, replacement="uniform", seed: int = 0) -> np.ndarray:
    """What a flipped pixel becomes, for every pixel of every image (same shape as ``images``).

    "uniform": fresh U[0, 1] colours (seeded); "mean": the image's mean colour; "blur": the image
    averaged over a 9×9 window (a crude inpainting: the flipped pixel takes its neighbourhood's
    colour -- which inside a flat-coloured region is the region's own colour, so it removes little
    there); "shuffle": the colour of another pixel of the same image, drawn at random (a seeded
    permutation of the pixel positions per image: colours the image really has, mostly of its
    background); a number: that constant.
    """
    images = np.asarray(images, dtype=np.float32)
    if isinstance(replacement, str):
        if replacement == "uniform":
            return np.random.default_rng(seed).uniform(0.0, 1.0, images.shape).astype(np.float32)
        if replacement == "mean":
            return np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape).copy()
        if replacement == "blur":
            return _box_blur(images, radius=4)
        if replacement == "shuffle":
            rng = np.random.default_rng(seed)
            n, height, width, channels = images.shape
            flat = images.reshape(n, height * width, channels)
            source = np.stack([rng.permutation(height * width) for _ in range(n)])
            return np.take_along_axis(flat, source[..., None], axis=1).reshape(images.shape)
        raise ValueError(f"replacement must be 'uniform', 'mean', 'blur', 'shuffle' or a number, "
                         f"got {replacement!r}.")
    return np.full(images.shape, float(replacement), dtype=np.float32)


def _box_blur(images, radius: int) -> np.ndarray:
    """Mean over a (2r+1)² window (edges: the window is cut at the border), per channel."""
    padded = np.pad(images.astype(np.float64), ((0, 0), (radius + 1, radius), (radius + 1, radius),
                                                (0, 0)))
    ones = np.pad(np.ones(images.shape[1:3]), ((radius + 1, radius), (radius + 1, radius)))
    table = padded.cumsum(1).cumsum(2)
    counts = ones.cumsum(0).cumsum(1)
    w = 2 * radius + 1
    h_, w_ = images.shape[1:3]

    def window(t):
        return (t[..., w:w + h_, w:w + w_, :] - t[..., :h_, w:w + w_, :]
                - t[..., w:w + h_, :w_, :] + t[..., :h_, :w_, :])

    sums = window(table)
    n = window(counts[None, ..., None])
    return (sums / n).astype(np.float32)


def pixel_flipping(model, images, relevance, target, steps: int = 16, pixels_per_step: int = 48,
                   replacement="uniform", seed: int = 0, batch_size: int = 512,
                   most_relevant_first: bool = True, by: str = "signed",
                   tie_seed: int | None = 0) -> np.ndarray:
    """The explained logit while pixels are replaced, most relevant first.

    Parameters
    ----------
    model : callable on a batch of images returning logits (N, classes).
    images : (N, H, W, C). relevance : (N, H, W[, C]) maps of the same images.
    target : (N,) the class whose logit is tracked (the one the maps explain).
    steps : number of flipping steps L; step k has replaced k * pixels_per_step pixels.
    replacement : see :func:`replacement_values` ("uniform" noise, the same draw for every method
        thanks to ``seed``; "mean"; "blur"; a number).
    by, tie_seed : the ordering, see :func:`flipping_order` (signed relevance by default; ties in
        a random order).
    most_relevant_first : False flips the LEAST relevant pixels first ("LeRF"). Note that with
        ``by="signed"`` the least relevant pixels of a signed map are its most NEGATIVE ones
        (evidence against the class), not its unimportant ones.

    Returns the curve (N, steps + 1): column 0 is the unperturbed logit.
    """
    images = np.asarray(images, dtype=np.float32)
    n, height, width, channels = images.shape
    target = np.broadcast_to(np.asarray(target, dtype=np.int64), (n,))
    order = flipping_order(relevance, by=by, seed=tie_seed)
    if not most_relevant_first:
        order = flipping_order(-pixel_relevance(relevance) if by == "signed"
                               else -np.abs(pixel_relevance(relevance)), seed=tie_seed)
    if order.shape[1] != height * width:
        raise ValueError(f"relevance maps have {order.shape[1]} pixels, images {height * width}.")
    if steps * pixels_per_step > height * width:
        raise ValueError(f"steps * pixels_per_step = {steps * pixels_per_step} exceeds the "
                         f"{height * width} pixels of an image; lower one of them.")
    fill = replacement_values(images, replacement, seed)

    # All perturbed versions at once: (N, steps + 1, H*W, C), then the model in large batches.
    flat_images = images.reshape(n, height * width, channels)
    flat_fill = np.asarray(fill, dtype=np.float32).reshape(n, height * width, channels)
    # rank[i, p] = position of pixel p in image i's flipping order
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(height * width)[None, :]
    flipped = rank[:, None, :] < (np.arange(steps + 1) * pixels_per_step)[None, :, None]
    perturbed = np.where(flipped[..., None], flat_fill[:, None], flat_images[:, None])
    perturbed = perturbed.reshape(n * (steps + 1), height, width, channels)
    from .shapes import predict_logits

    logits = predict_logits(model, perturbed, batch_size=batch_size).reshape(n, steps + 1, -1)
    return logits[np.arange(n), :, target]


def area_over_curve(curve) -> np.ndarray:
    """AOPC per image: the mean over steps k = 0..L of f(x^(0)) - f(x^(k))."""
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 2 or curve.shape[1] < 2:
        raise ValueError(f"curve must have shape (N, steps + 1) with steps >= 1, "
                         f"got {curve.shape}.")
    return (curve[:, :1] - curve).mean(axis=1)


def _flat_maps(a, b, absolute: bool):
    a = pixel_relevance(a).reshape(len(a), -1)
    b = pixel_relevance(b).reshape(len(b), -1)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    return a, b


def spearman_rank_correlation(a, b, absolute: bool = False) -> np.ndarray:
    """Spearman's rank correlation of two batches of maps, per image (ranks, then Pearson).

    absolute : False ranks the **signed** pixel relevance (a map whose evidence flips from "for"
        to "against" scores negative); True ranks |R| (where the map is strong, whatever the
        sign; Adebayo et al. 2018 report both).
    Ties get the average rank, so a constant map has no defined correlation (returns 0).
    """
    a, b = _flat_maps(a, b, absolute)
    if a.shape != b.shape:
        raise ValueError(f"the two batches differ in shape: {a.shape} vs {b.shape}.")
    ra = np.stack([_average_ranks(row) for row in a])
    rb = np.stack([_average_ranks(row) for row in b])
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denominator = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    numerator = (ra * rb).sum(axis=1)
    return np.divide(numerator, denominator, out=np.zeros(len(a)), where=denominator > 0)


def pearson_correlation(a, b, absolute: bool = False) -> np.ndarray:
    """Pearson correlation of two batches of maps per image: of the signed pixel relevance, or
    of |R| with ``absolute=True``."""
    a, b = _flat_maps(a, b, absolute)
    if a.shape != b.shape:
        raise ValueError(f"the two batches differ in shape: {a.shape} vs {b.shape}.")
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.divide((a * b).sum(axis=1), denominator, out=np.zeros(len(a)),
                     where=denominator > 0)


def top_fraction_overlap(a, b, fraction: float = 0.1, seed: int | None = 0) -> np.ndarray:
    """Share of map a's top pixels (by |R|, the top ``fraction``) that are also among b's, per image.

    1 = the same most relevant pixels, ``fraction`` = what two unrelated maps share on average.
    Ties are broken at random (``seed``), as in :func:`flipping_order`.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}.")
    top_a = flipping_order(a, by="absolute", seed=seed)
    top_b = flipping_order(b, by="absolute", seed=None if seed is None else seed + 1)
    if top_a.shape != top_b.shape:
        raise ValueError(f"the two batches differ in shape: {top_a.shape} vs {top_b.shape}.")
    k = max(1, int(round(fraction * top_a.shape[1])))
    return np.array([len(np.intersect1d(x[:k], y[:k])) / k for x, y in zip(top_a, top_b)])


def structural_similarity(a, b, absolute: bool = False, window: int = 7) -> np.ndarray:
    """SSIM (Wang et al. 2004) of two batches of maps, per image, in [-1, 1] (1 = the same map).

    Each map is first divided by its own largest |R| (SSIM compares structure, not scale), so the
    signed maps lie in [-1, 1] (data range L = 2) and the absolute ones (``absolute=True``) in
    [0, 1] (L = 1). Local means, variances and the covariance over every ``window`` × ``window``
    square that fits inside the map (sample (co)variances, divided by n - 1), then

        SSIM = mean over windows of (2 μa μb + C1)(2 σab + C2) / ((μa² + μb² + C1)(σa² + σb² + C2))

    with C1 = (0.01 L)², C2 = (0.03 L)² -- the defaults of scikit-image's
    ``structural_similarity`` with a uniform window, as used by Adebayo et al. (2018).
    """
    a = pixel_relevance(a)
    b = pixel_relevance(b)
    if a.shape != b.shape:
        raise ValueError(f"the two batches differ in shape: {a.shape} vs {b.shape}.")
    if window < 2 or window > min(a.shape[1:]):
        raise ValueError(f"window must lie in [2, {min(a.shape[1:])}] for maps of shape "
                         f"{a.shape[1:]}, got {window}.")
    if absolute:
        a, b = np.abs(a), np.abs(b)

    def unit(maps):
        scale = np.abs(maps).max(axis=(1, 2), keepdims=True)
        return np.divide(maps, scale, out=np.zeros_like(maps), where=scale > 0)

    a, b = unit(a), unit(b)
    data_range = 1.0 if absolute else 2.0
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    n = window * window

    def window_mean(t):     # mean over every window that fits (summed-area table)
        table = np.pad(t, ((0, 0), (1, 0), (1, 0))).cumsum(1).cumsum(2)
        return (table[:, window:, window:] - table[:, :-window, window:]
                - table[:, window:, :-window] + table[:, :-window, :-window]) / n

    mean_a, mean_b = window_mean(a), window_mean(b)
    correction = n / (n - 1)
    var_a = (window_mean(a * a) - mean_a ** 2) * correction
    var_b = (window_mean(b * b) - mean_b ** 2) * correction
    cov = (window_mean(a * b) - mean_a * mean_b) * correction
    ssim = ((2 * mean_a * mean_b + c1) * (2 * cov + c2)
            / ((mean_a ** 2 + mean_b ** 2 + c1) * (var_a + var_b + c2)))
    return ssim.mean(axis=(1, 2))


def bootstrap_interval(values, level: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean over images and its percentile bootstrap interval.

    Resamples the images with replacement ``resamples`` times (seeded): the interval says how much
    the mean would move with another draw of test images of the same size.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if len(values) < 2:
        raise ValueError("a bootstrap interval needs at least 2 values (one per image).")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(values.mean()), float(low), float(high)


def stable_round(value, decimals: int, tolerance: float) -> float:
    """``round(value, decimals)``, refusing when a change of ±tolerance could change the result.

    For numbers printed in notebooks whose outputs are compared on other machines: ``tolerance``
    is how far the value may legitimately move there (float32 sums in another order, near-ties
    ordered differently). If the value sits closer than that to a rounding boundary, the printed
    digits would differ on another machine -- print fewer decimals instead.
    """
    value = float(value)
    shown = round(value, decimals)
    if round(value - tolerance, decimals) != shown or round(value + tolerance, decimals) != shown:
        raise ValueError(f"{value!r} lies within {tolerance:g} of a rounding boundary at "
                         f"{decimals} decimals: its printed digits are not stable across machines. "
                         "Print fewer decimals (or tag the cell nbval-ignore-output and assert "
                         "with a tolerance).")
    return shown + 0.0   # no "-0.0"


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


#: initializer attributes tried for a weight of that name (first found wins), where the layer
#: does not call it "<name>_initializer" (Keras 3's DepthwiseConv2D names its weight "kernel")
_INITIALIZER_OF = {"kernel": ("kernel_initializer", "depthwise_initializer"),
                   "depthwise_kernel": ("depthwise_initializer",),
                   "pointwise_kernel": ("pointwise_initializer",)}


def _initializer_for(layer, variable):
    name = variable.name.split("/")[-1].split(":")[0]
    attributes = _INITIALIZER_OF.get(name, (f"{name}_initializer",))
    for attribute in attributes:
        initializer = getattr(layer, attribute, None)
        if initializer is not None:
            return initializer
    raise ValueError(f"cascading_randomization: layer {layer.name} ({type(layer).__name__}) has a "
                     f"weight {name!r} but no initializer attribute {' or '.join(attributes)}; "
                     "leave the layer out with skip=[...] or re-initialise it yourself.")


def _seeded(initializer, seed: int):
    """A copy of a Keras initializer with its seed set (initializers without a seed as they are)."""
    config = initializer.get_config()
    if "seed" not in config:
        return initializer      # Zeros, Ones, Constant: nothing random to seed
    return type(initializer).from_config({**config, "seed": seed})


def _leaf_layers(model):
    """The layers of a model, nested models flattened, in the order of ``model.layers``."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _leaf_layers(layer)
        else:
            yield layer


def cascading_randomization(model, seed: int = 0, batch_norm_statistics: str = "keep",
                            skip=()):
    """Yield (layer_name, randomised model), layers re-initialised from the top down, cumulatively.

    Adebayo et al. (2018), "cascading randomization": the first model yielded has only the last
    layer with weights re-initialised, the next one the last two, and so on down to the first
    layer with weights. Every model yielded is an **independent copy** (``keras.models.clone_model``
    with its own weights), so ``list(cascading_randomization(model))`` holds one model per step;
    the original model is not modified.

    What "re-initialised" means, layer by layer (as in Adebayo et al.: the layer's weights are
    drawn again as at the start of training):

    - every *trainable* weight is drawn from **the layer's own initializer** for it
      (``kernel_initializer``, ``bias_initializer``, ``depthwise_initializer``, ...), seeded with
      ``seed`` + a running count, so the same seed gives the same models. A bias whose initializer
      is ``zeros`` (Keras' default) therefore becomes zero; one with another initializer does not.
    - **BatchNormalization**: gamma and beta are trainable weights, so they return to their
      initializers (by default gamma = 1, beta = 0). Its moving mean and variance are statistics of
      the trained network's activations, not weights trained by gradient descent:
      ``batch_norm_statistics="keep"`` (default) leaves them, ``"reset"`` returns them to their
      initializers (mean 0, variance 1, i.e. the layer becomes gamma·x + beta up to ε).
    - layers without weights (ReLU, pooling, Add, ...) have nothing to randomise and are no step.

    Order: ``model.layers`` (for a functional model, Keras' topological order of the graph;
    nested models are flattened) read from the end; each layer with weights is one step.
    ``skip``: names of layers never to re-initialise (they are no step either).
    """
    from ._tf import keras

    if batch_norm_statistics not in ("keep", "reset"):
        raise ValueError(f"batch_norm_statistics must be 'keep' or 'reset', got "
                         f"{batch_norm_statistics!r}.")
    skip = set(skip)
    # the model's weights as one list, and where each layer's variables sit in it
    position = {id(variable): index for index, variable in enumerate(model.weights)}
    weights = [np.array(value) for value in model.get_weights()]
    if len(weights) != len(position):
        raise ValueError("cascading_randomization: the model shares variables between layers; "
                         "this is not supported.")
    counter = 0
    for layer in reversed(list(_leaf_layers(model))):
        if not layer.weights or layer.name in skip:
            continue
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        for variable in layer.weights:
            if not variable.trainable and not (is_batch_norm and batch_norm_statistics == "reset"):
                continue
            initializer = _seeded(_initializer_for(layer, variable), seed + counter)
            counter += 1
            value = np.asarray(initializer(tuple(variable.shape), dtype=variable.dtype))
            weights[position[id(variable)]] = value.astype(weights[position[id(variable)]].dtype)
        copy = keras.models.clone_model(model)
        copy.set_weights(weights)
        yield layer.name, copy


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


def summarize(scores: dict) -> dict:
    """{name: per-image array} -> {name: mean} (float, rounded to 4 digits for printing)."""
    return {name: round(float(np.mean(values)), 4) for name, values in scores.items()}


#: exercise answers kept reachable under their old names (they live in lrp_teach.exercises)
_MOVED = {"initial_relevance": "nb05", "negative_share": "nb05", "object_evidence": "nb04"}


def __getattr__(name):
    if name in _MOVED:
        import importlib

        module = importlib.import_module(f"lrp_teach.exercises.{_MOVED[name]}")
        return getattr(module, "reference_" + name)
    raise AttributeError(f"module 'lrp_teach.metrics' has no attribute {name!r}")
