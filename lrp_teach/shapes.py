"""Generated images whose ground truth is known, and a small VGG-style network trained on them.

Why generated data: ImageNet VGG16 weights cannot be downloaded everywhere (CI has no network),
yet every claim of the course must be shown on a *trained* network. Here each image contains
exactly **one class-defining shape** (a disc, a square, a triangle or a plus sign) at a random
place, size and colour, on top of background clutter and *distractors* (thin strokes, rings of
dots and soft blobs) that never decide the class. Each sample comes with its label and the
**pixel mask** of the deciding shape, so an explanation can be scored against the truth
(:mod:`lrp_teach.metrics`).

Nothing but the shape carries class information: position, size, colour, distractors and
clutter are drawn independently of the label. A classifier *could* cheat only if you ask for it:
``make_dataset(..., shortcut_fraction=0.5)`` stamps a small class-coloured square in a corner of
that fraction of the images (the "Clever Hans" shortcut), which an explanation method should then
reveal. The shipped network was trained with ``shortcut_fraction=0`` (no shortcut).

Everything is deterministic given the seed (NumPy's ``default_rng``).

Training entry point (writes the weights and a JSON with the held-out accuracy)::

    python -m lrp_teach.shapes train --out data/shapes_vgg.weights.h5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The classes, in label order.
CLASS_NAMES = ("disc", "square", "triangle", "plus")
NUM_CLASSES = len(CLASS_NAMES)
#: Image side in pixels (images are IMAGE_SIZE x IMAGE_SIZE x 3, values in [0, 1]).
IMAGE_SIZE = 48
#: Bounds of the input domain (used by the z^B / box rule at the input layer).
INPUT_LOW, INPUT_HIGH = 0.0, 1.0

#: Seeds of the shipped splits: training, validation (the accuracy in the JSON) and the held-out
#: set the notebook evaluates on. Different seeds = disjoint random streams.
TRAIN_SEED, VALIDATION_SEED, TEST_SEED = 1, 2, 3
#: Seed of the weight initialisation and the batch order of the shipped training run.
MODEL_SEED = 0

#: The corner colours of the optional shortcut, one per class (RGB).
_SHORTCUT_COLOURS = np.array(
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]], dtype=np.float32
)


@dataclass
class ShapesDataset:
    """A batch of generated samples.

    images : float32 (N, H, W, 3) in [0, 1]
    labels : int64 (N,) index into :data:`CLASS_NAMES`
    masks  : bool (N, H, W) the visible pixels of the class-defining shape (the ground truth)
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index) -> "ShapesDataset":
        return ShapesDataset(self.images[index], self.labels[index], self.masks[index])


# --------------------------------------------------------------------------------------------
# Drawing: every shape is a boolean mask on the pixel grid (no anti-aliasing, exact masks).
# --------------------------------------------------------------------------------------------

def _grid(size: int):
    # pixel centres
    coordinates = np.arange(size, dtype=np.float32) + 0.5
    return np.meshgrid(coordinates, coordinates, indexing="xy")  # x (columns), y (rows)


def _rotate(x, y, cx, cy, angle):
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = x - cx, y - cy
    return c * dx + s * dy, -s * dx + c * dy


def shape_mask(kind: str, cx: float, cy: float, radius: float, angle: float = 0.0,
               size: int = IMAGE_SIZE) -> np.ndarray:
    """Boolean (size, size) mask of a shape centred at (cx, cy) with "radius" ``radius`` pixels.

    kind: one of :data:`CLASS_NAMES`. ``radius`` is the half-width of the square, the radius of
    the disc, 1/1.2 of the circumradius of the triangle and the half-length of the plus's bars.
    ``angle`` (radians) rotates the square, triangle and plus (a disc has no orientation).
    """
    x, y = _grid(size)
    u, v = _rotate(x, y, cx, cy, angle)
    if kind == "disc":
        return u * u + v * v <= radius * radius
    if kind == "square":
        half = radius * 0.8  # same area scale as the other shapes
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if kind == "triangle":
        # equilateral triangle: inside iff on the inner side of its three edges
        # (circumradius 1.2 r, so that its area is comparable to the other shapes')
        inside = np.ones_like(u, dtype=bool)
        for k in range(3):
            a = np.pi / 2 + 2 * np.pi * k / 3 + np.pi / 3  # outward normal of edge k
            inside &= np.cos(a) * u + np.sin(a) * v <= radius * 0.6
        return inside
    if kind == "plus":
        bar = max(radius * 0.3, 1.5)  # half-thickness of a bar
        horizontal = (np.abs(u) <= radius) & (np.abs(v) <= bar)
        vertical = (np.abs(v) <= radius) & (np.abs(u) <= bar)
        return horizontal | vertical
    raise ValueError(f"unknown shape kind {kind!r}; use one of {CLASS_NAMES}.")


