"""Interactive explorers (ipywidgets). Each also draws a static figure, so the committed
notebooks show a picture even where no kernel runs.

- :func:`root_point_explorer` (notebook 02): a 2-input ReLU neuron, sliders for w, b, x and a rule
  selector; shows the root point each rule picks and the split of f(x) into R₁ and R₂.
- :class:`HeatmapExplorer` (notebook 05): a photo, a target class, a composite and ε/γ; the LRP
  heatmap updates.
"""

_LAZY = {
    "root_point_explorer": "lrp_teach.widgets.root_points",
    "plot_root_points": "lrp_teach.widgets.root_points",
    "HeatmapExplorer": "lrp_teach.widgets.heatmaps",
}


def __getattr__(name):  # lazy: the heatmap explorer imports TensorFlow
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lrp_teach.widgets' has no attribute {name!r}")


__all__ = list(_LAZY)
