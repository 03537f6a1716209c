"""Photos in, VGG16 input out, and back: loading, caffe preprocessing, ImageNet class names.

Resize policy: the shorter side is resized to 256 pixels (bicubic), then the central 224×224 square
is cut out. This is how VGG16 was evaluated on ImageNet (Simonyan & Zisserman 2015, single-scale
256 with a 224 crop), and it keeps the aspect ratio: a plain resize to 224×224 (what
``keras.utils.load_img(target_size=(224, 224))`` does) squashes non-square photos, and the network
then sees stretched cats. The price is that up to 12 % of the shorter side and more of the longer
side is cut off; ``load_image(..., resize="stretch")`` gives the plain resize when you need the
whole frame.

Everything here works offline: class names come from ``data/imagenet_class_index.json``, a
byte-identical copy of the file that ``keras.applications.imagenet_utils.decode_predictions``
downloads (md5 ``c2c37ea517e94d9795004a39431a14cb``).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

#: The course's ``data/`` folder (override with the environment variable ``LRP_TEACH_DATA``).
DATA_DIR = Path(os.environ.get("LRP_TEACH_DATA", Path(__file__).resolve().parent.parent / "data"))
CLASS_INDEX_FILE = "imagenet_class_index.json"
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"

#: VGG16's "caffe" preprocessing: RGB -> BGR, then subtract the ImageNet mean per channel (BGR).
VGG16_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
#: Bounds of a preprocessed pixel, per BGR channel: a raw value in [0, 255] minus the mean. These
#: are the box l <= x <= h of the z^B rule for VGG16's input layer.
VGG16_LOW = -VGG16_MEAN_BGR
VGG16_HIGH = 255.0 - VGG16_MEAN_BGR

INPUT_SIZE = 224
RESIZE_SHORTER_SIDE = 256


class ImageError(ValueError):
    """A photo could not be used; the message names the file and the problem."""


def photo_path(name: str) -> Path:
    """Path of one of the course photos in ``data/images`` (e.g. ``"chelsea.png"``)."""
    path = DATA_DIR / "images" / name
    if not path.is_file():
        available = sorted(p.name for p in (DATA_DIR / "images").glob("*")) if (
            DATA_DIR / "images").is_dir() else []
        raise ImageError(f"No course photo named {name!r} in {DATA_DIR / 'images'}. "
                         f"Available: {', '.join(available) or 'none (is data/ missing?)'}.")
    return path


def photo_paths() -> list[Path]:
    """All course photos, the cat first (it is the lecture's example)."""
    paths = sorted((DATA_DIR / "images").glob("*.*"))
    return sorted(paths, key=lambda p: (p.name != "chelsea.png", p.name))


def load_image(path, size: int = INPUT_SIZE, resize: str = "crop") -> np.ndarray:
    """Load a photo as a uint8 RGB array of shape (size, size, 3).

    Any size and mode is accepted: grayscale, RGBA (composited on white), palette and CMYK images
    are converted to RGB. ``resize="crop"`` (default): shorter side to ``size * 256 / 224``, then
    centre crop; ``resize="stretch"``: plain resize to ``size × size``.

    Raises :class:`ImageError` naming the file for a missing file, a file that is not an image,
    or a truncated/corrupt image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise ImageError(f"Image file not found: {path}. Check the path "
                         f"(the course photos are in {DATA_DIR / 'images'}).")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file.")
    if resize not in ("crop", "stretch"):
        raise ValueError(f"resize must be 'crop' or 'stretch', not {resize!r}.")
    try:
        with Image.open(path) as image:
            image.load()  # decode now, so that a truncated file fails here and not later
            rgb = _to_rgb(image)
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image file that Pillow can read "
                         "(expected e.g. PNG or JPEG).") from None
    except (OSError, SyntaxError) as error:  # PIL reports truncated/corrupt data as OSError
        raise ImageError(f"{path} is damaged or truncated and cannot be decoded "
                         f"({error}). Re-download or re-export the image.") from None

    if resize == "stretch":
        rgb = rgb.resize((size, size), Image.BICUBIC)
    else:
        shorter = round(size * RESIZE_SHORTER_SIDE / INPUT_SIZE)
        width, height = rgb.size
        scale = shorter / min(width, height)
        new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
        rgb = rgb.resize((new_w, new_h), Image.BICUBIC)
        left, top = (new_w - size) // 2, (new_h - size) // 2
        rgb = rgb.crop((left, top, left + size, top + size))
    return np.asarray(rgb, dtype=np.uint8)


def _to_rgb(image):
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels have no colour; show them on white, as an image viewer does.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def preprocess(rgb) -> np.ndarray:
    """VGG16's caffe preprocessing: RGB -> BGR, minus the ImageNet mean; float32, same shape.

    Identical to ``keras.applications.vgg16.preprocess_input`` (tested against it).
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected RGB images with 3 channels last, got shape {rgb.shape}")
    return rgb[..., ::-1] - VGG16_MEAN_BGR


def deprocess(x) -> np.ndarray:
    """Undo :func:`preprocess` for display: add the mean, BGR -> RGB, clip, uint8."""
    x = np.asarray(x, dtype=np.float32)
    return np.clip(np.rint((x + VGG16_MEAN_BGR)[..., ::-1]), 0, 255).astype(np.uint8)


def load_for_vgg16(paths: Iterable, resize: str = "crop") -> np.ndarray:
    """Load photos as one preprocessed batch of shape (N, 224, 224, 3)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return np.stack([preprocess(load_image(p, resize=resize)) for p in paths])


@functools.lru_cache(maxsize=1)
def class_index() -> dict[int, tuple[str, str]]:
    """ImageNet-1k class index -> (WordNet id, name), from the shipped JSON file."""
    path = DATA_DIR / CLASS_INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(f"The ImageNet class index is missing: {path}. It ships with the "
                                "course in data/; restore it with `git checkout data/`.")
    with open(path, encoding="utf-8") as file:
        raw = json.load(file)
    return {int(k): (v[0], v[1]) for k, v in raw.items()}


def class_name(index: int) -> str:
    """Human-readable name of ImageNet class ``index`` (0-999), e.g. 281 -> 'tabby'."""
    index = int(index)
    names = class_index()
    if index not in names:
        raise IndexError(f"ImageNet class index must be in 0..{len(names) - 1}, got {index}.")
    return names[index][1]


def decode_predictions(scores, top: int = 5) -> list[list[tuple[int, str, str, float]]]:
    """Offline ``decode_predictions``: the ``top`` classes of each row of ``scores``.

    ``scores`` has shape (N, 1000): logits or probabilities (the order is the same). Returns per
    image a list of ``(class_index, wordnet_id, name, score)``, best first. Unlike Keras'
    version, the class index is included, because LRP needs it as the target.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[1] != 1000:
        raise ValueError("decode_predictions expects scores of shape (N, 1000), "
                         f"got {scores.shape}.")
    names = class_index()
    result = []
    for row in scores:
        best = np.argsort(-row, kind="stable")[:top]
        result.append([(int(i), names[int(i)][0], names[int(i)][1], float(row[i])) for i in best])
    return result