def _random_colour(rng, background):
    # a colour that stands out from the local background (distance >= 0.45 in RGB)
    for _ in range(20):
        colour = rng.uniform(0.0, 1.0, 3).astype(np.float32)
        if np.linalg.norm(colour - background) >= 0.45:
            return colour
    return (1.0 - background).astype(np.float32)


def _background(rng, size):
    """Smooth colour gradient + blocky low-frequency clutter + pixel noise."""
    x, y = _grid(size)
    base = rng.uniform(0.15, 0.85, 3).astype(np.float32)
    slope = rng.uniform(-0.25, 0.25, (2, 3)).astype(np.float32)
    image = base + (x[..., None] / size - 0.5) * slope[0] + (y[..., None] / size - 0.5) * slope[1]
    # low-frequency clutter: a coarse random grid upsampled by repetition (blocky patches)
    cells = size // 8
    coarse = rng.normal(0.0, 0.06, (cells, cells, 3)).astype(np.float32)
    image = image + np.kron(coarse, np.ones((8, 8, 1), dtype=np.float32))
    image = image + rng.normal(0.0, 0.03, (size, size, 3)).astype(np.float32)
    return image


def _distractor(rng, image, size):
    """Draw one distractor that is *not* a class shape: a stroke, a ring of dots or a soft blob."""
    x, y = _grid(size)
    kind = rng.integers(3)
    colour = _random_colour(rng, image.mean(axis=(0, 1)))
    if kind == 0:  # a thin stroke (line segment), 1-2 px wide
        x0, y0, x1, y1 = rng.uniform(2, size - 2, 4)
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy + 1e-6
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / length2, 0, 1)
        distance = np.hypot(x - (x0 + t * dx), y - (y0 + t * dy))
        mask = distance <= rng.uniform(0.5, 1.0)
        image[mask] = colour
    elif kind == 1:  # a ring of 5-8 small dots
        cx, cy = rng.uniform(8, size - 8, 2)
        ring = rng.uniform(4, 8)
        count = rng.integers(5, 9)
        for k in range(count):
            a = 2 * np.pi * k / count
            mask = np.hypot(x - cx - ring * np.cos(a), y - cy - ring * np.sin(a)) <= 1.0
            image[mask] = colour
    else:  # a soft Gaussian blob blended into the background
        cx, cy = rng.uniform(0, size, 2)
        sigma = rng.uniform(3.0, 6.0)
        # at most 40 % opacity: a smudge, never a solid disc that could pass for the class shape
        weight = 0.4 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma * sigma))[..., None]
        image[:] = (1 - weight) * image + weight * colour


def make_sample(rng: np.random.Generator, label: int, size: int = IMAGE_SIZE,
                distractors: tuple[int, int] = (1, 4), shortcut: bool = False):
    """One image (size, size, 3) float32 in [0, 1] and the mask of its class-defining shape."""
    image = _background(rng, size)
    for _ in range(rng.integers(distractors[0], distractors[1] + 1)):
        _distractor(rng, image, size)
    radius = rng.uniform(0.16, 0.30) * size
    margin = radius + 1
    cx, cy = rng.uniform(margin, size - margin, 2)
    angle = rng.uniform(0, 2 * np.pi)
    mask = shape_mask(CLASS_NAMES[label], cx, cy, radius, angle, size)
    colour = _random_colour(rng, image[mask].mean(axis=0) if mask.any() else image.mean((0, 1)))
    image[mask] = colour
    if shortcut:
        # the optional Clever-Hans cue: a class-coloured 4x4 patch in a random corner
        corner = rng.integers(4)
        r0 = 1 if corner < 2 else size - 5
        c0 = 1 if corner % 2 == 0 else size - 5
        image[r0:r0 + 4, c0:c0 + 4] = _SHORTCUT_COLOURS[label]
        mask = mask & ~_corner_block(size, r0, c0)
    return np.clip(image, 0.0, 1.0).astype(np.float32), mask


