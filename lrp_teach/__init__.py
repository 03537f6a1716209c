"""lrp_teach: the helper package of the LRP course.

``import lrp_teach`` is cheap: TensorFlow is imported only when something that needs it is
used (notebooks 01-02 never load it). Before anything imports TensorFlow, :mod:`lrp_teach._env`
sets the variables that keep its C++ logging out of notebook cells.
"""

from . import _env  # noqa: F401  -- must stay the first import
from .setup import setup_notebook

__version__ = "0.1.0"

# Public names -> the module that defines them. Resolved lazily (PEP 562) so that importing the
# package does not import TensorFlow.
_LAZY = {
    # the LRP engine
    "explain": "lrp_teach.propagate",
    "gradient": "lrp_teach.baselines",
    "gradient_x_input": "lrp_teach.baselines",
    "grad_cam": "lrp_teach.baselines",
    # images and ImageNet class names
    "load_image": "lrp_teach.images",
    "decode_predictions": "lrp_teach.images",
}
_SUBMODULES = {
    "rules", "composites", "propagate", "baselines", "images", "viz", "taylor", "toy", "shapes",
    "metrics", "vgg16", "widgets", "exercises", "setup", "canonizers", "reference",
    "weights", "lecture", "numeric", "efficientnet", "torch_legacy",
}


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"lrp_teach.{name}")
    raise AttributeError(f"module 'lrp_teach' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = ["setup_notebook", *_LAZY]
