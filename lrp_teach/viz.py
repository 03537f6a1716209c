"""Heatmaps of relevance: the signed map the course uses, and the lecture's rainbow map.

Relevance has a sign. Positive relevance is evidence *for* the explained class, negative relevance
evidence *against* it. :func:`signed_heatmap` keeps that: a diverging map, white at exactly zero,
red for positive and blue for negative, on a scale symmetric around zero.

The lecture's colouring, (R/s + 1)/2 through the "rainbow" colormap, is symmetric too (the sign
can be read: red-orange above zero, blue-purple below), but zero becomes a bright mid-spectrum
green, as loud as strong evidence, and the rainbow's lightness rises and falls along the scale,
so equal steps of relevance do not look equal. :func:`rainbow_heatmap` draws it with one scale s
for the whole map (to compare with the signed map at the same scale); the lecture's own scaling,
per row of the map, is reproduced in :func:`lrp_teach.lecture.heatmap`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def to_map(relevance) -> np.ndarray:
    """(H, W, C) -> (H, W) by summing channels (a pixel's relevance is the sum over its colours).

    One image; :func:`lrp_teach.metrics.pixel_relevance` is the same for a batch (and does the work).
    """
    from .metrics import pixel_relevance

    relevance = np.asarray(relevance, dtype=np.float64)
    if relevance.ndim == 4 and relevance.shape[0] == 1:
        relevance = relevance[0]
    if relevance.ndim not in (2, 3):
        raise ValueError("expected one relevance map of shape (H, W) or (H, W, C), got shape "
                         f"{relevance.shape}; pass one image of a batch, e.g. R[0].")
    return pixel_relevance(relevance[None])[0] if relevance.ndim == 3 else relevance


def signed_scale(heatmap_2d: np.ndarray, scale: str = "robust") -> float:
    """Half-width of the symmetric colour scale.

    ``"absmax"``: the largest |R| (one extreme pixel can wash out the rest);
    ``"robust"``: 10 × the cube root of the mean |R|³, the scaling of Montavon et al.'s LRP
    tutorial, which saturates only the few most extreme pixels.
    """
    magnitude = np.abs(heatmap_2d)
    if scale == "absmax":
        value = magnitude.max()
    elif scale == "robust":
        value = min(10.0 * np.mean(magnitude ** 3) ** (1.0 / 3.0), magnitude.max())
    else:
        raise ValueError(f"scale must be 'robust' or 'absmax', not {scale!r}")
    return float(value) if value > 0 else 1.0


def signed_heatmap(relevance, scale: str = "robust", cmap: str = "bwr") -> np.ndarray:
    """RGB image (H, W, 3) in [0, 1]: red = positive, blue = negative, white = zero."""
    import matplotlib

    heat = to_map(relevance)
    half_width = signed_scale(heat, scale)
    unit = np.clip(heat / half_width, -1.0, 1.0)  # [-1, 1], symmetric around 0
    return matplotlib.colormaps[cmap]((unit + 1.0) / 2.0)[..., :3]


def symmetric_projection(heat: np.ndarray, half_width: float) -> np.ndarray:
    """[-half_width, half_width] -> [0, 1] (zero to 0.5), clipped: ONE scale for the whole map."""
    return np.clip((np.asarray(heat, dtype=np.float64) / half_width + 1.0) / 2.0, 0.0, 1.0)


def rainbow_heatmap(relevance, scale="absmax") -> np.ndarray:
    """A rainbow map on one symmetric scale for the whole map: RGB (H, W, 3) in [0, 1].

    The lecture's colours ((R/s + 1)/2 through "rainbow") with its scale corrected: s is one
    number for the map (``scale`` as in :func:`signed_scale`, or a number), so it can be compared
    with :func:`signed_heatmap` at the same scale. The lecture's own scaling, faithfully, is
    :func:`lrp_teach.lecture.heatmap`. Either way a relevance of 0 becomes the middle of the
    rainbow, a bright green, not a neutral colour.
    """
    import matplotlib

    heat = to_map(relevance)
    half_width = float(scale) if not isinstance(scale, str) else signed_scale(heat, scale)
    return matplotlib.colormaps["rainbow"](symmetric_projection(heat, half_width))[..., :3]


def plot_heatmap(ax, relevance, kind: str = "signed", title: str | None = None,
                 colorbar: bool = False, scale: str = "robust"):
    """Draw a heatmap on a matplotlib Axes (axis off).

    ``kind``: 'signed' (red/white/blue, symmetric ``scale``), 'rainbow' (the lecture's colours on
    the same symmetric ``scale``), 'lecture' (the lecture's ``heatmap`` as it was, the maximum of
    row j dividing column j included: :func:`lrp_teach.lecture.heatmap`; no colour bar, its scale is not one
    number) or 'image' (an RGB array as is).
    """
    import matplotlib

    if kind == "signed":
        heat = to_map(relevance)
        half_width = signed_scale(heat, scale)
        artist = ax.imshow(heat, cmap="bwr", vmin=-half_width, vmax=half_width)
    elif kind == "rainbow":
        heat = to_map(relevance)
        half_width = signed_scale(heat, scale)
        artist = ax.imshow(heat, cmap="rainbow", vmin=-half_width, vmax=half_width)
    elif kind == "lecture":
        from .lecture import heatmap

        artist = ax.imshow(heatmap(to_map(relevance)[..., None]))   # channels summed already
    elif kind == "image":
        artist = ax.imshow(np.asarray(relevance))
    else:
        raise ValueError(f"kind must be 'signed', 'rainbow', 'lecture' or 'image', not {kind!r}")
    if colorbar and kind not in ("image", "lecture"):
        import matplotlib.ticker

        bar = ax.figure.colorbar(artist, ax=ax, fraction=0.046, pad=0.04)
        # each tick carries its own exponent ("2e-06"): matplotlib's default puts a shared
        # "1e-6" above the bar, where it runs into the panel's title
        bar.formatter = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:.3g}")
        bar.update_ticks()
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return artist


def show_grid(panels: Sequence, ncols: int = 4, size: float = 2.4, suptitle: str | None = None,
              colorbar: bool = False):
    """A figure of panels ``(array, title, kind)``; kind 'image' shows an RGB array as is.

    Every heatmap panel has its own symmetric scale (see :func:`plot_heatmap`);
    ``colorbar=True`` draws each panel's colour bar so the scales can be read.
    """
    import matplotlib.pyplot as plt

    panels = list(panels)
    nrows = max(1, -(-len(panels) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3),
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, panel in zip(axes.ravel(), panels):
        array, title, kind = (tuple(panel) + (None, "signed"))[:3] if len(panel) < 3 else panel
        plot_heatmap(ax, array, kind=kind or "signed", title=title, colorbar=colorbar)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