def _corner_block(size, r0, c0):
    block = np.zeros((size, size), dtype=bool)
    block[r0:r0 + 4, c0:c0 + 4] = True
    return block


def make_dataset(count: int, seed: int, size: int = IMAGE_SIZE, shortcut_fraction: float = 0.0,
                 distractors: tuple[int, int] = (1, 4)) -> ShapesDataset:
    """``count`` samples, deterministic in ``seed``, with balanced labels in random order.

    shortcut_fraction : fraction of images that get the class-coloured corner patch (a cue a
        classifier can cheat with). 0 (default) = the class is decided by the shape alone.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}.")
    if not 0.0 <= shortcut_fraction <= 1.0:
        raise ValueError(f"shortcut_fraction must be in [0, 1], got {shortcut_fraction}.")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % NUM_CLASSES).astype(np.int64)
    shortcuts = rng.uniform(size=count) < shortcut_fraction
    images = np.empty((count, size, size, 3), dtype=np.float32)
    masks = np.empty((count, size, size), dtype=bool)
    for i in range(count):
        images[i], masks[i] = make_sample(rng, int(labels[i]), size, distractors,
                                          bool(shortcuts[i]))
    return ShapesDataset(images, labels, masks)


# --------------------------------------------------------------------------------------------
# The VGG-style network
# --------------------------------------------------------------------------------------------

#: Channels of the conv blocks and width of the hidden dense layer of the shipped model.
CONV_CHANNELS = (16, 32, 64, 64)
DENSE_UNITS = 64


def build_model(size: int = IMAGE_SIZE, conv_channels=CONV_CHANNELS, dense_units: int = DENSE_UNITS,
                num_classes: int = NUM_CLASSES, seed: int = MODEL_SEED):
    """The VGG16 layer types, small: [Conv3x3-ReLU, MaxPool2x2] x 4, Flatten, Dense-ReLU, Dense.

    The last layer outputs *logits* (no softmax): LRP explains the logit. The input is the image
    in [0, 1] as it is (no normalisation layer), so the input bounds are simply 0 and 1.
    """
    from ._tf import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((size, size, 3), name="input")]
    for block, channels in enumerate(conv_channels, start=1):
        layers.append(keras.layers.Conv2D(channels, 3, padding="same", activation="relu",
                                          kernel_initializer="he_uniform",
                                          name=f"block{block}_conv"))
        layers.append(keras.layers.MaxPooling2D(2, name=f"block{block}_pool"))
    layers += [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(dense_units, activation="relu", kernel_initializer="he_uniform",
                           name="fc1"),
        keras.layers.Dense(num_classes, name="logits"),
    ]
    return keras.Sequential(layers, name="shapes_vgg")


def default_weights_path() -> Path:
    """data/shapes_vgg.weights.h5 in the repository."""
    return Path(__file__).resolve().parent.parent / "data" / "shapes_vgg.weights.h5"


def load_model(weights: str | Path | None = None):
    """The shipped trained model (or ``weights`` if given)."""
    path = Path(weights) if weights is not None else default_weights_path()
    if not path.exists():
        raise FileNotFoundError(
            f"no trained weights at {path}. Train them with "
            f"`python -m lrp_teach.shapes train --out {path}` (a few minutes on a CPU).")
    info = load_info(path)
    model = build_model(size=info.get("image_size", IMAGE_SIZE),
                        conv_channels=tuple(info.get("conv_channels", CONV_CHANNELS)),
                        dense_units=info.get("dense_units", DENSE_UNITS))
    model.load_weights(str(path))
    return model


def load_info(weights: str | Path | None = None) -> dict:
    """The JSON written next to the weights (accuracy, seeds, sizes); {} if there is none."""
    path = Path(weights) if weights is not None else default_weights_path()
    info_path = _info_path(path)
    return json.loads(info_path.read_text()) if info_path.exists() else {}


def _info_path(weights_path: Path) -> Path:
    name = weights_path.name
    stem = name[: -len(".weights.h5")] if name.endswith(".weights.h5") else weights_path.stem
    return weights_path.with_name(stem + ".json")


def predict_logits(model, images, batch_size: int = 256) -> np.ndarray:
    """Logits as a NumPy array, in batches, without Keras' progress bar."""
    outputs = [np.asarray(model(images[i:i + batch_size], training=False))
               for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs, axis=0)


