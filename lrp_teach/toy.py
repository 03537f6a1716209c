"""A 2-D toy problem for watching LRP work on the whole input plane (notebook 03).

Two inputs are the smallest case where "how much did x₁ contribute versus x₂" is a real question,
and small enough to evaluate relevance on every point of a grid and draw it as a map.

- :func:`make_moons` / :func:`make_rings`: data generated with NumPy only, deterministic from a seed.
  Inputs are standardised (mean 0, standard deviation 1 per feature), so they take **both signs**:
  exactly the situation in which the z⁺ rule must not be used on the input layer.
- :func:`build_mlp`: a tiny Keras ReLU network ending in *logits* (no softmax layer).
- :func:`train`: short, full-batch, deterministic training (a few hundred steps, seconds on a CPU).
- :func:`dense_parameters`, :func:`forward`: the network's weights as NumPy arrays and a NumPy
  forward pass returning every layer's activations, which is what a NumPy LRP needs.
- :func:`grid`, :func:`plot_plane`: evaluate anything on a grid over the input plane and draw it
  with a diverging colour map centred at 0.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

#: Seed used when none is given (the course's default seed).
DEFAULT_SEED = 0


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------

def _standardise(points: np.ndarray) -> np.ndarray:
    """Per-feature mean 0 and standard deviation 1: inputs take both signs, like real data."""
    return (points - points.mean(axis=0)) / points.std(axis=0)


def make_moons(n_samples: int = 400, noise: float = 0.12, seed: int = DEFAULT_SEED,
               standardise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles ("two moons"), generated with NumPy.

    Class 0 is the upper moon, centre (0, 0): (cos θ, sin θ) for θ ∈ [0, π]; class 1 the lower
    moon, centre (1, 0.5): (1 − cos θ, 0.5 − sin θ). Gaussian noise of standard deviation
    ``noise`` is added to both coordinates.

    Returns ``(x, y)``: ``x`` float32 of shape (n_samples, 2), ``y`` int64 labels in {0, 1}. The
    same seed always gives the same data.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 (one point per class), got {n_samples}.")
    rng = np.random.default_rng(seed)
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    theta_upper = np.linspace(0.0, np.pi, n_upper)
    theta_lower = np.linspace(0.0, np.pi, n_lower)
    upper = np.stack([np.cos(theta_upper), np.sin(theta_upper)], axis=1)
    lower = np.stack([1.0 - np.cos(theta_lower), 0.5 - np.sin(theta_lower)], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(scale=noise, size=(n_samples, 2))
    y = np.concatenate([np.zeros(n_upper, dtype=np.int64), np.ones(n_lower, dtype=np.int64)])
    order = rng.permutation(n_samples)  # mixed classes: no accidental ordering effects
    x, y = x[order], y[order]
    if standardise:
        x = _standardise(x)
    return x.astype(np.float32), y


def make_rings(n_samples: int = 400, noise: float = 0.08, factor: float = 0.5,
               seed: int = DEFAULT_SEED, standardise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: class 0 outer (radius 1), class 1 inner (radius ``factor``)."""
    if not 0 < factor < 1:
        raise ValueError(f"factor is the inner radius relative to the outer one and must lie in "
                         f"(0, 1), got {factor}.")
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    angle_outer = np.linspace(0.0, 2 * np.pi, n_outer, endpoint=False)
    angle_inner = np.linspace(0.0, 2 * np.pi, n_inner, endpoint=False)
    outer = np.stack([np.cos(angle_outer), np.sin(angle_outer)], axis=1)
    inner = factor * np.stack([np.cos(angle_inner), np.sin(angle_inner)], axis=1)
    x = np.concatenate([outer, inner]) + rng.normal(scale=noise, size=(n_samples, 2))
    y = np.concatenate([np.zeros(n_outer, dtype=np.int64), np.ones(n_inner, dtype=np.int64)])
    order = rng.permutation(n_samples)
    x, y = x[order], y[order]
    if standardise:
        x = _standardise(x)
    return x.astype(np.float32), y


# --------------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------------

def build_mlp(hidden: Sequence[int] = (16, 16), n_classes: int = 2, n_inputs: int = 2,
              seed: int = DEFAULT_SEED):
    """A Keras ReLU MLP: ``Input(n_inputs) → Dense(h, relu) … → Dense(n_classes)`` (logits).

    Layer names are ``dense_1``, ``dense_2``, … and ``logits``. The last layer has no activation:
    LRP explains a logit, the score *before* any softmax (a softmax output depends on all the other
    logits and saturates at 1, so "how much of it is due to x₁" stops meaning anything).
    Initial weights depend only on ``seed``.
    """
    from ._tf import keras

    if not hidden:
        raise ValueError("hidden must list at least one layer width, e.g. (16, 16).")
    layers = [keras.Input(shape=(n_inputs,), name="input")]
    for index, width in enumerate(hidden, start=1):
        layers.append(keras.layers.Dense(
            int(width), activation="relu", name=f"dense_{index}",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + index),
            bias_initializer="zeros"))
    layers.append(keras.layers.Dense(
        int(n_classes), name="logits",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(hidden) + 1)))
    return keras.Sequential(layers, name="toy_mlp")


def train(model, x: np.ndarray, y: np.ndarray, steps: int = 300, learning_rate: float = 0.03,
          seed: int = DEFAULT_SEED) -> dict:
    """Full-batch Adam on the softmax cross-entropy of the logits, ``steps`` updates.

    Full batch and no shuffling: no randomness left once the weights are initialised, so with
    ``setup_notebook()`` (seeds, deterministic ops, fixed threads) the result is reproducible.
    Returns ``{"loss": final loss, "accuracy": training accuracy}`` as Python floats.
    """
    from ._tf import keras, tf

    keras.utils.set_random_seed(seed)
    x = tf.constant(np.asarray(x, dtype=np.float32))
    y = tf.constant(np.asarray(y, dtype=np.int64))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    for _ in range(int(steps)):
        step()
    logits = model(x, training=False).numpy()
    loss = float(loss_fn(y, logits).numpy())
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y.numpy()))
    return {"loss": loss, "accuracy": accuracy}