def accuracy(model, dataset: ShapesDataset) -> float:
    """Fraction of images whose largest logit is the true label."""
    return float(np.mean(predict_logits(model, dataset.images).argmax(axis=1) == dataset.labels))


def train(out: str | Path, train_count: int = 8000, validation_count: int = 1000, epochs: int = 15,
          batch_size: int = 32, learning_rate: float = 1.5e-3, seed: int = MODEL_SEED,
          verbose: int = 2) -> dict:
    """Train the model from scratch, deterministically, and write the weights and the JSON.

    Returns the dict written to the JSON (accuracies, seeds, sizes, training time).
    """
    from ._tf import keras, tf
    from .setup import make_tensorflow_deterministic

    # build_model re-seeds with the same seed, so the initial weights are those of before
    make_tensorflow_deterministic(seed)
    start = time.perf_counter()
    train_set = make_dataset(train_count, TRAIN_SEED)
    validation_set = make_dataset(validation_count, VALIDATION_SEED)
    model = build_model(seed=seed)
    steps = epochs * int(np.ceil(train_count / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train_set.images, train_set.labels, batch_size=batch_size, epochs=epochs,
              shuffle=True, verbose=verbose,
              validation_data=(validation_set.images, validation_set.labels))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(out))
    info = {
        "description": "Small VGG-style CNN trained on lrp_teach.shapes generated images.",
        "command": f"python -m lrp_teach.shapes train --out {_display_path(out)} "
                   f"--epochs {epochs} --train-count {train_count} --seed {seed}",
        "classes": list(CLASS_NAMES),
        "image_size": IMAGE_SIZE,
        "conv_channels": list(CONV_CHANNELS),
        "dense_units": DENSE_UNITS,
        "train_count": train_count, "train_seed": TRAIN_SEED,
        "validation_count": validation_count, "validation_seed": VALIDATION_SEED,
        "model_seed": seed, "epochs": epochs, "batch_size": batch_size,
        "learning_rate": learning_rate, "shortcut_fraction": 0.0,
        "train_accuracy": round(accuracy(model, train_set), 4),
        "validation_accuracy": round(accuracy(model, validation_set), 4),
        "training_seconds": round(time.perf_counter() - start, 1),
        "tensorflow": tf.__version__, "keras": keras.__version__,
    }
    _info_path(out).write_text(json.dumps(info, indent=2) + "\n")
    return info


def _display_path(path: Path) -> str:
    # relative to the repository when inside it (the shipped JSON), else as given
    try:
        return path.resolve().relative_to(default_weights_path().parent.parent).as_posix()
    except ValueError:
        return str(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lrp_teach.shapes",
                                     description="Train the shapes VGG-style network.")
    sub = parser.add_subparsers(dest="command", required=True)
    train_parser = sub.add_parser("train", help="train and write weights + JSON")
    train_parser.add_argument("--out", default=str(default_weights_path()))
    train_parser.add_argument("--epochs", type=int, default=15)
    train_parser.add_argument("--train-count", type=int, default=8000)
    train_parser.add_argument("--seed", type=int, default=MODEL_SEED)
    train_parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    from ._tf import tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    info = train(args.out, train_count=args.train_count, epochs=args.epochs, seed=args.seed)
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