def dense_parameters(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(W, b), …]`` of every Dense layer, input side first, as float64 NumPy arrays.

    ``W`` has shape (inputs, outputs): ``z = a @ W + b``, so ``W[j, k]`` is wⱼₖ, the weight from
    neuron j of the lower layer to neuron k of the upper one (the lecture's indices).
    """
    params = []
    for layer in model.layers:
        if type(layer).__name__ == "Dense":
            kernel, bias = layer.get_weights()
            params.append((kernel.astype(np.float64), bias.astype(np.float64)))
    if not params:
        raise ValueError("the model has no Dense layer; build it with lrp_teach.toy.build_mlp().")
    return params


def forward(params: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> list[np.ndarray]:
    """NumPy forward pass: ``[a⁰ = x, a¹, …, logits]`` (ReLU after every layer but the last)."""
    activations = [np.asarray(x, dtype=np.float64)]
    for index, (kernel, bias) in enumerate(params):
        z = activations[-1] @ kernel + bias
        activations.append(z if index == len(params) - 1 else np.maximum(z, 0.0))
    return activations


# --------------------------------------------------------------------------------------------
# the input plane
# --------------------------------------------------------------------------------------------

def grid(xlim: tuple[float, float] = (-2.5, 2.5), ylim: tuple[float, float] = (-2.5, 2.5),
         resolution: int = 101) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A regular grid over the input plane.

    Returns ``(x1, x2, points)``: ``x1``, ``x2`` of shape (resolution, resolution) as from
    ``np.meshgrid`` (rows follow x₂, columns x₁) and ``points`` of shape (resolution², 2), float32,
    ready to feed to a model. Reshape per-point values back with ``values.reshape(x1.shape)``.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2 points per axis, got {resolution}.")
    x1, x2 = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    points = np.stack([x1.ravel(), x2.ravel()], axis=1).astype(np.float32)
    return x1, x2, points


def on_grid(function: Callable[[np.ndarray], np.ndarray], points: np.ndarray, shape: tuple,
            batch_size: int = 4096) -> np.ndarray:
    """Evaluate ``function`` (points (N, 2) → values (N, …)) in batches; reshape to ``shape + …``."""
    chunks = [np.asarray(function(points[start:start + batch_size]))
              for start in range(0, len(points), batch_size)]
    values = np.concatenate(chunks)
    return values.reshape(tuple(shape) + values.shape[1:])


def plot_plane(ax, x1: np.ndarray, x2: np.ndarray, values: np.ndarray, title: str | None = None,
               data: tuple[np.ndarray, np.ndarray] | None = None, limit: float | None = None,
               cmap: str = "bwr", colorbar: bool = True, contour_zero: bool = False,
               colorbar_label: str | None = None):
    """Draw per-point ``values`` over the plane, diverging colours centred at 0, with a colour bar.

    ``x1``, ``x2``, ``values``: arrays of shape (rows, columns) on a regular grid, as from
    :func:`grid` (rows follow x₂ upwards, columns x₁).

    ``limit`` is the half-width of the symmetric colour scale (default: the largest |value|);
    pass the same ``limit`` to several panels to make them comparable. ``data=(x, y)`` overlays
    the training points (class 0 as circles, class 1 as triangles). ``contour_zero`` draws the
    line where ``values`` is 0 (for a logit: the decision boundary).
    Returns the image artist.
    """
    values = np.asarray(values, dtype=np.float64)
    if limit is None:
        limit = float(np.max(np.abs(values)))
    limit = limit if limit > 0 else 1.0
    # imshow (one image) is much faster to draw than pcolormesh (one patch per cell); the grid
    # from :func:`grid` is regular, so the extent says everything about the coordinates.
    step_x1 = (x1[0, -1] - x1[0, 0]) / max(x1.shape[1] - 1, 1)
    step_x2 = (x2[-1, 0] - x2[0, 0]) / max(x2.shape[0] - 1, 1)
    extent = (x1[0, 0] - step_x1 / 2, x1[0, -1] + step_x1 / 2,
              x2[0, 0] - step_x2 / 2, x2[-1, 0] + step_x2 / 2)
    image = ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit, origin="lower", extent=extent,
                      interpolation="nearest", aspect="equal")
    if contour_zero:
        ax.contour(x1, x2, values, levels=[0.0], colors="k", linewidths=1.0)
    if data is not None:
        points, labels = data
        for label, marker in ((0, "o"), (1, "^")):
            chosen = points[np.asarray(labels) == label]
            ax.scatter(chosen[:, 0], chosen[:, 1], s=6, marker=marker, facecolors="none",
                       edgecolors="k", linewidths=0.5, label=f"class {label}")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    if title:
        ax.set_title(title)
    if colorbar:
        bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        if colorbar_label:
            bar.set_label(colorbar_label)
    return image



def plot_relevance_rows(x1: np.ndarray, x2: np.ndarray, relevance_by_label: dict, title: str,
                        boundary: np.ndarray | None = None, explained: np.ndarray | None = None,
                        percentile: float = 99):
    """One row per rule, R₁ and R₂ over the plane (``relevance_by_label``: label → array of shape
    grid + (2,)), with one symmetric colour scale per row that ends at the ``percentile`` of |R| in
    that row (a few extreme points would wash out the rest). ``boundary`` (e.g. f₁ − f₀ on the
    grid) is drawn solid at 0, ``explained`` (the explained logit) dashed at 0. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(relevance_by_label), 2, squeeze=False,
                             figsize=(9, 3.6 * len(relevance_by_label)))
    for row, (label, R) in zip(axes, relevance_by_label.items()):
        limit = float(np.percentile(np.abs(R), percentile))
        for i, ax in enumerate(row):
            plot_plane(ax, x1, x2, R[..., i], limit=limit,
                       title=f"{label}: R{'₁₂'[i]} (relevance of x{'₁₂'[i]})",
                       colorbar_label="relevance")
            if boundary is not None:
                ax.contour(x1, x2, boundary, levels=[0.0], colors="k", linewidths=0.8)
            if explained is not None:
                ax.contour(x1, x2, explained, levels=[0.0], colors="k", linewidths=0.8,
                           linestyles="dashed")
    fig.suptitle(title + f"\ncolour scale clipped at the {percentile}th percentile of |R| per row; "
                 "solid line: f₀ = f₁ (decision boundary), dashed: f₁ = 0")
    fig.tight_layout()
    return fig

__all__ = ["make_moons", "make_rings", "build_mlp", "train", "dense_parameters", "forward",
           "grid", "on_grid", "plot_plane", "plot_relevance_rows", "activation_pattern",
           "input_gradient",
           "simple_taylor", "float32_tolerance"]


def activation_pattern(params: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Which hidden ReLU neurons are active at each point: bool array (N, total hidden units).

    Two points with the same pattern lie on the same linear piece of the network.
    """
    hidden = forward(params, np.atleast_2d(x))[1:-1]
    return np.concatenate([layer > 0 for layer in hidden], axis=1)


def input_gradient(params: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray,
                   target: int) -> np.ndarray:
    """∂f_target/∂x at each point (N, n_inputs), in NumPy: on each linear piece of a ReLU network
    the gradient is the product of the weight matrices, masked by the active neurons."""
    activations = forward(params, np.atleast_2d(x))
    gradient = np.broadcast_to(params[-1][0][:, target], activations[-2].shape)
    for layer in reversed(range(len(params) - 1)):
        gradient = (gradient * (activations[layer + 1] > 0)) @ params[layer][0].T
    return gradient


def simple_taylor(params: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray, target: int,
                  s_max: float = 10.0, samples: int = 1001, bisections: int = 60):
    """Simple Taylor decomposition of the logit f = f_target: one expansion of the whole network.

    For each point x (rows of ``x``): the root x̃ of f on the ray x − s ∇f(x)/‖∇f(x)‖, 0 ≤ s ≤
    ``s_max`` (the first sign change among ``samples`` steps, refined by ``bisections`` halvings),
    the terms Rᵢ = ∂f/∂xᵢ|x̃ (xᵢ − x̃ᵢ) with the gradient taken from x's side of x̃, the remainder
    ε = f(x) − Σᵢ Rᵢ, and how many linear pieces (activation patterns) the segment from x to x̃
    crosses. Returns ``(R, epsilon, pieces)``; points whose ray has no root: NaN and 0 pieces.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))

    def f(points):
        return forward(params, points)[-1][:, target]

    direction = -input_gradient(params, x, target)
    direction = direction / np.linalg.norm(direction, axis=1, keepdims=True)
    steps = np.linspace(0.0, s_max, samples)
    rays = x[:, None, :] + steps[None, :, None] * direction[:, None, :]          # (N, S, d)
    below = (f(rays.reshape(-1, x.shape[1])) <= 0).reshape(len(x), samples)
    found = below.any(axis=1)                      # f may stay positive along the whole ray
    first = np.argmax(below, axis=1)
    low, high = steps[np.maximum(first - 1, 0)], steps[first]
    for _ in range(bisections):                    # f(x + low·v) > 0 ≥ f(x + high·v)
        middle = (low + high) / 2
        positive = f(x + middle[:, None] * direction) > 0
        low, high = np.where(positive, middle, low), np.where(positive, high, middle)
    root = x + high[:, None] * direction
    gradient_at_root = input_gradient(params, root + 1e-6 * (x - root), target)   # x's side
    R = gradient_at_root * (x - root)
    epsilon = f(x) - R.sum(axis=1)
    # a line enters each linear piece (a convex region) at most once: pieces = pattern changes + 1
    fractions = np.linspace(0.0, 1.0, samples)
    segments = x[:, None, :] + fractions[None, :, None] * (root - x)[:, None, :]
    patterns = activation_pattern(params, segments.reshape(-1, x.shape[1]))
    patterns = patterns.reshape(len(x), samples, -1)
    pieces = np.any(patterns[:, 1:] != patterns[:, :-1], axis=2).sum(axis=1) + 1
    R[~found], epsilon[~found], pieces[~found] = np.nan, np.nan, 0
    return R, epsilon, pieces


def float32_tolerance(params: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray,
                      rtol: float = 1e-4) -> np.ndarray:
    """Per point, the relative tolerance a float32 computation of the network (or of LRP through
    it) can be held to against a float64 one: ``rtol + n·u·κ``.

    Where a pre-activation nearly cancels, z_k = Σ_j a_j w_jk + b_k with |z_k| ≪ Σ_j |a_j w_jk| +
    |b_k|, float32 loses digits in z_k and in everything computed from it, how many depending on
    the CPU's summation order. The rounding error of a float32 sum of n terms is at most about
    n·u·Σ|terms| (u = 2⁻²⁴), a relative error n·u·κ with the condition number
    κ = Σ|terms| / |z_k|. κ here is the point's worst neuron over all layers (float64), n the
    widest layer's fan-in + 1.
    """
    activations = forward(params, np.atleast_2d(np.asarray(x, dtype=np.float64)))
    condition = np.ones(len(activations[0]))
    terms = 1
    for layer, (W, b) in enumerate(params):
        z = activations[layer] @ W + b
        magnitude = np.abs(activations[layer]) @ np.abs(W) + np.abs(b)
        condition = np.maximum(condition, (magnitude / np.maximum(np.abs(z), 1e-300)).max(axis=1))
        terms = max(terms, W.shape[0] + 1)
    return rtol + terms * 2.0 ** -24 * condition
